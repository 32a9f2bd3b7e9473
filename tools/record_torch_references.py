"""Recomputes ``TORCH_LPIPS`` of tests/metrics/lpips_reference.py with the PyTorch ``lpips`` package.

    python tools/record_torch_references.py --torch_python /path/to/venv-with-torch/bin/python

The test keeps the three LPIPS values as literals because torch is not a dependency of the project. They
come from PyPI ``lpips`` 0.1.4 (``LPIPS(net='alex', pnet_rand=True)``: its v0.1 linear heads, its AlexNet
convolutions replaced by ``alexnet_weights()``) on ``image_pairs()`` mapped as x / 127.5 - 1, one pair at a time.
This script builds the weights and images with the test's own recipes, saves them to a temporary .npz and
runs the PyTorch side in the other interpreter (torch + lpips 0.1.4), which prints the line to paste. It needs
only numpy and scikit-image itself and never imports torch into this project's interpreter.

Written for this purpose but not run in the session that committed it (no torch here); the recorded values
came from the same recipe run by hand. The FID (tests/metrics/test_fid.py) and NIQE (tests/metrics/test_niqe.py)
literals document their recipes next to the values.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.metrics.lpips_reference import alexnet_weights, image_pairs  # noqa: E402

# Runs in the torch interpreter: argv[1] is the .npz written below.
TORCH_SIDE = r'''
import sys
import numpy as np
import torch
import lpips

inputs = np.load(sys.argv[1])
with torch.no_grad():
    model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    for name, param in model.net.named_parameters():  # sliceK.N.weight is torchvision's features.N.weight
        param.copy_(torch.from_numpy(inputs["features." + name.split(".", 1)[1]]))
    a = torch.from_numpy(inputs["a"]).permute(0, 3, 1, 2).float() / 127.5 - 1
    b = torch.from_numpy(inputs["b"]).permute(0, 3, 1, 2).float() / 127.5 - 1
    print("TORCH_LPIPS =", [float(model(a[i:i + 1], b[i:i + 1]).item()) for i in range(len(a))])
'''


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch_python", required=True, help="an interpreter with torch and lpips 0.1.4")
    args = parser.parse_args(argv)
    a, b = image_pairs()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "inputs.npz")
        np.savez(path, a=a, b=b, **alexnet_weights())
        return subprocess.run([args.torch_python, "-c", TORCH_SIDE, path]).returncode


if __name__ == "__main__":
    sys.exit(main())
