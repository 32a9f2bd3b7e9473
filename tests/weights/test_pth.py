import importlib.util
import os
import pickle
import zipfile

import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights.pth import load_pth, state_dict
from tests import optional, pth_writer


@pytest.mark.parametrize("legacy", [False, True])
def test_round_trip_values_shapes_dtypes(tmp_path, legacy):
    rng = np.random.default_rng(0)
    tensors = {
        "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "conv.bias": rng.standard_normal(4).astype(np.float32),
        "half": rng.standard_normal((2, 5)).astype(np.float16),
        "steps": np.arange(6, dtype=np.int64).reshape(2, 3),
    }
    path = tmp_path / "w.pth"
    pth_writer.save({"params_ema": tensors, "params": {"x": np.zeros(1, np.float32)}}, path, legacy=legacy)
    got = state_dict(load_pth(path), path)
    assert set(got) == set(tensors)
    for k, v in tensors.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape
        np.testing.assert_array_equal(got[k], v)


def test_state_dict_picks_params_then_bare(tmp_path):
    a = np.ones((2, 2), np.float32)
    pth_writer.save({"params": {"w": a}}, tmp_path / "p.pth")
    assert list(state_dict(load_pth(tmp_path / "p.pth"), "p")) == ["w"]
    pth_writer.save({"w": a, "b": a * 2}, tmp_path / "bare.pth")
    np.testing.assert_array_equal(state_dict(load_pth(tmp_path / "bare.pth"), "b")["b"], a * 2)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_malicious_pickle_refused_and_nothing_runs(tmp_path, layout):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"w": _Evil(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("archive/data.pkl", payload)
    else:
        with open(path, "wb") as f:
            for header in (0x1950A86A20F9469CFC6C, 1001, {}):
                pickle.dump(header, f, protocol=2)
            f.write(payload)
    with pytest.raises(WeightsError, match=r"evil\.pth: refuses to load global '(posix|os|nt)\.system'"):
        load_pth(path)
    assert not marker.exists()


def test_not_a_pth_and_missing_and_truncated(tmp_path):
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"hello, not a pickle")
    with pytest.raises(WeightsError, match="x.pth"):
        load_pth(bad)
    with pytest.raises(WeightsError, match="not found"):
        load_pth(tmp_path / "missing.pth")
    good = tmp_path / "t.pth"
    pth_writer.save({"w": np.ones(1000, np.float32)}, good, legacy=True)
    data = good.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[:-100])
    with pytest.raises(WeightsError, match="cut.pth"):
        load_pth(cut)


@optional.LPIPS
def test_official_lpips_alex_heads_read_without_torch():
    root = importlib.util.find_spec("lpips").submodule_search_locations[0]
    heads = load_pth(os.path.join(root, "weights", "v0.1", "alex.pth"))
    shapes = {k: v.shape for k, v in heads.items()}
    assert shapes == {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate([64, 192, 384, 256, 256])}
    assert all(v.dtype == np.float32 and np.all(v >= 0) for v in heads.values())  # LPIPS heads are clamped >= 0
