"""LPIPS of uint8 image pairs (the original's im2tensor path) vs the recorded PyTorch lpips values."""

import numpy as np
import pytest

from metaf2n_tf.errors import InputError, WeightsError
from metaf2n_tf.metrics.lpips import lpips_distance
from metaf2n_tf.weights.torchvision import load_lpips
from tests import optional, pth_writer
from tests.metrics.lpips_reference import TORCH_LPIPS, alexnet_weights, image_pairs

pytestmark = optional.LPIPS


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("lpips") / "alexnet-owt-7be5be79.pth"
    pth_writer.save(alexnet_weights(), path)
    return load_lpips(str(path))


def test_uint8_pairs_match_pytorch_lpips(model):
    a, b = image_pairs()
    got = [lpips_distance(model, x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(got, TORCH_LPIPS, rtol=1e-5, atol=1e-8)
    assert lpips_distance(model, a[0], a[0]) == pytest.approx(0.0, abs=1e-7)


def test_bad_inputs(model, tmp_path):
    a, b = image_pairs()
    with pytest.raises(InputError, match="got shapes"):
        lpips_distance(model, a[0], b[0][:90])
    with pytest.raises(InputError, match="got a 20x20 image, expected at least 23x23"):
        lpips_distance(model, a[0][:20, :20], b[0][:20, :20])
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="junk.pth"):
        load_lpips(str(tmp_path / "junk.pth"))
