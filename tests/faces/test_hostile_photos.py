"""Hostile and odd photos through every other script that reads photos: generate_test_faces.py,
restore_faces.py, calculate_metrics.py (test.py: tests/test_output_faults.py).

Each folder holds a phone photo stored sideways with an EXIF orientation, a decompression bomb, an empty file,
a folder named like an image and a name with spaces and non-ASCII characters. The bomb and the empty file must
be one line each, the others processed as if upright; the references are the upright arrays the files were
made from (and, for GPEN, the NumPy reference generator of tests.models.test_gpen).
"""
import json

import cv2
import numpy as np
from PIL import Image

import metaf2n_tf  # noqa: F401
import calculate_metrics
import generate_test_faces
import restore_faces
from tests.data.test_images import bomb_png
from tests.weights.test_gpen_weights import assert_close_uint8, reference_restore, smooth_face, tiny  # noqa: F401

BOMB = "30000x30000 = 900.0 MP, over --max_pixels"


def save_sideways(path, upright):
    """Stores ``upright`` turned 90 degrees anticlockwise with EXIF orientation 6 (viewers turn it back)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1))).save(path, exif=exif.tobytes())


def add_hostile_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    bomb_png(folder / "bomb.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "dir.png").mkdir()


def errors_of(err):
    return sorted(line for line in err.splitlines() if "bomb.png" in line or "empty.png" in line)


def test_generate_test_faces(astronaut_lq, tmp_path, capsys):
    lq = tmp_path / "LQ"
    add_hostile_files(lq)
    save_sideways(lq / "astro nauté.png", astronaut_lq)
    out = tmp_path / "out"
    rc = generate_test_faces.main(["--input_dir", str(lq), "--output_dir", str(out), "--restorer", "none",
                                   "--gpu", ""])
    err = capsys.readouterr().err
    assert rc == 1
    assert [line.split(": ", 2)[1:] for line in errors_of(err)] == [
        [f"{lq}/bomb.png", f"{BOMB} 100000000 (100.0 MP); refused before decoding"],
        [f"{lq}/empty.png", "empty file (0 bytes), expected an image"]]
    meta = json.loads((out / "faces.json").read_text())
    status = {entry["file"]: entry["status"] for entry in meta["images"]}
    assert status == {"astro nauté.png": "ok", "bomb.png": "error", "empty.png": "error"}
    face = next(e for e in meta["images"] if e["status"] == "ok")["faces"][0]
    x0, y0, x1, y1 = face["crop"]
    got = cv2.imdecode(np.fromfile(out / "Face_LQ" / "astro nauté_0.png", np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(got, astronaut_lq[y0:y1 + 1, x0:x1 + 1])  # the upright photo's face


def test_restore_faces(tiny, tmp_path, capsys):  # noqa: F811
    path, sd = tiny
    aligned = tmp_path / "aligned"
    add_hostile_files(aligned)
    face = smooth_face(4)
    save_sideways(aligned / "visage é.png", face)
    out = tmp_path / "out"
    rc = restore_faces.main(["--restorer", "gpen", "--weights", str(path), "--input_dir", str(aligned),
                             "--output_dir", str(out), "--gpu", "", "--max_pixels", "1000000"])
    err = capsys.readouterr().err
    assert rc == 1 and "wrote 1 face(s)" in err
    assert [line.split(": ", 2)[1] for line in errors_of(err)] == [f"{aligned}/bomb.png", f"{aligned}/empty.png"]
    assert BOMB + " 1000000 (1.0 MP)" in err
    assert sorted(p.name for p in out.iterdir()) == ["visage é.png"]
    got = cv2.imdecode(np.fromfile(out / "visage é.png", np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert_close_uint8(got, reference_restore(face, sd))


def test_calculate_metrics(tmp_path, capsys):
    res, gt = tmp_path / "res", tmp_path / "gt"
    add_hostile_files(res)
    add_hostile_files(gt)
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (20, 12, 3)).astype(np.uint8)
    other = rng.integers(0, 256, (20, 12, 3)).astype(np.uint8)
    save_sideways(res / "p é.png", photo)
    cv2.imwrite(str(gt / "bomb.png"), photo)  # the pairs' other halves are fine: only the bad file is skipped
    cv2.imwrite(str(gt / "empty.png"), photo)
    assert cv2.imencode(".png", photo[..., ::-1])[1].tofile(gt / "p é.png") is None
    assert cv2.imencode(".png", other[..., ::-1])[1].tofile(res / "q.png") is None
    assert cv2.imencode(".png", photo[..., ::-1])[1].tofile(gt / "q.png") is None
    rc = calculate_metrics.main(["--result_dir", str(res), "--gt_dir", str(gt), "--metrics", "psnr",
                                 "--progress=false"])
    captured = capsys.readouterr()
    assert rc == 0
    assert [line.split(": ")[1] for line in errors_of(captured.err)] == ["bomb", "empty"]
    rows = {line.split()[0]: line.split()[-1] for line in captured.out.splitlines()[2:]}
    assert rows["p"] == "100.0000"  # read upright: identical to its ground truth (PSNR of equal images: 100)
    assert float(rows["q"]) < 20  # a different photo: a finite, low PSNR
