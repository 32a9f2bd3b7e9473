"""tf.data meta-batches: records -> tasks -> one shared degradation per task -> crops, flips, labels.

``meta_batches(face_records, natural_records, ...)`` yields dicts of float32 tensors in [0, 1]
(M = meta_batch_size, T = task_batch_size, s = scale; the original's shapes with M = T = 4, s = 4):

    inputa        [M, T, face_patch/s, face_patch/s, 3]        degraded face patches (inner-loop input)
    labela        [M, T, face_patch, face_patch, 3]            restored face patches (inner-loop label)
    inputb        [M, T, natural_patch/s, natural_patch/s, 3]  degraded natural patches (outer-loop input)
    labelb        [M, T, natural_patch, natural_patch, 3]      USM-sharpened natural ground truth
    labelb_nousm  [M, T, natural_patch, natural_patch, 3]      natural ground truth (discriminator "real")

Defaults are the original's: 256 faces, 400 natural patches, 128 / 256 HQ patches, x4, 4 x 4.

The inner label comes from ``restorer``: None (``gt``) uses the clean face; otherwise a callable
[N, face_size, face_size, 3] float32 in [0, 1] -> same (e.g. a GPEN-256 Keras model with its own
pre/post-processing) receives the whole degraded face upsized by PyTorch-style bicubic, as the
original feeds GPEN. To run a heavy restorer on the accelerator instead of in ``tf.data``, take
``task_batches(...)`` and call ``finish_tasks(batch, restorer)`` in the training step.

Everything random is drawn with stateless ops from ``seed`` and the task's index, so a seed gives
the same stream of meta-batches (record order included) on every run.
"""
import functools
import os

import tensorflow as tf

from metaf2n_tf.data import records
from metaf2n_tf.data.degradations import (
    DegradationConfig, coin, degrade, resize, sample_noise, sample_task, split_seed, uniform_index, usm_sharp)
from metaf2n_tf.errors import ConfigError, InputError

KEYS = ("inputa", "labela", "inputb", "labelb", "labelb_nousm")


def check_sizes(face_size, natural_size, face_patch, natural_patch, scale):
    """Raises ConfigError unless every size is a positive multiple of ``scale`` and patches fit."""
    sizes = {"face_size": face_size, "natural_size": natural_size, "face_patch": face_patch,
             "natural_patch": natural_patch}
    for name, value in sizes.items():
        if value <= 0 or value % scale:
            raise ConfigError(f"{name}: got {value}, expected a positive multiple of the scale {scale}")
    for patch, whole in (("face_patch", "face_size"), ("natural_patch", "natural_size")):
        if sizes[patch] > sizes[whole]:
            raise ConfigError(f"{patch}: got {sizes[patch]}, expected at most {whole} = {sizes[whole]}")


def _paths(spec):
    """A file, a glob, or a list of them -> paths."""
    specs = [spec] if isinstance(spec, (str, bytes, os.PathLike)) else list(spec)
    if not specs:
        raise InputError("TFRecord paths: got an empty list, expected a file or a glob of shards")
    return [path for item in specs for path in records.files(item)]


def _skipping_reader(path):
    return tf.data.TFRecordDataset(path).ignore_errors()  # a corrupt record ends its shard's stream


def image_stream(spec, size, seed, shuffle_buffer=1000, skip_bad_records=False):
    """Endless shuffled uint8 [size, size, 3] images from TFRecord shards (file order and records shuffled).

    ``skip_bad_records``: records that fail to decode (corrupt, wrong size or dtype) are dropped instead of
    raising; the same ones on every run, so the stream stays deterministic.
    """
    paths = _paths(spec)
    if not skip_bad_records:
        records.check(paths[0], size)
    ds = tf.data.Dataset.from_tensor_slices(paths).shuffle(len(paths), seed=seed).repeat()
    ds = ds.interleave(_skipping_reader if skip_bad_records else tf.data.TFRecordDataset,
                       cycle_length=min(len(paths), 4), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.map(functools.partial(records.decode, size=size), num_parallel_calls=tf.data.AUTOTUNE)
    if skip_bad_records:
        ds = ds.ignore_errors()
    return ds.shuffle(shuffle_buffer, seed=seed)


def crop(images, corners, size):
    """Per-image crops: images [N, H, W, C], top-left corners [N, 2] (row, col) -> [N, size, size, C]."""
    span = tf.range(size)
    out = tf.gather(images, corners[:, :1] + span, axis=1, batch_dims=1)
    return tf.gather(out, corners[:, 1:] + span, axis=2, batch_dims=1)


def flip(images, flags):
    """Mirrors left-right the images whose flag is set."""
    return tf.where(flags[:, None, None, None], images[:, :, ::-1], images)


def texture_scores(images, corners, size):
    """log(G + 1e-10) of size x size crops at ``corners`` [N, K, 2] -> [N, K] (float64).

    G = mean over the crop without its last row and column, and over channels, of
    (x[i, j] - x[i+1, j])^2 + (x[i, j] - x[i, j+1])^2, as the original's ``gradients``; all K crops
    from one summed-area table.
    """
    x = tf.cast(images, tf.float64)
    centre = x[:, :-1, :-1]
    energy = tf.reduce_sum((centre - x[:, 1:, :-1]) ** 2 + (centre - x[:, :-1, 1:]) ** 2, axis=-1)
    table = tf.pad(tf.cumsum(tf.cumsum(energy, axis=1), axis=2), [[0, 0], [1, 0], [1, 0]])

    def at(rows, cols):
        return tf.gather_nd(table, tf.stack([rows, cols], axis=-1), batch_dims=1)

    top, left = corners[..., 0], corners[..., 1]
    bottom, right = top + size - 1, left + size - 1
    total = at(bottom, right) - at(top, right) - at(bottom, left) + at(top, left)
    count = tf.cast((size - 1) ** 2 * tf.shape(images)[-1], tf.float64)
    return tf.math.log(total / count + 1e-10)


def choose_textured(images, corners, size, threshold):
    """First of the K candidate corners [N, K, 2] whose crop scores >= threshold, else the last one."""
    passing = texture_scores(images, corners, size) >= threshold
    last = tf.shape(corners)[1] - 1
    first = tf.argmax(tf.cast(passing, tf.int32), axis=1, output_type=tf.int32)
    index = tf.where(tf.reduce_any(passing, axis=1), first, last)
    return tf.gather(corners, index, axis=1, batch_dims=1)


def degrade_task(faces, naturals, seed, cfg, scale=4, face_patch=128, natural_patch=256):
    """One task: T faces and T natural images (uint8) share one drawn degradation.

    Natural patches are cut and flipped here; the face crop waits for its label (``finish_tasks``).
    Returns face_lq [T, l, l, 3], face [T, S, S, 3], face_corners [T, tries, 2] (candidate corners in
    LQ pixels), flip [T], and the finished inputb, labelb, labelb_nousm.
    """
    count = tf.shape(faces)[0]
    face_size, natural_size = faces.shape[1], naturals.shape[1]
    s = split_seed(seed, 8)
    task = sample_task(s[0], cfg)
    face = tf.cast(faces, tf.float32) / 255.0
    natural = tf.cast(naturals, tf.float32) / 255.0
    sharp = usm_sharp(natural, cfg.usm_weight, cfg.usm_radius, cfg.usm_threshold)
    face_lq = degrade(face, task, sample_noise(s[1], count, cfg, 1), sample_noise(s[2], count, cfg, 2),
                      face_size // scale)
    natural_lq = degrade(sharp, task, sample_noise(s[3], count, cfg, 1), sample_noise(s[4], count, cfg, 2),
                         natural_size // scale)
    flags = coin(s[5], cfg.flip_prob, [count])
    # corners drawn from [0, lq - lq_patch), the original's exclusive randrange bound
    face_corners = uniform_index(s[6], max((face_size - face_patch) // scale, 1), [count, cfg.texture_tries, 2])
    corner = uniform_index(s[7], max((natural_size - natural_patch) // scale, 1), [count, 2])
    lq_patch = natural_patch // scale
    return {
        "face_lq": face_lq,
        "face": face,
        "face_corners": face_corners,
        "flip": flags,
        "inputb": flip(crop(natural_lq, corner, lq_patch), flags),
        "labelb": flip(crop(sharp, corner * scale, natural_patch), flags),
        "labelb_nousm": flip(crop(natural, corner * scale, natural_patch), flags),
    }


def _dims(x):
    """Shape as a list: static sizes where known, else scalar tensors."""
    dynamic = tf.shape(x)
    return [d if d is not None else dynamic[i] for i, d in enumerate(x.shape.as_list())]


def restore(restorer, face_lq, face_size):
    """The inner label of whole faces: ``restorer`` on the LQ upsized by PyTorch bicubic, clipped to [0, 1]."""
    upsized = resize(face_lq, tf.constant([face_size, face_size]), "bicubic")
    return tf.clip_by_value(tf.cast(restorer(upsized), tf.float32), 0.0, 1.0)


def finish_tasks(batch, restorer=None, face_patch=128, scale=4, texture_threshold=-6.0):
    """Face labels, texture-filtered face crops and flips: ``task_batches`` element -> ``meta_batches`` element.

    Works on [M, T, ...] or [T, ...] leading axes; ``restorer`` None (``gt``) labels with the clean face.
    """
    face_lq, face = batch["face_lq"], batch["face"]
    lead = _dims(face_lq)[:-3]

    def flat(x):
        return tf.reshape(x, [-1] + _dims(x)[-3:])

    def unflat(x):
        return tf.reshape(x, lead + _dims(x)[1:])

    lq, label = flat(face_lq), flat(face)
    if restorer is not None:
        label = restore(restorer, lq, face.shape[-2])
    tries = batch["face_corners"].shape[-2]
    corners = tf.reshape(batch["face_corners"], [-1, tries, 2]) * scale
    corner = choose_textured(label, corners, face_patch, texture_threshold)
    flags = tf.reshape(batch["flip"], [-1])
    out = {
        "inputa": unflat(flip(crop(lq, corner // scale, face_patch // scale), flags)),
        "labela": unflat(flip(crop(label, corner, face_patch), flags)),
    }
    out.update({key: batch[key] for key in ("inputb", "labelb", "labelb_nousm")})
    return {key: out[key] for key in KEYS}


def task_batches(face_records, natural_records, degradation=DegradationConfig(), face_size=256,
                 natural_size=400, face_patch=128, natural_patch=256, scale=4, meta_batch_size=4,
                 task_batch_size=4, seed=0, shuffle_buffer=1000, skip_bad_records=False):
    """Degraded tasks before face labelling, batched by ``meta_batch_size`` (see ``degrade_task``).

    ``face_records`` / ``natural_records``: a TFRecord file, a glob of shards, or a list of them.
    ``skip_bad_records``: see ``image_stream``.
    """
    check_sizes(face_size, natural_size, face_patch, natural_patch, scale)
    faces = image_stream(face_records, face_size, seed, shuffle_buffer, skip_bad_records)
    naturals = image_stream(natural_records, natural_size, seed + 1, shuffle_buffer, skip_bad_records)
    base = tf.constant([seed, 0x5EED], tf.int64)

    @tf.autograph.experimental.do_not_convert
    def make_task(face_batch, natural_batch, index):
        seed_ = tf.random.experimental.stateless_fold_in(base, index)
        return degrade_task(face_batch, natural_batch, seed_, degradation, scale, face_patch, natural_patch)

    tasks = tf.data.Dataset.zip(faces.batch(task_batch_size, drop_remainder=True),
                                naturals.batch(task_batch_size, drop_remainder=True),
                                tf.data.Dataset.counter())
    tasks = tasks.map(make_task, num_parallel_calls=tf.data.AUTOTUNE)
    return tasks.batch(meta_batch_size, drop_remainder=True)


def meta_batches(face_records, natural_records, restorer=None, degradation=DegradationConfig(), face_size=256,
                 natural_size=400, face_patch=128, natural_patch=256, scale=4, meta_batch_size=4,
                 task_batch_size=4, seed=0, shuffle_buffer=1000):
    """Endless meta-batches (see the module docstring), prefetched; ``restorer`` runs inside tf.data."""
    tasks = task_batches(face_records, natural_records, degradation, face_size, natural_size, face_patch,
                         natural_patch, scale, meta_batch_size, task_batch_size, seed, shuffle_buffer)
    finish = functools.partial(finish_tasks, restorer=restorer, face_patch=face_patch, scale=scale,
                               texture_threshold=degradation.texture_threshold)
    return tasks.map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
