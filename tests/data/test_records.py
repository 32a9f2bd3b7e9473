"""Record format round trip against a hand-written parse spec; shards; grid crops; face writing."""
import os

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import cv2
import numpy as np
import pytest
import tensorflow as tf
from skimage import data

from metaf2n_tf.data import records
from metaf2n_tf.errors import InputError


def read_by_hand(paths):
    """Images of the shards via the original's spec: one 'label' bytes feature, raw uint8, no shape."""
    spec = {"label": tf.io.FixedLenFeature([], tf.string)}
    return [np.frombuffer(tf.io.parse_single_example(raw, spec)["label"].numpy(), np.uint8)
            for raw in tf.data.TFRecordDataset(paths)]


def write(folder, images, prefix="whole_face", shard_size=2):
    with records.ShardWriter(str(folder), prefix, shard_size) as writer:
        for image in images:
            writer.write(records.encode(image))
        return writer.close()


def test_round_trip_through_the_hand_written_spec(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(5)]
    paths = write(tmp_path, images)
    assert [os.path.basename(p) for p in paths] == [f"whole_face-0000{i}-of-00003.tfrecord" for i in range(3)]
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in paths)  # no partial files left
    for image, raw in zip(images, read_by_hand(paths)):
        assert np.array_equal(raw, image.reshape(-1))  # row-major HWC bytes
    decoded = [records.decode(raw, 8).numpy() for raw in tf.data.TFRecordDataset(paths)]
    assert all(np.array_equal(a, b) for a, b in zip(decoded, images))


def test_new_run_replaces_old_shards(tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    write(tmp_path, [image] * 5)
    paths = write(tmp_path, [image] * 2)
    assert sorted(os.listdir(tmp_path)) == ["whole_face-00000-of-00001.tfrecord"] == [os.path.basename(paths[0])]


def test_encode_rejects_non_rgb_uint8():
    with pytest.raises(InputError, match="expected uint8"):
        records.encode(np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError, match="expected uint8"):
        records.encode(np.zeros((4, 4, 3), np.float32))


def test_files_takes_a_file_or_a_glob(tmp_path):
    paths = write(tmp_path, [np.zeros((4, 4, 3), np.uint8)] * 3, shard_size=1)
    assert records.files(paths[1]) == [paths[1]]
    assert records.files(os.path.join(tmp_path, "whole_face-*")) == paths
    with pytest.raises(InputError, match="no TFRecord file matches"):
        records.files(os.path.join(tmp_path, "back400-*"))


def test_check_names_the_file_and_the_size(tmp_path):
    path = write(tmp_path, [np.zeros((4, 4, 3), np.uint8)])[0]
    records.check(path, 4)
    with pytest.raises(InputError, match=r"whole_face-00000-of-00001.tfrecord: first record holds 48 bytes, "
                                         r"expected 8x8x3 = 192"):
        records.check(path, 8)
    junk = tmp_path / "junk.tfrecord"
    junk.write_bytes(b"not a record file at all")
    with pytest.raises(InputError, match="junk.tfrecord"):
        records.check(str(junk), 4)


def test_grid_crops_follow_the_stride_grid_inside_the_image():
    image = np.arange(500 * 700 * 3, dtype=np.int64).reshape(500, 700, 3)
    crops = records.grid_crops(image, 400, 200)
    assert len(crops) == 2  # rows {0}, columns {0, 200}; column 400 would end at 800 > 700
    assert crops[1][0, 0, 0] == image[0, 200, 0] and crops[1].shape == (400, 400, 3)
    assert len(records.grid_crops(np.zeros((600, 600, 3)), 400, 200)) == 4
    assert records.grid_crops(np.zeros((399, 1000, 3)), 400, 200) == []


def test_write_faces_resizes_and_skips_bad_files(tmp_path):
    faces = tmp_path / "faces"
    (faces / "sub").mkdir(parents=True)
    photo = data.astronaut()
    cv2.imwrite(str(faces / "a.png"), cv2.cvtColor(photo[:32, :32], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(faces / "sub" / "b.png"), cv2.cvtColor(photo[:50, :40], cv2.COLOR_RGB2BGR))
    (faces / "c.png").write_bytes(b"broken")
    warnings = []
    paths = records.image_files(str(faces))
    summary = records.write_faces(paths, str(tmp_path / "out"), face_size=32, shard_size=10, warn=warnings.append)
    assert (summary.images, summary.records, summary.adjusted) == (2, 2, 1)
    assert len(warnings) == 1 and "c.png" in warnings[0] and len(summary.skipped) == 1
    stored = [raw.reshape(32, 32, 3) for raw in read_by_hand(summary.shards)]
    assert np.array_equal(stored[0], photo[:32, :32])
    assert np.array_equal(stored[1], cv2.resize(photo[:50, :40], (32, 32), interpolation=cv2.INTER_AREA))


def test_write_patches_counts_images_without_a_patch(tmp_path):
    folder = tmp_path / "natural"
    folder.mkdir()
    cv2.imwrite(str(folder / "big.png"), np.zeros((60, 90, 3), np.uint8))
    cv2.imwrite(str(folder / "small.png"), np.zeros((20, 90, 3), np.uint8))
    summary = records.write_patches(records.image_files(str(folder)), str(tmp_path / "out"), 40, 20, warn=print)
    assert (summary.images, summary.records, summary.adjusted) == (2, 6, 1)  # rows {0, 20} x cols {0, 20, 40}
    assert os.path.basename(summary.shards[0]) == "back40-00000-of-00001.tfrecord"


def test_image_files_errors(tmp_path):
    with pytest.raises(InputError, match="folder not found"):
        records.image_files(str(tmp_path / "missing"))
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match="no image files"):
        records.image_files(str(tmp_path))
