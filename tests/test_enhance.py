"""enhance.py end to end: the demo photo's gain, the JSON record, --skip_existing, sharding, bad input.

References are independent of the code under test: PSNR-Y is recomputed here with NumPy from the
written files, the demo's figures are the README's (measured once, written down), shard membership is
the documented rule (CRC-32 of the name mod N) computed with zlib, broken files are written by hand.
Fast tests use a tiny random SR model (1 block, with a MaskNet); the README figure test uses x4plus.
"""
import json
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from skimage import data

from metaf2n_tf.demo import degrade
from tests.reference_tf1 import random_tensors
from tests.scripts import load_script

# README, "Enhance your photos": whole-photo PSNR-Y (dB) of the degraded demo photo, oracle (gt) restorer, x4plus.
README_PSNR_Y = {"none": 24.06, "original": 20.12, "adam": 26.57}


def _script():
    return load_script("enhance.py")


def _write(path, img):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), img[..., ::-1] if img.ndim == 3 and img.shape[2] == 3 else img)
    return str(path)


def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]


def _psnr_y(a, b):
    """The original's luma (BasicSR's BGR formula applied to RGB), rounded, then PSNR; NumPy only."""
    def y(img):
        r, g, b_ = (img[..., i].astype(np.float64) for i in range(3))
        return np.round((24.966 * r + 128.553 * g + 65.481 * b_) / 255.0 + 16.0)
    mse = np.mean((y(a) / 255.0 - y(b) / 255.0) ** 2)
    return 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from metaf2n_tf.weights import h5

    root = tmp_path_factory.mktemp("enhance")
    gt = data.astronaut()
    return {
        "root": root,
        "lq": _write(root / "LQ" / "astronaut.png", degrade(gt)),
        "gt_dir": os.path.dirname(_write(root / "GT" / "astronaut.png", gt)),
        "gt": gt,
        "tiny": h5.write_h5(root / "tiny.h5", random_tensors(num_block=1, seed=3)),
    }


def _smooth(rng, h, w):
    base = rng.integers(0, 256, (max(h // 4, 2), max(w // 4, 2), 3)).astype(np.uint8)
    return cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)


def test_json_record_schema(demo, tmp_path, capsys):
    out = tmp_path / "out"
    rc = _script().main(["-i", demo["lq"], "-o", str(out), f"--model_dir={demo['tiny']}", "--restorer=gt",
                         f"--gt_dir={demo['gt_dir']}", "--adapt=adam", "--steps=2", "--compare", "--save_faces",
                         "--gpu="])
    assert rc == 0, capsys.readouterr().err
    record = json.loads((out / "astronaut.json").read_text())
    assert record["name"] == "astronaut" and record["input"] == "astronaut.png"
    assert record["size"] == [128, 128] and record["output_size"] == [512, 512]
    s = record["settings"]
    assert (s["restorer"], s["adapt"], s["optimizer"], s["lr"], s["steps"], s["masknet"]) == \
        ("gt", "adam", "adam", 1e-4, 2, True)
    assert len(record["faces"]) == 1  # the astronaut has one face
    face = record["faces"][0]
    assert set(face) >= {"index", "score", "box", "landmarks", "crop", "used"}
    assert 0.9 <= face["score"] <= 1 and len(face["box"]) == 4 and np.shape(face["landmarks"]) == (5, 2)
    x0, y0, x1, y1 = face["box"]
    assert 30 < x0 < x1 < 80 and 5 < y0 < y1 < 60  # the face is in the top middle of the photo
    assert face["used"] and record["adapted"] and record["not_adapted_because"] is None
    assert len(record["face_loss"]) == 3 and all(isinstance(v, float) for v in record["face_loss"])
    assert set(record["timings"]) >= {"read", "detect", "restore", "adapt", "sr", "sr_plain", "write", "total"}
    assert all(v >= 0 for v in record["timings"].values())
    result = _read(out / "astronaut.png")
    assert abs(record["metrics"]["result"]["psnr"] - _psnr_y(result, demo["gt"])) < 1e-3
    assert set(record["metrics"]) == {"result", "plain", "bicubic"}
    assert _read(out / "astronaut_compare.png").shape == (512, 3 * 512, 3)
    assert (out / "Face_LQ" / "astronaut_0.png").is_file() and (out / "Face_HQ" / "astronaut_0.png").is_file()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for i in range(6):
        _write(root / "in" / f"p{i}.png", _smooth(rng, 24, 20))
    return root


def _run_folder(folder, out, *extra, model):
    return _script().main(["-i", str(folder / "in"), "-o", str(out), f"--model_dir={model}", "--restorer=none",
                           "--gpu=", *extra])


def test_skip_existing_does_only_missing_photos(demo, folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run_folder(folder, out, model=demo["tiny"]) == 0
    names = sorted(os.listdir(out))
    assert names == sorted([f"p{i}.png" for i in range(6)] + [f"p{i}.json" for i in range(6)])
    stamps = {n: os.stat(out / n).st_mtime_ns for n in names}
    os.remove(out / "p3.json")  # p3 looks unfinished (the JSON is written last)
    capsys.readouterr()
    assert _run_folder(folder, out, "--skip_existing", model=demo["tiny"]) == 0
    err = capsys.readouterr().err
    assert "wrote 1 photo(s)" in err and "5 skipped" in err
    changed = [n for n in names if n != "p3.json" and os.stat(out / n).st_mtime_ns != stamps[n]]
    assert changed == ["p3.png"] and (out / "p3.json").is_file()
    record = json.loads((out / "p0.json").read_text())
    assert record["faces"] == [] and not record["adapted"]


def test_shards_split_the_folder_by_crc32_of_the_name(demo, folder, tmp_path):
    seen = []
    for index in range(3):
        out = tmp_path / f"shard{index}"
        assert _run_folder(folder, out, "--num_shards=3", f"--shard_index={index}", model=demo["tiny"]) == 0
        got = sorted(n[:-4] for n in os.listdir(out) if n.endswith(".png")) if out.exists() else []
        expected = sorted(f"p{i}" for i in range(6) if zlib.crc32(f"p{i}".encode()) % 3 == index)
        assert got == expected
        seen += got
    assert sorted(seen) == [f"p{i}" for i in range(6)]  # every photo in exactly one shard
    assert _run_folder(folder, tmp_path / "x", "--num_shards=2", "--shard_index=2", model=demo["tiny"]) == 2


def _png_header_only(path, width, height):
    """A PNG whose header claims width x height but holds almost no data (a decompression bomb's header)."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) +
                chunk(b"IEND", b""))


def test_bad_inputs_one_line_each_others_written(demo, tmp_path, capsys):
    rng = np.random.default_rng(1)
    src = tmp_path / "in"
    good = _smooth(rng, 16, 16)
    _write(src / "good.png", good)
    _write(src / "grey.png", good[..., 0])
    _write(src / "deep.png", good.astype(np.uint16) * 257)
    assert cv2.imwrite(str(src / "rgba.png"), np.dstack([good, np.full((16, 16), 9, np.uint8)]))
    (src / "notes.png").write_text("not an image")
    png = (src / "good.png").read_bytes()
    (src / "cut.png").write_bytes(png[: len(png) // 2])
    _png_header_only(src / "bomb.png", 30000, 30000)
    out = tmp_path / "out"
    rc = _script().main(["-i", str(src), "-o", str(out), f"--model_dir={demo['tiny']}", "--gpu="])
    err = capsys.readouterr().err
    assert rc == 1
    for name in ("good", "grey", "deep", "rgba"):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.json").is_file(), name
    for name in ("notes", "cut", "bomb"):
        assert not (out / f"{name}.png").exists()
        lines = [line for line in err.splitlines() if f"{name}.png" in line]
        assert len(lines) == 1 and lines[0].startswith("enhance.py: error:"), (name, lines)
    assert "Traceback" not in err
    assert "over --max_pixels" in next(line for line in err.splitlines() if "bomb.png" in line)
    # No --gpen_weights (the default restorer is gpen): one line saying what to supply, then plain SR.
    assert "--gpen_weights GPEN-BFR-512.pth" in err
    assert "grey.png: grey image, converted" in err and "deep.png: 16-bit image" in err
    assert "rgba.png: alpha image, converted to 8-bit RGB (alpha dropped)" in err


def test_missing_input_and_bad_flags_exit_2(demo, tmp_path, capsys):
    script = _script()
    assert script.main(["-i", str(tmp_path / "nothing"), "-o", str(tmp_path / "o"), "--gpu="]) == 2
    assert script.main(["-i", demo["lq"], "-o", str(tmp_path / "o"), "--adapt=fast"]) == 2
    assert script.main(["-i", demo["lq"], "-o", str(tmp_path / "o"), "--restorer=gt", "--gpu="]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("enhance.py: ") for line in err)


@pytest.mark.slow
@pytest.mark.parametrize("adapt", ["none", "adam"])
def test_demo_photo_matches_readme(demo, tmp_path, adapt):
    """x4plus on the degraded demo photo with the oracle restorer: the README's PSNR-Y within 0.05 dB."""
    out = tmp_path / adapt
    rc = _script().main(["-i", demo["lq"], "-o", str(out), "--restorer=gt", f"--gt_dir={demo['gt_dir']}",
                         f"--adapt={adapt}", "--gpu="])
    assert rc == 0
    got = _psnr_y(_read(out / "astronaut.png"), demo["gt"])
    assert abs(got - README_PSNR_Y[adapt]) < 0.05
    if adapt == "adam":  # the gain over no adaptation the README states (+2.5 dB)
        assert got - README_PSNR_Y["none"] > 2.0


def test_adapt_settings_resolve_as_documented():
    from metaf2n_tf.enhance import resolve_plan

    def key(plan):
        return plan.name, plan.optimizer, plan.lr, plan.steps

    assert key(resolve_plan("auto", has_masknet=True)) == ("original", "sgd", 0.01, 1)
    assert key(resolve_plan("auto", has_masknet=False)) == ("adam", "adam", 1e-4, 10)
    assert key(resolve_plan("original", has_masknet=False)) == ("original", "sgd", 0.01, 1)
    assert key(resolve_plan("adam", has_masknet=True, steps=3, lr=5e-4)) == ("adam", "adam", 5e-4, 3)
    assert key(resolve_plan("none", has_masknet=True, steps=5)) == ("none", "sgd", 0.0, 0)


def test_restorer_without_weights_means_plain_sr_with_a_hint():
    from metaf2n_tf.enhance import build_restorer
    from metaf2n_tf.errors import ConfigError

    restorer, note = build_restorer("gpen")
    assert restorer is None and "--gpen_weights GPEN-BFR-512.pth" in note and "without adaptation" in note
    restorer, note = build_restorer("dmdnet")
    assert restorer is None and "--dmdnet_weights" in note
    assert build_restorer("none") == (None, None)
    with pytest.raises(ConfigError, match="--gt_dir"):
        build_restorer("gt")


def test_detection_runs_on_the_backend_flag(folder, demo, tmp_path, monkeypatch):
    from metaf2n_tf.faces import detect

    asked, real = [], detect.detect_faces

    def recording(image, score_threshold=0.9, backend="auto", gpu=""):
        asked.append(backend)
        return real(image, score_threshold, backend=backend, gpu=gpu)

    monkeypatch.setattr(detect, "detect_faces", recording)
    assert _run_folder(folder, tmp_path / "tf", "--backend=tf", model=demo["tiny"]) == 0
    assert _run_folder(folder, tmp_path / "auto", model=demo["tiny"]) == 0
    assert asked == ["tf"] * 6 + ["auto"] * 6  # six photos each
