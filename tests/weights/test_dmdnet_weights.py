"""DMDNet weights: .pth (CPU- and GPU-saved) -> Keras, key checks, and the converted .h5 format.

References: the state dict written by ``tests.models.test_dmdnet`` from the upstream module structure,
NumPy transposes of its arrays, and files this test writes in torch's two on-disk layouts.
"""
import h5py
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights.dmdnet import arch_from_torch, convert_pth, load_dmdnet, model_variables
from tests import pth_writer
from tests.models import test_dmdnet as ref

TINY = ref.TINY


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(path of a random tiny DMDNet .pth, its state dict)."""
    sd = ref.random_state_dict(**TINY, seed=4)
    path = tmp_path_factory.mktemp("dmdnet_w") / "tiny.pth"
    pth_writer.save(sd, path)
    return path, sd


def keras_layout(key, value):
    """An upstream DMDNet array in Keras layout, by this test's rule: conv kernels OIHW -> HWIO, dictionaries
    [entries, C, S, S] -> [entries, S, S, C], biases and the u / v vectors unchanged."""
    if key.endswith(".weight_orig"):
        return value.transpose(2, 3, 1, 0)
    if "_mem_" in key:
        return value.transpose(0, 2, 3, 1)
    assert value.ndim == 1, key
    return value


def assert_loaded(model, sd):
    """Every variable of ``model`` holds its upstream array in Keras layout, and every array has a variable."""
    variables = dict(model_variables(model))
    assert set(variables) == set(sd)
    for key, value in sd.items():
        np.testing.assert_array_equal(variables[key].numpy(), keras_layout(key, value), err_msg=key)


def test_arch_is_read_from_the_state_dict(tiny):
    assert arch_from_torch(tiny[1], "sd") == {"ngf": 8, "entries": 5, "eye_size": 80, "mouth_size": 110}
    full = {k: np.broadcast_to(np.float32(0), s) for k, s in ref.state_shapes().items()}
    assert arch_from_torch(full, "sd") == {"ngf": 64, "entries": 128, "eye_size": 80, "mouth_size": 110}


def test_every_entry_is_loaded_and_h5_holds_keras_layouts(tiny, tmp_path):
    path, sd = tiny
    model, arch = load_dmdnet(path)
    assert arch == {"ngf": 8, "entries": 5, "eye_size": 80, "mouth_size": 110}  # the tiny fixture's builder arguments
    assert_loaded(model, sd)  # 1014-style table: weights, u, v, dictionaries
    h5_path = tmp_path / "tiny.h5"
    assert convert_pth(path, h5_path) == {"ngf": 8, "entries": 5, "eye_size": 80, "mouth_size": 110}
    with h5py.File(h5_path, "r") as f:
        assert f.attrs["format"] == "metaf2n_tf-dmdnet-v1" and f.attrs["ngf"] == 8
        assert set(f.keys()) == set(sd)
        np.testing.assert_array_equal(f["E_lq.res1.Res.2.weight_orig"][()],
                                      sd["E_lq.res1.Res.2.weight_orig"].transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(f["mo_128_mem_value"][()], sd["mo_128_mem_value"].transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(f["up4.4.weight_v"][()], sd["up4.4.weight_v"])
    assert_loaded(load_dmdnet(h5_path)[0], sd)


class _GPUPickler(pth_writer._Pickler):
    """Writes every storage with location 'cuda:0', as ``torch.save`` of a GPU model does."""

    def persistent_id(self, obj):
        pid = super().persistent_id(obj)
        return None if pid is None else pid[:3] + ("cuda:0",) + pid[4:]


@pytest.mark.parametrize("legacy", [False, True])
def test_gpu_saved_files_load_on_cpu(tiny, tmp_path, monkeypatch, legacy):
    _, sd = tiny
    monkeypatch.setattr(pth_writer, "_Pickler", _GPUPickler)
    path = tmp_path / "gpu.pth"
    pth_writer.save(sd, path, legacy=legacy)
    assert b"cuda:0" in path.read_bytes()
    assert_loaded(load_dmdnet(path)[0], sd)


def _drop(sd, key):
    return {k: v for k, v in sd.items() if k != key}


@pytest.mark.parametrize("edit,message", [
    (lambda sd: _drop(sd, "E_hq.LE_64_Q.Query.2.weight_v"),  # computed but unused upstream: still required
     r"1 key\(s\) missing, first 'E_hq\.LE_64_Q\.Query\.2\.weight_v'"),
    (lambda sd: _drop(sd, "re_128_mem_value"), r"1 key\(s\) missing, first 're_128_mem_value'"),
    (lambda sd: dict(sd, **{"up5.0.bias": np.zeros(2, np.float32)}), r"1 unexpected key\(s\), first 'up5\.0\.bias'"),
    (lambda sd: dict(sd, **{"MSDilate.convi.weight_u": np.zeros(5, np.float32)}),
     r"'MSDilate\.convi\.weight_u' has shape \(5,\), expected \(32,\)"),
    (lambda sd: dict(sd, **{"le_64_mem_key": np.zeros((5, 8, 9, 9), np.float32)}),
     r"'le_64_mem_key' has shape \(5, 8, 9, 9\), expected \(5, 8, 10, 10\)"),
    (lambda sd: _drop(sd, "E_lq.conv1.0.weight_orig"), r"'E_lq\.conv1\.0\.weight_orig' missing: not a DMDNet"),
])
def test_bad_state_dicts_name_the_key_in_one_line(tiny, tmp_path, edit, message):
    path = tmp_path / "bad.pth"
    pth_writer.save(edit(tiny[1]), path)
    with pytest.raises(WeightsError, match=message) as info:
        load_dmdnet(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_bad_files(tiny, tmp_path):
    with pytest.raises(WeightsError, match="file not found"):
        load_dmdnet(tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pth"):
        load_dmdnet(tmp_path / "junk.pth")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(1)
    with pytest.raises(WeightsError, match="not converted DMDNet weights"):
        load_dmdnet(tmp_path / "other.h5")
    convert_pth(tiny[0], tmp_path / "cut.h5")
    with h5py.File(tmp_path / "cut.h5", "a") as f:
        del f["up1.convup.3.weight_u"]
    with pytest.raises(WeightsError, match=r"missing, first 'up1\.convup\.3\.weight_u'"):
        load_dmdnet(tmp_path / "cut.h5")
