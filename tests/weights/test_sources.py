"""Every weight source loads into the Keras models and reproduces the independent TF1 graph."""
import h5py
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.adapt.tta import Adapter
from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights.sources import build_models, read_weights
from metaf2n_tf.weights.tf_checkpoint import write_tf1_checkpoint
from tests import pth_writer
from tests.reference_tf1 import ReferenceGraph, random_tensors


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tensors = random_tensors(num_block=2, seed=3)
    graph = ReferenceGraph(tensors)
    prefix = graph.save(str(tmp_path_factory.mktemp("ckpt") / "model-new"))
    image = np.random.default_rng(0).random((12, 10, 3)).astype(np.float32)
    return tensors, graph, prefix, image, graph.sr(image)


def _sr(weights, image):
    sr_model, mask_model = build_models(weights)
    adapter = Adapter(sr_model, mask_model, warn=False)
    return adapter.forward(adapter.initial_weights(), image[None])[0].numpy(), mask_model


def _h5py_file(path, tensors, **attrs):
    """A weights file written with h5py alone (not with the code under test)."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "metaf2n_tf-weights-v1"
        for k, v in attrs.items():
            f.attrs[k] = v
        for k, v in tensors.items():
            f[k] = v
    return str(path)


def test_tf1_checkpoint_prefix_and_directory(reference, tmp_path):
    tensors, _, prefix, image, expected = reference
    for source in (prefix, prefix.rsplit("/", 1)[0]):
        w = read_weights(source)
        assert w.arch == (2, 64, 32)
        out, mask_model = _sr(w, image)
        np.testing.assert_allclose(out, expected, atol=1e-5)
        assert mask_model is not None


def test_pth_params_ema_sr_only(reference, tmp_path):
    tensors, _, _, image, expected = reference
    state = {
        k[len("MODEL/"):].replace("/", "."): (v.transpose(3, 2, 0, 1) if v.ndim == 4 else v)
        for k, v in tensors.items() if k.startswith("MODEL/")
    }
    path = tmp_path / "RealESRGAN_small.pth"
    pth_writer.save({"params_ema": state}, path)
    w = read_weights(str(path))
    assert w.mask is None and w.arch[0] == 2
    out, mask_model = _sr(w, image)
    assert mask_model is None
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_project_h5_written_independently(reference, tmp_path):
    tensors, _, _, image, expected = reference
    out, mask_model = _sr(read_weights(_h5py_file(tmp_path / "w.h5", tensors)), image)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_written_tf1_checkpoint_restores_in_a_v1_saver_graph(reference, tmp_path):
    tensors, _, _, image, expected = reference
    prefix = write_tf1_checkpoint(str(tmp_path / "export" / "model-7"), tensors)
    fresh = ReferenceGraph(random_tensors(num_block=2, seed=99))
    with fresh.graph.as_default():
        fresh.saver.restore(fresh.sess, prefix)
    np.testing.assert_allclose(fresh.sr(image), expected, atol=1e-6)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.pop("MODEL/conv_hr/bias"), r"1 tensor\(s\) missing, first 'MODEL/conv_hr/bias'"),
        (lambda t: t.__setitem__("MODEL/conv_extra/weight", np.zeros((3, 3, 64, 64), np.float32)),
         r"unexpected tensor\(s\), first 'MODEL/conv_extra/weight'"),
        (lambda t: t.__setitem__("MODEL/conv_last/weight", np.zeros((3, 3, 64, 4), np.float32)),
         r"'MODEL/conv_last/weight' has shape \(3, 3, 64, 4\), expected \(3, 3, 64, 3\)"),
        (lambda t: t.__setitem__("Mask/conv3/kernel", np.zeros((3, 3, 64, 32), np.float32)),
         r"'Mask/conv3/kernel' has shape"),
    ],
)
def test_mismatched_tensors_name_the_tensor(reference, tmp_path, edit, message):
    tensors = dict(reference[0])
    edit(tensors)
    prefix = write_tf1_checkpoint(str(tmp_path / "bad"), tensors)
    with pytest.raises(WeightsError, match=message) as e:
        build_models(read_weights(prefix))
    assert str(tmp_path / "bad") in str(e.value) and "\n" not in str(e.value)


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(WeightsError, match="nothing-here: not found"):
        read_weights(str(tmp_path / "nothing-here"))
    junk = tmp_path / "weights.bin"
    junk.write_bytes(b"\0" * 10)
    with pytest.raises(WeightsError, match="unknown weights format"):
        read_weights(str(junk))
    with pytest.raises(WeightsError, match="no checkpoint"):
        read_weights(str(tmp_path))
    other = {"Discriminator/conv0/weight": np.zeros((3, 3, 3, 64), np.float32)}
    with pytest.raises(WeightsError, match=r"no variables under MODEL/ or Mask/"):
        read_weights(write_tf1_checkpoint(str(tmp_path / "d" / "disc"), other))


def test_overlay_h5_takes_sr_from_its_base(reference, tmp_path):
    """An overlay (h5py, written here): Mask/* and LSLR/* only, the SR tensors from the file its base names."""
    tensors, _, _, image, expected = reference
    base = _h5py_file(tmp_path / "base.h5", {k: v for k, v in tensors.items() if k.startswith("MODEL/")})
    kept = {k: v for k, v in tensors.items() if k.startswith("Mask/")}
    overlay = _h5py_file(tmp_path / "overlay.h5", {**kept, "LSLR/MODEL/conv_first/weight": np.float32(0.25)},
                         base=base)
    weights = read_weights(overlay)
    assert weights.mask is not None and weights.inner_lr == {"MODEL/conv_first/weight": 0.25}
    out, _ = _sr(weights, image)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    with h5py.File(overlay, "a") as f:
        f.attrs["base"] = str(tmp_path / "gone.h5")
    with pytest.raises(WeightsError, match=r"overlay.h5: its base weights: .*gone.h5: not found"):
        read_weights(overlay)
    with h5py.File(overlay, "a") as f:
        f.attrs["base"] = overlay
    with pytest.raises(WeightsError, match=r"overlay.h5: its base .* is an overlay too"):
        read_weights(overlay)
