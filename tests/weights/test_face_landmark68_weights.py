"""The TensorFlow.js manifest reader and the shipped face-api.js landmark weights.

References: tiny manifests written here whose values are computed by hand; the digests of the shipped
files recorded in their README (``metaf2n_tf/assets/face_landmark_68/README.md``).
"""
import hashlib
import json
import os
import re
import shutil

import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights import face_landmark68 as w


def write_manifest(folder, entries, data, paths=("w.bin",)):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.json").write_text(json.dumps([{"paths": list(paths), "weights": entries}]))
    half = len(data) // 2
    chunks = [data] if len(paths) == 1 else [data[:half], data[half:]]
    for path, chunk in zip(paths, chunks):
        (folder / path).write_bytes(chunk)
    return folder / "m.json"


def test_dequantises_uint8_uint16_and_reads_float32_across_shards(tmp_path):
    entries = [
        {"name": "a/conv0/filters", "shape": [2, 2], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
        {"name": "a/conv0/bias", "shape": [2], "dtype": "float32"},
        {"name": "fc/weights", "shape": [1, 2], "dtype": "float32",
         "quantization": {"dtype": "uint16", "scale": 0.25, "min": 2.0}},
    ]
    data = bytes([0, 1, 2, 255]) + np.array([1.5, -3.0], "<f4").tobytes() + np.array([4, 1000], "<u2").tobytes()
    tensors = w.read_manifest(write_manifest(tmp_path, entries, data, paths=("s1.bin", "s2.bin")))
    np.testing.assert_array_equal(tensors["a/conv0/filters"], [[-1.0, -0.5], [0.0, 126.5]])  # q · 0.5 − 1
    np.testing.assert_array_equal(tensors["a/conv0/bias"], [1.5, -3.0])
    np.testing.assert_array_equal(tensors["fc/weights"], [[3.0, 252.0]])  # q · 0.25 + 2
    assert all(t.dtype == np.float32 for t in tensors.values())


@pytest.mark.parametrize("entries,data,message", [
    ([{"name": "x", "shape": [4], "dtype": "float32"}], b"\0" * 8, r"shards end at byte 8, 'x' needs bytes 0\.\.16"),
    ([{"name": "x", "shape": [2], "quantization": {"dtype": "uint8", "scale": 1, "min": 0}}], b"\0" * 3,
     "1 bytes of the shards left"),
    ([{"name": "x", "shape": [2], "quantization": {"dtype": "int4", "scale": 1, "min": 0}}], b"\0",
     "'x' is stored as int4, expected one of float32, uint8, uint16"),
    ([{"shape": [2]}], b"", "malformed weight entry"),
])
def test_manifest_errors(tmp_path, entries, data, message):
    with pytest.raises(WeightsError, match=message) as info:
        w.read_manifest(write_manifest(tmp_path, entries, data))
    assert "m.json" in str(info.value)


def test_unreadable_manifests(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(WeightsError, match="bad.json: not a JSON weights manifest"):
        w.read_manifest(tmp_path / "bad.json")
    (tmp_path / "obj.json").write_text('{"weights": []}')
    with pytest.raises(WeightsError, match="expected a JSON list of weight groups"):
        w.read_manifest(tmp_path / "obj.json")
    (tmp_path / "noshard.json").write_text('[{"paths": ["gone.bin"], "weights": []}]')
    with pytest.raises(WeightsError, match="gone.bin: cannot read a weights shard"):
        w.read_manifest(tmp_path / "noshard.json")


def test_shipped_files_match_their_recorded_digests():
    readme = open(os.path.join(w.ASSET_DIR, "README.md"), encoding="utf-8").read()
    for name in (w.MANIFEST, w.SHARD):
        digest = hashlib.sha256(open(os.path.join(w.ASSET_DIR, name), "rb").read()).hexdigest()
        assert re.search(rf"`{re.escape(name)}` \| [\d,]+ \| `{digest}`", readme)
        assert w.SHA256[name] == digest
    assert os.path.isfile(os.path.join(w.ASSET_DIR, "LICENSE"))
    assert "Copyright (c) Vladimir Mandic" in open(os.path.join(w.ASSET_DIR, "LICENSE")).read()


def test_a_changed_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "assets"
    shutil.copytree(w.ASSET_DIR, copy)
    data = bytearray((copy / w.SHARD).read_bytes())
    data[1000] ^= 1
    (copy / w.SHARD).write_bytes(bytes(data))
    monkeypatch.setattr(w, "ASSET_DIR", str(copy))
    w.load_face_landmark68.cache_clear()
    try:
        with pytest.raises(WeightsError, match=r"face_landmark_68_model\.bin: sha256 [0-9a-f]{16}\.\.\., expected "
                                               r"4611ef65c87d836d\.\.\. \(the file was changed\)"):
            w.load_face_landmark68()
        (copy / w.MANIFEST).unlink()
        with pytest.raises(WeightsError, match="file not found"):
            w.load_face_landmark68()
    finally:
        w.load_face_landmark68.cache_clear()


def test_every_manifest_tensor_lands_in_its_layer():
    model = w.load_face_landmark68()
    tensors = w.read_manifest(os.path.join(w.ASSET_DIR, w.MANIFEST))
    layer = model.get_layer("dense2_conv3")
    np.testing.assert_array_equal(layer.depthwise_kernel.numpy(), tensors["dense2/conv3/depthwise_filter"])
    np.testing.assert_array_equal(layer.pointwise_kernel.numpy(), tensors["dense2/conv3/pointwise_filter"])
    np.testing.assert_array_equal(model.get_layer("dense0_conv0").kernel.numpy(), tensors["dense0/conv0/filters"])
    np.testing.assert_array_equal(model.get_layer("fc").kernel.numpy(), tensors["fc/weights"])
    assert len(tensors) == len(model.weights) == 2 + 3 * 3 + 3 * 4 * 3 + 2  # conv0 of dense0, separables, fc
    missing = dict(tensors)
    missing.pop("fc/bias")
    with pytest.raises(WeightsError, match="1 tensor\\(s\\) missing, first 'fc/bias'"):
        w.set_face_landmark68_weights(model, missing, "m.json")
