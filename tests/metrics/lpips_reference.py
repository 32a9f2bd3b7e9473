"""Inputs and recorded values of the one-off LPIPS parity run against the PyTorch ``lpips`` package.

Produced once, outside the repo, with torch 2.13.0 (CPU) and PyPI ``lpips`` 0.1.4:
``lpips.LPIPS(net='alex', pnet_rand=True)`` with its official v0.1 linear heads and its AlexNet
convolutions overwritten by ``alexnet_weights()``; inputs ``image_pairs()`` mapped as x / 127.5 - 1
(the original's ``im2tensor``); ``model(a, b)`` per pair. ``tools/record_torch_references.py`` reruns that recipe
with an interpreter that has torch.
"""
import numpy as np
from skimage import data

TORCH_LPIPS = [0.00736062228679657, 0.0004909010021947324, 0.13871577382087708]
# torchvision alexnet().features convolutions: index -> (out, in, kh, kw, stride, padding).
ALEXNET = {0: (64, 3, 11, 11, 4, 2), 3: (192, 64, 5, 5, 1, 2), 6: (384, 192, 3, 3, 1, 1), 8: (256, 384, 3, 3, 1, 1),
           10: (256, 256, 3, 3, 1, 1)}


def alexnet_weights(seed=1234):
    """He-scaled random AlexNet convolutions in torchvision layout."""
    rng = np.random.default_rng(seed)
    sd = {}
    for i, (out, cin, kh, kw, _, _) in ALEXNET.items():
        shape = (out, cin, kh, kw)
        sd[f"features.{i}.weight"] = (rng.standard_normal(shape) * np.sqrt(2.0 / (cin * kh * kw))).astype(np.float32)
        sd[f"features.{i}.bias"] = (rng.standard_normal(out) * 0.01).astype(np.float32)
    return sd


def image_pairs():
    """Three uint8 96x96 pairs: astronaut vs noisy, coffee vs brightened, astronaut vs coffee."""
    rng = np.random.default_rng(7)
    a = data.astronaut()[40:136, 160:256]
    b = data.coffee()[100:196, 200:296]
    na = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
    nb = np.clip(b.astype(float) * 0.8 + 20, 0, 255).astype(np.uint8)
    return np.stack([a, b, a]), np.stack([na, nb, b])
