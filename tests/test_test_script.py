"""test.py end to end: equals the independent TF1 graph of the original, and survives bad input."""
import importlib.util
import os

import cv2
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from tests.reference_tf1 import ReferenceGraph, random_tensors
from tests.scripts import load_script



def _script():
    return load_script("test.py")


def _smooth(rng, h, w):
    base = rng.integers(0, 256, (max(h // 4, 2), max(w // 4, 2), 3)).astype(np.uint8)
    return cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)


def _save(path, img_rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), img_rgb[..., ::-1] if img_rgb.ndim == 3 else img_rgb)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("tta")
    rng = np.random.default_rng(0)
    photo, decoy = _smooth(rng, 20, 24), _smooth(rng, 16, 16)
    face_lq, face_hq = _smooth(rng, 16, 16), _smooth(rng, 64, 64)
    _save(root / "LQ" / "img10.png", photo)
    _save(root / "LQ" / "img1.png", decoy)  # no faces of its own: must not take img10's (the prefix-glob bug)
    _save(root / "faces" / "Face_LQ" / "img10_0.png", face_lq)
    _save(root / "faces" / "Face_HQ" / "img10_0.png", face_hq)
    graph = ReferenceGraph(random_tensors(num_block=1, seed=21), lr=1.0)
    prefix = graph.save(str(root / "pretrained" / "model-new"))
    f = lambda a: a.astype(np.float32) / 255.0  # noqa: E731
    to8 = lambda x: np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)  # noqa: E731
    plain = {"img10": to8(graph.sr(f(photo))), "img1": to8(graph.sr(f(decoy)))}
    graph.sgd_step(f(face_lq)[None], f(face_hq)[None])  # a 16x16 face is used whole (small-face rule)
    adapted = to8(graph.sr(f(photo)))
    return root, prefix, plain, adapted


def _read(path):
    return cv2.imread(str(path))[..., ::-1].astype(int)


@pytest.mark.parametrize("backend", ["tf", "openvino"])
@pytest.mark.parametrize("steps", [0, 1])
def test_matches_tf1_reference(case, steps, backend, capsys):
    """With --backend openvino the adapted weights go from TensorFlow into OpenVINO in memory."""
    if backend == "openvino" and importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino not installed")
    root, prefix, plain, adapted = case
    out = root / f"out{steps}_{backend}"
    rc = _script().main([f"--input_dir={root / 'LQ'}", f"--face_dir={root / 'faces'}", f"--output_dir={out}",
                         f"--model_dir={prefix}", f"--fine_tune_num={steps}", "--lr=1.0", f"--backend={backend}"])
    assert rc == 0, capsys.readouterr().err
    expected = adapted if steps else plain["img10"]
    assert np.abs(_read(out / "img10.png") - expected).max() <= 1
    assert np.abs(_read(out / "img1.png") - plain["img1"]).max() <= 1
    if steps:
        assert np.abs(adapted.astype(int) - plain["img10"]).max() > 5  # adaptation visibly changed the output
        assert "img1.png: no usable face pairs" in capsys.readouterr().err


def test_bad_inputs_reported_one_line_each_and_others_processed(case, tmp_path, capsys):
    _, prefix, _, _ = case
    rng = np.random.default_rng(1)
    lq, faces, out = tmp_path / "LQ", tmp_path / "faces", tmp_path / "out"
    _save(lq / "good.png", _smooth(rng, 12, 12))
    _save(lq / "grey.png", _smooth(rng, 12, 12)[..., 0])
    rgba = np.dstack([_smooth(rng, 12, 12), np.full((12, 12), 128, np.uint8)])
    assert cv2.imwrite(str(lq / "rgba.png"), rgba)
    assert cv2.imwrite(str(lq / "deep.png"), (_smooth(rng, 12, 12).astype(np.uint16) * 257))
    (lq / "notes.png").write_text("not an image")
    good_bytes = (lq / "good.png").read_bytes()
    (lq / "trunc.png").write_bytes(good_bytes[: len(good_bytes) // 2])
    _save(lq / "twin.png", _smooth(rng, 12, 12))
    _save(faces / "Face_LQ" / "twin_0.png", _smooth(rng, 20, 20))  # no Face_HQ twin
    _save(lq / "notx4.png", _smooth(rng, 12, 12))
    _save(faces / "Face_LQ" / "notx4_0.png", _smooth(rng, 20, 20))
    _save(faces / "Face_HQ" / "notx4_0.png", _smooth(rng, 60, 60))
    _save(lq / "tiny.png", _smooth(rng, 12, 12))
    _save(faces / "Face_LQ" / "tiny_0.png", _smooth(rng, 10, 10))
    _save(faces / "Face_HQ" / "tiny_0.png", _smooth(rng, 40, 40))
    rc = _script().main([f"--input_dir={lq}", f"--face_dir={faces}", f"--output_dir={out}", f"--model_dir={prefix}"])
    err = capsys.readouterr().err
    assert rc == 1
    assert sorted(os.listdir(out)) == ["deep.png", "good.png", "grey.png", "notx4.png", "rgba.png", "tiny.png", "twin.png"]
    for name in os.listdir(out):
        assert cv2.imread(str(out / name)).shape == (48, 48, 3)
    lines = err.splitlines()
    for needle in ("notes.png: not a readable image", "trunc.png: not a readable image", "twin_0.png: no HQ twin",
                   "notx4_0.png: size 60x60, expected 4x", "tiny_0.png: face 10x10 is not larger than the 16px LQ patch"):
        assert sum(needle in line for line in lines) == 1, needle
    assert "Traceback" not in err


@pytest.mark.parametrize("what", ["missing_input", "empty_input", "missing_weights", "unwritable_output", "bad_flag"])
def test_run_level_errors_exit_2_with_one_line(case, tmp_path, capsys, what):
    _, prefix, _, _ = case
    lq = tmp_path / "LQ"
    _save(lq / "a.png", np.zeros((8, 8, 3), np.uint8))
    args = {"input_dir": lq, "face_dir": tmp_path, "output_dir": tmp_path / "out", "model_dir": prefix}
    extra = []
    if what == "missing_input":
        args["input_dir"] = tmp_path / "nope"
    elif what == "empty_input":
        (tmp_path / "empty").mkdir()
        args["input_dir"] = tmp_path / "empty"
    elif what == "missing_weights":
        args["model_dir"] = tmp_path / "no-model"
    elif what == "unwritable_output":
        (tmp_path / "file").write_text("x")
        args["output_dir"] = tmp_path / "file" / "out"
    else:
        extra = ["--optimizer=rmsprop"]
    rc = _script().main([f"--{k}={v}" for k, v in args.items()] + extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("test.py: "), err
    key = {"missing_input": "nope: input folder not found", "empty_input": "empty: input folder is empty",
           "missing_weights": "no-model: not found", "unwritable_output": "out: output folder not writable",
           "bad_flag": "--optimizer must be sgd or adam"}[what]
    assert key in err[0]
