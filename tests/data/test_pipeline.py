"""tf.data meta-batches on tiny records (32 px faces, 48 px natural patches) made from scikit-image photos."""
import dataclasses
import os

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import cv2
import numpy as np
import pytest
import tensorflow as tf
from skimage import data

from metaf2n_tf.data import pipeline, records
from metaf2n_tf.data.degradations import DegradationConfig
from metaf2n_tf.errors import ConfigError, InputError

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
TINY = dict(face_size=32, natural_size=48, face_patch=16, natural_patch=32, meta_batch_size=2, task_batch_size=3)


def photo_faces(size=32):
    return [cv2.resize(getattr(data, name)(), (size, size), interpolation=cv2.INTER_AREA) for name in PHOTOS]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("records"))
    with records.ShardWriter(folder, records.FACE_PREFIX, 2) as writer:
        for face in photo_faces():
            writer.write(records.encode(face))
        writer.close()
    with records.ShardWriter(folder, "back48", 100) as writer:
        for name in PHOTOS[:3]:
            for patch in records.grid_crops(getattr(data, name)(), 48, 150):
                writer.write(records.encode(np.ascontiguousarray(patch)))
        writer.close()
    return os.path.join(folder, "whole_face-*"), os.path.join(folder, "back48-*")


def first(ds):
    return {key: value.numpy() for key, value in next(iter(ds)).items()}


@pytest.fixture(scope="module")
def seed5(shards):
    """The pipeline of seed 5 and its first meta-batch (each pipeline costs seconds of tracing)."""
    ds = pipeline.meta_batches(*shards, seed=5, **TINY)
    return ds, first(ds)


def test_meta_batch_shapes_dtypes_and_ranges(seed5):
    ds, batch = seed5
    expected = {"inputa": (2, 3, 4, 4, 3), "labela": (2, 3, 16, 16, 3), "inputb": (2, 3, 8, 8, 3),
                "labelb": (2, 3, 32, 32, 3), "labelb_nousm": (2, 3, 32, 32, 3)}
    assert {k: tuple(v.shape) for k, v in ds.element_spec.items()} == expected
    for key, value in batch.items():
        assert value.dtype == np.float32 and value.shape == expected[key]
        assert value.min() >= 0.0 and value.max() <= 1.0
    for key in ("inputa", "inputb", "labela", "labelb_nousm"):  # 8-bit values
        np.testing.assert_allclose(batch[key] * 255, np.round(batch[key] * 255), atol=2e-4)


def test_same_seed_gives_the_same_batches(shards, seed5):
    a = seed5[1]
    b, c = (first(pipeline.meta_batches(*shards, seed=s, **TINY)) for s in (5, 6))
    assert all(np.array_equal(a[k], b[k]) for k in pipeline.KEYS)
    assert not np.array_equal(a["inputa"], c["inputa"])


def test_face_and_natural_patch_of_a_task_share_the_degradation():
    """Same picture as face and as natural image, noise off, USM off: identical LQ only if parameters are shared."""
    cfg = dataclasses.replace(DegradationConfig(), noise_range=(0.0, 0.0), noise_range2=(0.0, 0.0),
                              poisson_scale_range=(0.0, 0.0), poisson_scale_range2=(0.0, 0.0), usm_threshold=255.0)
    faces = tf.constant(np.stack(photo_faces()[:3]))
    for index in range(4):
        seed = tf.constant([index, 11], tf.int64)
        task = pipeline.degrade_task(faces, faces, seed, cfg, face_patch=16, natural_patch=32)
        natural_lq = pipeline.flip(task["inputb"], task["flip"]).numpy()  # flips undone; 32 px patch = whole image
        assert np.array_equal(task["face_lq"].numpy(), natural_lq)
    other = pipeline.degrade_task(faces, faces, tf.constant([99, 11], tf.int64), cfg, face_patch=16,
                                  natural_patch=32)
    assert not np.array_equal(other["face_lq"].numpy(), natural_lq)


def numpy_gradients(x):
    """The original's texture measure on one crop."""
    return np.mean((x[:-1, :-1] - x[1:, :-1]) ** 2 + (x[:-1, :-1] - x[:-1, 1:]) ** 2)


def test_texture_scores_and_choice_follow_the_original_rule():
    rng = np.random.default_rng(0)
    image = np.full((1, 40, 40, 3), 0.5)
    image[0, 20:, 20:] = rng.random((20, 20, 3))  # texture only in the bottom-right quarter
    corners = tf.constant([[[0, 0], [4, 8], [22, 21], [24, 24], [0, 4], [8, 0]]])
    scores = pipeline.texture_scores(tf.constant(image, tf.float32), corners, 16).numpy()[0]
    crops = [image[0, r:r + 16, c:c + 16].astype(np.float32).astype(np.float64) for r, c in corners.numpy()[0]]
    np.testing.assert_allclose(scores, [np.log(numpy_gradients(c) + 1e-10) for c in crops], atol=1e-6)
    chosen = pipeline.choose_textured(tf.constant(image, tf.float32), corners, 16, -6.0).numpy()
    assert chosen.tolist() == [[22, 21]]  # first crop that passes
    flat = tf.constant([[[0, 0], [4, 8], [2, 2]]])
    assert pipeline.choose_textured(tf.constant(image, tf.float32), flat, 16, -6.0).numpy().tolist() == [[2, 2]]


def test_crop_and_flip_match_numpy():
    images = np.arange(2 * 10 * 12 * 3, dtype=np.float32).reshape(2, 10, 12, 3)
    corners = np.array([[1, 2], [5, 6]], np.int32)
    got = pipeline.flip(pipeline.crop(tf.constant(images), tf.constant(corners), 4), tf.constant([True, False]))
    expected = np.stack([images[0, 1:5, 2:6][:, ::-1], images[1, 5:9, 6:10]])
    assert np.array_equal(got.numpy(), expected)


def test_restorer_receives_the_bicubic_upsized_face_and_makes_the_label(shards):
    seen = []

    def restorer(x):
        seen.append(x.numpy())
        return 1.0 - x

    raw = next(iter(pipeline.task_batches(*shards, seed=2, **TINY)))
    out = pipeline.finish_tasks(raw, restorer, face_patch=16)
    lq = raw["face_lq"].numpy().reshape(-1, 8, 8, 3)
    upsized = np.stack([cv2.resize(face, (32, 32), interpolation=cv2.INTER_CUBIC) for face in lq])
    np.testing.assert_allclose(seen[0], upsized, atol=1e-5)
    label = np.clip(1.0 - upsized, 0, 1)
    inputa, labela = out["inputa"].numpy().reshape(-1, 4, 4, 3), out["labela"].numpy().reshape(-1, 16, 16, 3)

    def cut(image, row, col, size, mirrored):
        patch = image[row:row + size, col:col + size]
        return patch[:, ::-1] if mirrored else patch

    for i in range(len(lq)):  # where was inputa cut? labela must be the label at 4x that corner
        corners = [(r, c, m) for r in range(5) for c in range(5) for m in (False, True)
                   if np.array_equal(cut(lq[i], r, c, 4, m), inputa[i])]
        assert any(np.allclose(labela[i], cut(label[i], 4 * r, 4 * c, 16, m), atol=1e-5) for r, c, m in corners)


def test_bad_sizes_and_records_are_user_errors(shards, tmp_path):
    with pytest.raises(ConfigError, match="face_patch: got 18, expected a positive multiple of the scale 4"):
        pipeline.meta_batches(*shards, **dict(TINY, face_patch=18))
    with pytest.raises(ConfigError, match="natural_patch: got 64, expected at most natural_size = 48"):
        pipeline.meta_batches(*shards, **dict(TINY, natural_patch=64))
    with pytest.raises(InputError, match="expected 40x40x3"):
        pipeline.meta_batches(*shards, **dict(TINY, face_size=40))
    with pytest.raises(InputError, match="no TFRecord file matches"):
        pipeline.meta_batches(str(tmp_path / "none-*.tfrecord"), shards[1], **TINY)
    with pytest.raises(InputError, match="empty list"):
        pipeline.meta_batches([], shards[1], **TINY)
