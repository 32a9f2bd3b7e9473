"""test.py under output faults and hostile photos: a full disk, --skip_existing after a kill, bombs, EXIF.

The full disk is a file-size limit (``RLIMIT_FSIZE``, what ``ulimit -f`` sets) in a test.py subprocess, with
SIGXFSZ ignored so that a write beyond it fails with EFBIG as on a full filesystem. The model is the tiny TF1
checkpoint of ``tests.reference_tf1``; the expected pixels come from that independent graph.
"""
import os
import resource
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

import metaf2n_tf  # noqa: F401
from tests.data.test_images import bomb_png
from tests.reference_tf1 import ReferenceGraph, random_tensors
from tests.scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _test_py():
    return load_script("test.py")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    graph = ReferenceGraph(random_tensors(num_block=1, seed=5))
    return graph, graph.save(str(root / "model-new"))


def _save(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), rgb[..., ::-1])


def _expected(graph, rgb):
    return np.round(np.clip(graph.sr(rgb.astype(np.float32) / 255), 0, 1) * 255).astype(np.uint8)


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return apply


def test_full_disk_is_one_line_and_the_next_photo_goes_on(model, tmp_path):
    graph, prefix = model
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)  # its x4 PNG is tens of kB
    flat = np.full((24, 24, 3), 120, np.uint8)  # its x4 PNG is well under 1 kB
    _save(tmp_path / "LQ" / "a.png", noisy)
    _save(tmp_path / "LQ" / "b.png", flat)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "test.py"), f"--input_dir={tmp_path / 'LQ'}", f"--output_dir={out}",
         f"--face_dir={tmp_path}", f"--model_dir={prefix}", "--fine_tune_num=0", "--gpu=", "--backend=tf"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT, "CUDA_VISIBLE_DEVICES": "-1"},
        preexec_fn=_limit_file_size(8000), timeout=900)
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {out}/a.png: cannot write the image (File too large)"], done.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["b.png"]  # no truncated a.png, no temporary file left
    np.testing.assert_array_equal(cv2.imread(str(out / "b.png"))[..., ::-1], _expected(graph, flat))


def test_skip_existing_redoes_only_missing_results(model, tmp_path, capsys):
    graph, prefix = model
    rng = np.random.default_rng(1)
    photos = {name: rng.integers(0, 256, (12, 12, 3)).astype(np.uint8) for name in ("p1", "p2", "p3")}
    for name, rgb in photos.items():
        _save(tmp_path / "LQ" / f"{name}.png", rgb)
    out = tmp_path / "out"
    os.makedirs(out)
    _save(out / "p1.png", np.zeros((4, 4, 3), np.uint8))  # a finished result from an earlier run: kept
    (out / ".p2.png.tmp-1a2b3c4d").write_bytes(b"\x89PNG half")  # a write that a kill interrupted
    args = [f"--input_dir={tmp_path / 'LQ'}", f"--output_dir={out}", f"--face_dir={tmp_path}",
            f"--model_dir={prefix}", "--fine_tune_num=0", "--skip_existing", "--backend=tf"]  # exact vs the TF1 graph
    assert _test_py().main(args) == 0
    err = capsys.readouterr().err
    assert "wrote 2 image(s)" in err and "1 skipped (result already there)" in err
    assert cv2.imread(str(out / "p1.png")).shape == (4, 4, 3)
    for name in ("p2", "p3"):
        np.testing.assert_array_equal(cv2.imread(str(out / f"{name}.png"))[..., ::-1], _expected(graph, photos[name]))


def test_hostile_photos_one_line_each_others_processed(model, tmp_path, capsys):
    graph, prefix = model
    lq = tmp_path / "LQ"
    os.makedirs(lq)
    rgb = np.random.default_rng(2).integers(0, 256, (8, 12, 3)).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90 degrees clockwise
    Image.fromarray(rgb).save(lq / "phone photo é.png", exif=exif.tobytes())
    bomb_png(lq / "bomb.png")
    (lq / "empty.jpg").write_bytes(b"")
    (lq / "folder.png").mkdir()  # not a file: not a photo, not listed
    out = tmp_path / "out"
    rc = _test_py().main([f"--input_dir={lq}", f"--output_dir={out}", f"--face_dir={tmp_path}",
                          f"--model_dir={prefix}", "--fine_tune_num=0", "--backend=tf"])  # exact vs the TF1 graph
    err = capsys.readouterr().err
    assert rc == 1
    errors = sorted(line for line in err.splitlines() if line.startswith("error:"))
    assert errors == [f"error: {lq}/bomb.png: 30000x30000 = 900.0 MP, over --max_pixels 100000000 (100.0 MP); "
                      "refused before decoding", f"error: {lq}/empty.jpg: empty file (0 bytes), expected an image"]
    upright = np.ascontiguousarray(np.rot90(rgb, k=-1))  # 90 degrees clockwise
    got = cv2.imdecode(np.fromfile(out / "phone photo é.png", np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(got, _expected(graph, upright))
