"""Seconds per 512² face of the Keras DMDNet (random weights), generic and specific, on whatever device TF picks.

    python benchmarks/bench_dmdnet.py [--references 3] [--repeats 3]

Builds the released configuration (ngf 64, 128 entries), makes one untimed call of each path (eager,
as ``DMDNetRestorer`` runs; ``--graph`` traces them with ``tf.function``), then times ``--repeats``
calls of: generic restoration; the specific dictionary of ``--references`` references; generic +
specific restoration with that dictionary. Prints the medians. Upstream PyTorch on 2 CPU cores:
2.8 s generic, + 3.5 s for specific (measured once with upstream torch code, docs/upstream.md).
"""
import statistics
import sys
import time

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import numpy as np
import tensorflow as tf
from absl import flags

from metaf2n_tf.models.dmdnet import dmdnet

PROGRAM = "bench_dmdnet.py"
# Boxes of a typical aligned 512 face (left eye, right eye, nose, mouth).
BOXES = np.array([[151, 188, 232, 269], [277, 182, 363, 268], [229, 273, 297, 341], [202, 316, 318, 433]], np.int32)


def _median_seconds(fn, repeats):
    fn()  # trace, not timed
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(references, repeats, graph):
    """Returns (build seconds, parameter count, {path: median seconds}); eager as the restorer runs, or traced."""
    start = time.perf_counter()
    model = dmdnet()
    built = time.perf_counter() - start
    generic = lambda x, loc: model.restore(x, loc)[0]  # noqa: E731
    memorize, restore = model.memorize, model.restore
    if graph:
        generic, memorize, restore = tf.function(generic), tf.function(memorize), tf.function(restore)
    rng = np.random.default_rng(0)
    lq = tf.constant(rng.uniform(-1, 1, (1, 512, 512, 3)).astype(np.float32))
    loc = tf.constant(BOXES[None])
    refs = tf.constant(rng.uniform(-1, 1, (references, 512, 512, 3)).astype(np.float32))
    ref_locs = tf.constant(np.repeat(BOXES[None], references, axis=0))
    memory = memorize(refs, ref_locs)
    times = {
        "generic": _median_seconds(lambda: generic(lq, loc).numpy(), repeats),
        f"specific dictionary of {references}": _median_seconds(
            lambda: [t.numpy() for t in memorize(refs, ref_locs).values()], repeats),
        "generic + specific": _median_seconds(lambda: [t.numpy() for t in restore(lq, loc, memory)], repeats),
    }
    return built, model.count_params(), times


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fv = flags.FlagValues()
    flags.DEFINE_integer("references", 3, "reference faces of the specific dictionary", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("repeats", 3, "timed calls per path", lower_bound=1, flag_values=fv)
    flags.DEFINE_boolean("graph", False, "trace the paths with tf.function (the restorer runs eagerly)",
                         flag_values=fv)
    try:
        fv([PROGRAM] + list(argv))
    except flags.Error as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 2
    built, params, times = bench(fv.references, fv.repeats, fv.graph)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    parts = "; ".join(f"{name} {seconds:.2f} s" for name, seconds in times.items())
    mode = "graph" if fv.graph else "eager"
    print(f"DMDNet: {params:,} values; build {built:.1f} s; per 512 face ({mode}, median of {fv.repeats}) "
          f"on {device}: {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
