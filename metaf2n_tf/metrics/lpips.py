"""LPIPS distance of image files: loads the Keras LPIPS (``metaf2n_tf.models.lpips``) from its weights."""
import numpy as np

from metaf2n_tf.errors import InputError
from metaf2n_tf.metrics.psnr import check_pair
from metaf2n_tf.models.lpips import lpips_model
from metaf2n_tf.weights.torchvision import read_alexnet, read_lpips_lin

# Smallest side AlexNet's two stride-2 max pools accept.
MIN_SIZE = 23


def load_lpips(alexnet_pth, lin_pth=None):
    """LPIPS v0.1 (AlexNet, net-lin) with user AlexNet weights and the ``lpips`` package's linear heads.

    Args:
        alexnet_pth: torchvision ``alexnet-owt-7be5be79.pth`` (or a state dict with its ``features.*`` keys).
        lin_pth: linear heads; default ``lpips/weights/v0.1/alex.pth`` of the installed package.

    Returns:
        The frozen Keras model of :func:`metaf2n_tf.models.lpips.lpips_model` (inputs in [0, 1]).
    """
    return lpips_model(read_alexnet(alexnet_pth), read_lpips_lin(lin_pth))


def lpips_distance(model, result, gt):
    """LPIPS between two uint8 HxWx3 RGB images (the original's ``im2tensor``: x / 127.5 - 1)."""
    result, gt = check_pair(result, gt)
    if min(result.shape[:2]) < MIN_SIZE:
        h, w = result.shape[:2]
        raise InputError(f"LPIPS: got a {h}x{w} image, expected at least {MIN_SIZE}x{MIN_SIZE}")
    batch = [np.asarray(image, np.float32)[None] / 255.0 for image in (result, gt)]
    return float(model(batch, training=False)[0])
