"""Milliseconds per face of the Keras GPEN generator (random weights), on whatever device TF picks.

    python benchmarks/bench_gpen.py [--model GPEN-BFR-512] [--batch 1] [--repeats 3]

Builds the model, traces one ``tf.function`` (not timed), then times ``--repeats`` calls of a batch
of ``--batch`` faces and prints the median time per face.
"""
import statistics
import sys
import time

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import numpy as np
import tensorflow as tf
from absl import flags

from metaf2n_tf.models.gpen import GPEN_BFR_256, GPEN_BFR_512, gpen

PROGRAM = "bench_gpen.py"
MODELS = {"GPEN-BFR-512": GPEN_BFR_512, "GPEN-BFR-256": GPEN_BFR_256}


def bench(arch, batch, repeats):
    """Returns (build seconds, trace seconds, median milliseconds per face, parameter count)."""
    start = time.perf_counter()
    model = gpen(**arch)
    built = time.perf_counter() - start
    size = arch["size"]
    forward = tf.function(model, input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype(np.float32))
    start = time.perf_counter()
    forward(x).numpy()
    traced = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(x).numpy()
        times.append(time.perf_counter() - start)
    return built, traced, 1000 * statistics.median(times) / batch, model.count_params()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fv = flags.FlagValues()
    flags.DEFINE_enum("model", "GPEN-BFR-512", sorted(MODELS), "configuration", flag_values=fv)
    flags.DEFINE_integer("batch", 1, "faces per call", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("repeats", 3, "timed calls", lower_bound=1, flag_values=fv)
    try:
        fv([PROGRAM] + list(argv))
    except flags.Error as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 2
    built, traced, ms, params = bench(MODELS[fv.model], fv.batch, fv.repeats)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(f"{fv.model}: {params:,} parameters; build {built:.1f} s, first call {traced:.1f} s; "
          f"{ms:.0f} ms per face (batch {fv.batch}, median of {fv.repeats}) on {device}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
