"""--gpu parsing of metaf2n_tf.devices.select_gpus, with TensorFlow's device calls replaced by recorders."""
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf import devices

GPUS = ["GPU:0", "GPU:1"]


@pytest.fixture()
def fake_tf(monkeypatch):
    calls = {"visible": [], "growth": []}
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind: list(GPUS) if kind == "GPU" else [])
    monkeypatch.setattr(tf.config, "set_visible_devices", lambda chosen, kind: calls["visible"].append(list(chosen)))
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", lambda gpu, on: calls["growth"].append(gpu))
    return calls


@pytest.mark.parametrize("spec, chosen", [("0", ["GPU:0"]), ("1", ["GPU:1"]), ("0,1", GPUS), ("1, 0", ["GPU:1", "GPU:0"]),
                                          ("", []), ("-1", [])])
def test_spec_selects_listed_gpus(fake_tf, spec, chosen, capsys):
    assert devices.select_gpus(spec) == chosen
    assert fake_tf["visible"] == [chosen] and fake_tf["growth"] == chosen
    assert capsys.readouterr().err == ""


def test_missing_gpu_is_noted_once_and_skipped(fake_tf, capsys):
    assert devices.select_gpus("0,5") == ["GPU:0"]
    assert capsys.readouterr().err == "note: --gpu 0,5: only 2 GPU(s) present; using 1\n"


def test_already_initialised_devices_are_kept(fake_tf, monkeypatch):
    def refuse(chosen, kind):
        raise RuntimeError("Visible devices cannot be modified after being initialized")

    monkeypatch.setattr(tf.config, "set_visible_devices", refuse)
    assert devices.select_gpus("1") == ["GPU:1"]


def test_no_gpu_changes_nothing(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind: [])
    monkeypatch.setattr(tf.config, "set_visible_devices", lambda *a: pytest.fail("must not be called"))
    assert devices.select_gpus("0,1") == []
