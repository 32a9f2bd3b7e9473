"""generate_tfrecord.py on folders of scikit-image photos: shards the training pipeline reads, one-line errors."""
import os

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import cv2
import numpy as np
import pytest
import tensorflow as tf
from skimage import data

import generate_tfrecord
from metaf2n_tf.data import pipeline


def save(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)


def count_records(paths):
    return sum(1 for _ in tf.data.TFRecordDataset(paths))


@pytest.fixture()
def folders(tmp_path):
    faces, natural = tmp_path / "faces", tmp_path / "natural"
    save(faces / "00000" / "a.png", cv2.resize(data.astronaut(), (32, 32), interpolation=cv2.INTER_AREA))
    save(faces / "00000" / "b.png", cv2.resize(data.chelsea(), (32, 32), interpolation=cv2.INTER_AREA))
    save(faces / "00001" / "c.png", data.coffee()[:60, :50])  # not square: resized
    (faces / "00001" / "broken.png").write_bytes(b"\x89PNG but not really")
    save(natural / "coffee.png", data.coffee())  # 400 x 600: rows {0, 200} x columns {0, 200, 400}
    save(natural / "chelsea.png", data.chelsea())  # 300 x 451: rows {0, 200} x columns {0, 200, 400}
    save(natural / "camera.png", data.camera())  # grey 512 x 512: 3 x 3
    save(natural / "page.png", data.page()[:40])  # 40 px high: no patch
    return faces, natural


def test_writes_shards_that_the_pipeline_reads(folders, tmp_path, capsys):
    faces, natural = folders
    out = tmp_path / "records"
    argv = ["--face_dir", str(faces), "--natural_dir", str(natural), "--output_dir", str(out),
            "--face_size", "32", "--patch_size", "48", "--stride", "200", "--shard_size", "4"]
    assert generate_tfrecord.main(argv) == 0
    err = capsys.readouterr().err
    assert sum("broken.png" in line for line in err.splitlines()) == 1
    assert "whole_face: 3 images read" in err and "3 records in 1 shard(s)" in err and "1 resized to 32x32" in err
    assert "back48: 4 images read" in err and "21 records in 6 shard(s)" in err and "1 smaller than 48x48" in err
    names = sorted(os.listdir(out))
    assert names[0] == "back48-00000-of-00006.tfrecord" and names[-1] == "whole_face-00000-of-00001.tfrecord"
    assert count_records([str(out / n) for n in names if n.startswith("back48")]) == 21
    ds = pipeline.meta_batches(str(out / "whole_face-*"), str(out / "back48-*.tfrecord"), face_size=32,
                               natural_size=48, face_patch=16, natural_patch=32, meta_batch_size=2,
                               task_batch_size=2, shuffle_buffer=8)
    batch = next(iter(ds))
    assert batch["inputa"].shape == (2, 2, 4, 4, 3) and batch["labelb"].shape == (2, 2, 32, 32, 3)


def test_only_the_given_folder_is_written(folders, tmp_path):
    _, natural = folders
    out = tmp_path / "records"
    argv = ["--natural_dir", str(natural), "--output_dir", str(out), "--patch_size", "300"]
    assert generate_tfrecord.main(argv) == 0
    assert sorted(os.listdir(out)) == ["back300-00000-of-00001.tfrecord"]


def test_bare_run_names_the_missing_default_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert generate_tfrecord.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["generate_tfrecord.py: datasets/ffhq256: folder not found; --face_dir expects face images, "
                   "e.g. FFHQ's images256x256 (256x256 PNGs, subfolders allowed)"]
    assert not (tmp_path / "tfrecords").exists()


@pytest.mark.parametrize("argv,message", [
    (["--stride", "0"], "--stride: got 0, expected a positive integer"),
    (["--no_such_flag"], "Unknown command line flag 'no_such_flag'"),
])
def test_bad_flags_give_one_line(argv, message, capsys):
    assert generate_tfrecord.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("generate_tfrecord.py: ") and message in err[0]


def test_empty_folder_is_an_error_and_no_patch_sets_status_1(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert generate_tfrecord.main(["--face_dir", str(tmp_path / "empty")]) == 2
    assert "no image files" in capsys.readouterr().err
    save(tmp_path / "small" / "a.png", np.zeros((10, 10, 3), np.uint8))
    argv = ["--natural_dir", str(tmp_path / "small"), "--output_dir", str(tmp_path / "o")]
    assert generate_tfrecord.main(argv) == 1
    assert "no back400 record written" in capsys.readouterr().err
