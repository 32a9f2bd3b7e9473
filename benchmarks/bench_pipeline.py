"""Tasks per second of the tf.data meta-batch pipeline vs a per-sample Python loop over the same ops.

    .venv/bin/python benchmarks/bench_pipeline.py [--meta_batches 6] [--face_size 256] [--natural_size 400]

Records are made in a temporary folder from scikit-image's photos (faces: the photos resized to
face_size; natural: every natural_size grid crop). Both runs use the default DegradationConfig and the
``gt`` face label, so only the data path is timed. The loop is the original's style: per task, draw the
parameters, then degrade one face and one natural image at a time (eager TF ops), crop and flip in numpy.
Warm-up batches are not timed (see ``time_pipeline``).
"""
import os
import sys
import tempfile
import time

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import numpy as np
from absl import flags
from skimage import data

from metaf2n_tf.data import degradations, pipeline, records

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")


def define_flags():
    fv = flags.FlagValues()
    flags.DEFINE_integer("meta_batches", 6, "timed meta-batches per method", flag_values=fv)
    flags.DEFINE_integer("face_size", 256, "face record size", flag_values=fv)
    flags.DEFINE_integer("natural_size", 400, "natural patch size", flag_values=fv)
    flags.DEFINE_integer("face_patch", 128, "HQ face crop", flag_values=fv)
    flags.DEFINE_integer("natural_patch", 256, "HQ natural crop", flag_values=fv)
    flags.DEFINE_integer("meta_batch_size", 4, "tasks per meta-batch", flag_values=fv)
    flags.DEFINE_integer("task_batch_size", 4, "faces and natural patches per task", flag_values=fv)
    return fv


def make_records(folder, face_size, natural_size):
    """Writes face and natural shards from the photos; returns their globs."""
    photos = [getattr(data, name)() for name in PHOTOS]
    with records.ShardWriter(folder, records.FACE_PREFIX, 1000) as writer:
        for photo in photos:
            writer.write(records.encode(records.square_face(photo, face_size)[0][0]))
        writer.close()
    with records.ShardWriter(folder, "natural", 1000) as writer:
        for photo in photos:
            for patch in records.grid_crops(photo, natural_size, natural_size // 2):
                writer.write(records.encode(np.ascontiguousarray(patch)))
        writer.close()
    return os.path.join(folder, "whole_face-*"), os.path.join(folder, "natural-*")


def time_pipeline(face_glob, natural_glob, fv):
    """Seconds per meta-batch of ``pipeline.meta_batches`` in steady state.

    Batches made ahead while the first one was traced sit in the prefetch buffer, so one warm-up batch
    plus ``meta_batches`` more are drained untimed before ``meta_batches`` are timed.
    """
    ds = pipeline.meta_batches(face_glob, natural_glob, face_size=fv.face_size, natural_size=fv.natural_size,
                               face_patch=fv.face_patch, natural_patch=fv.natural_patch,
                               meta_batch_size=fv.meta_batch_size, task_batch_size=fv.task_batch_size)
    batches = iter(ds)
    for _ in range(fv.meta_batches + 1):
        next(batches)
    start = time.perf_counter()
    for _ in range(fv.meta_batches):
        next(batches)
    return (time.perf_counter() - start) / fv.meta_batches


def _crop_pair(lq, hq, patch, rng, scale=4):
    """LQ crop and its HQ crop at a random corner, mirrored."""
    h, w = rng.integers(0, max(lq.shape[0] - patch // scale, 1), size=2)
    return (lq[h:h + patch // scale, w:w + patch // scale, ::-1],
            hq[h * scale:h * scale + patch, w * scale:w * scale + patch, ::-1])


def loop_meta_batch(faces, naturals, cfg, rng, fv):
    """One meta-batch the original's way: Python loops over tasks and samples, one image per op call."""
    scale, outputs = 4, []
    for _ in range(fv.meta_batch_size):
        seed = rng.integers(0, 2 ** 31, size=2)
        task = degradations.sample_task(seed, cfg)
        for _ in range(fv.task_batch_size):
            face = faces[rng.integers(len(faces))][None].astype(np.float32) / 255
            natural = naturals[rng.integers(len(naturals))][None].astype(np.float32) / 255
            sharp = degradations.usm_sharp(natural)
            noise = [degradations.sample_noise(rng.integers(0, 2 ** 31, size=2), 1, cfg, n) for n in (1, 2, 1, 2)]
            face_lq = degradations.degrade(face, task, noise[0], noise[1], fv.face_size // scale).numpy()[0]
            natural_lq = degradations.degrade(sharp, task, noise[2], noise[3], fv.natural_size // scale).numpy()[0]
            outputs.append(_crop_pair(face_lq, face[0], fv.face_patch, rng))
            outputs.append(_crop_pair(natural_lq, sharp.numpy()[0], fv.natural_patch, rng))
    return outputs


def time_loop(faces, naturals, fv):
    """Seconds per meta-batch of ``loop_meta_batch`` after one warm-up batch."""
    cfg, rng = degradations.DegradationConfig(), np.random.default_rng(0)
    loop_meta_batch(faces, naturals, cfg, rng, fv)
    start = time.perf_counter()
    for _ in range(fv.meta_batches):
        loop_meta_batch(faces, naturals, cfg, rng, fv)
    return (time.perf_counter() - start) / fv.meta_batches


def main(argv=None) -> int:
    fv = define_flags()
    try:
        fv(argv if argv is not None else sys.argv)
    except flags.Error as e:
        print(f"bench_pipeline.py: {e}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        face_glob, natural_glob = make_records(folder, fv.face_size, fv.natural_size)
        faces = [records.square_face(getattr(data, name)(), fv.face_size)[0][0] for name in PHOTOS]
        naturals = [patch for name in PHOTOS
                    for patch in records.grid_crops(getattr(data, name)(), fv.natural_size, fv.natural_size // 2)]
        tasks = fv.meta_batch_size
        print(f"{os.cpu_count()} CPU cores; meta-batch = {tasks} tasks x {fv.task_batch_size} "
              f"({fv.face_size}^2 faces + {fv.natural_size}^2 natural patches)")
        per_batch = time_pipeline(face_glob, natural_glob, fv)
        print(f"tf.data pipeline : {tasks / per_batch:6.2f} tasks/s ({per_batch:.2f} s per meta-batch)")
        per_batch_loop = time_loop(faces, naturals, fv)
        print(f"per-sample loop  : {tasks / per_batch_loop:6.2f} tasks/s ({per_batch_loop:.2f} s per meta-batch)")
        print(f"speed-up         : {per_batch_loop / per_batch:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
