"""RetinaFace on OpenVINO against the same graph on TensorFlow (the reference), on real photos; the backend
choice: auto's rule and its one-line fallback, explicit openvino errors, no TensorFlow in an OpenVINO process."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage import data

import metaf2n_tf  # noqa: F401
import generate_test_faces
from metaf2n_tf.errors import BackendError, ConfigError
from metaf2n_tf.faces import detect
from tests import optional

pytestmark = [optional.RETINAFACE, optional.OPENVINO]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def fresh_default_detectors():
    """default_detector caches per process: no test sees another's (e.g. one built with OpenVINO blocked)."""
    detect.default_detector.cache_clear()
    yield
    detect.default_detector.cache_clear()


@pytest.fixture(scope="module")
def tf_detector():
    return detect.RetinaFaceDetector(backend="tf")


def _photos(astronaut):
    """Real photos at four padded sizes (the fourth needs OpenVINO's dynamic model): (name, photo, threshold)."""
    return [
        ("astronaut 512x512", astronaut, 0.5),
        ("astronaut 128x128", cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA), 0.5),
        ("astronaut crop 300x345", np.ascontiguousarray(astronaut[10:310, 100:445]), 0.5),
        ("coffee 400x600 (no face)", data.coffee(), 0.5),
        ("astronaut 1600x1600 (detected at 1000)", cv2.resize(astronaut, (1600, 1600), interpolation=cv2.INTER_CUBIC), 0.9),
    ]


def test_openvino_matches_the_tensorflow_graph_on_real_photos(astronaut, tf_detector):
    ov_detector = detect.RetinaFaceDetector(backend="openvino")
    assert ov_detector.backend == "openvino" and tf_detector.backend == "tf"
    counts = []
    for name, photo, threshold in _photos(astronaut):
        ref, got = tf_detector.detect(photo, threshold), ov_detector.detect(photo, threshold)
        counts.append(len(ref))
        assert len(got) == len(ref), name
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g.box, r.box, atol=1e-3, rtol=0, err_msg=name)
            np.testing.assert_allclose(g.landmarks, r.landmarks, atol=1e-3, rtol=0, err_msg=name)
            assert abs(g.score - r.score) <= 1e-5, name
    assert counts == [1, 1, 1, 0, 1]  # the reference saw the faces there are: the comparison compared something
    # static models for the first two padded sizes, then one dynamic model for every other size
    assert ov_detector.engine.compiles == [(512, 512), (128, 128), "dynamic"]


def test_auto_uses_openvino_on_cpu_and_tensorflow_on_a_gpu(monkeypatch):
    assert detect.RetinaFaceDetector(backend="auto", gpu="").backend == "openvino"
    monkeypatch.setattr(detect, "gpu_in_use", lambda gpu: gpu == "0")
    assert detect.RetinaFaceDetector(backend="auto", gpu="0").backend == "tf"
    assert detect.RetinaFaceDetector(backend="openvino", gpu="0").backend == "openvino"


def test_missing_openvino_auto_falls_back_in_one_line_explicit_is_an_error(monkeypatch, astronaut, tf_detector):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    lines = []
    detector = detect.RetinaFaceDetector(backend="auto", log=lines.append)
    assert detector.backend == "tf" and len(lines) == 1 and "\n" not in lines[0]
    assert "openvino: not installed" in lines[0] and "TensorFlow" in lines[0]
    [face] = detector.detect(astronaut)
    np.testing.assert_array_equal(face.box, tf_detector.detect(astronaut)[0].box)
    with pytest.raises(BackendError, match="openvino: not installed"):
        detect.RetinaFaceDetector(backend="openvino")
    with pytest.raises(BackendError, match="openvino: not installed"):
        detect.detect_faces(astronaut, backend="openvino")


def test_openvino_failing_at_inference_auto_falls_back_explicit_is_an_error(monkeypatch, astronaut, tf_detector):
    def broken(self, shape):
        raise RuntimeError("Exception from src/inference: unsupported\nmore detail")

    monkeypatch.setattr(detect.OpenVINOGraph, "_compile", broken)
    lines = []
    detector = detect.RetinaFaceDetector(backend="auto", log=lines.append)
    assert detector.backend == "openvino" and not lines
    [face] = detector.detect(astronaut)
    assert detector.backend == "tf" and len(lines) == 1 and "\n" not in lines[0]
    assert "RetinaFace failed on a 512x512 input (RuntimeError: Exception from src/inference" in lines[0]
    np.testing.assert_array_equal(face.box, tf_detector.detect(astronaut)[0].box)
    with pytest.raises(BackendError, match="RetinaFace failed on a 512x512 input"):
        detect.RetinaFaceDetector(backend="openvino").detect(astronaut)


def test_unknown_backend_is_a_config_error(astronaut):
    with pytest.raises(ConfigError, match=r"backend: got 'onnx', expected one of auto, tf, openvino"):
        detect.detect_faces(astronaut, backend="onnx")


def test_script_explicit_openvino_unavailable_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)
    os.makedirs(tmp_path / "LQ")
    rc = generate_test_faces.main(["--input_dir", str(tmp_path / "LQ"), "--output_dir", str(tmp_path / "out"),
                                   "--restorer", "none", "--backend", "openvino", "--gpu", ""])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("generate_test_faces.py: openvino: not installed"), err


def test_script_with_openvino_never_imports_tensorflow(tmp_path, astronaut):
    for folder, photo in (("LQ", cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)), ("GT", astronaut)):
        os.makedirs(tmp_path / folder)
        cv2.imwrite(str(tmp_path / folder / "a.png"), photo[..., ::-1])
    code = (
        "import sys\n"
        "import generate_test_faces\n"
        f"rc = generate_test_faces.main(['--input_dir={tmp_path / 'LQ'}', '--output_dir={tmp_path / 'out'}', "
        f"'--restorer=gt', '--gt_dir={tmp_path / 'GT'}', '--backend=openvino', '--gpu=0'])\n"
        "print(rc, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.stdout.split()[-3:] == ["0", "False", "False"], result.stdout + result.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / "out" / "Face_HQ")) == ["a_0.png"]
