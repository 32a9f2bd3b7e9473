"""Seconds per image pair at 1 MP (1024x1024) for each metric of calculate_metrics.py.

    python benchmarks/bench_metrics.py [--size 1024] [--repeats 3]

Networks use random weights (the timing does not depend on them) and NIQE a made-up parameters file,
so nothing needs downloading. FID is timed per image (one Inception feature; the Fréchet distance
itself is a one-off per folder).
"""
import metaf2n_tf  # noqa: F401 - imports TensorFlow quietly
import sys
import time

import numpy as np
from absl import flags

from metaf2n_tf.metrics.fid import pool_features
from metaf2n_tf.models.inception import fid_inception
from metaf2n_tf.metrics.lpips import lpips_distance
from metaf2n_tf.metrics.niqe import luma, niqe
from metaf2n_tf.metrics.psnr import psnr_y
from metaf2n_tf.metrics.ssim import ssim_y
from metaf2n_tf.models.lpips import lpips_model


def _niqe_params():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((36, 36))
    r = np.arange(-3, 4)
    g = np.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * (7 / 6) ** 2))
    return np.linspace(0.1, 2, 36), a @ a.T / 36 + 0.1 * np.eye(36), g / g.sum()


def _timed(fn, repeats):
    fn()  # warm-up: graph tracing, allocation
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fv = flags.FlagValues()
    flags.DEFINE_integer("size", 1024, "image side in pixels", lower_bound=96, flag_values=fv)
    flags.DEFINE_integer("repeats", 3, "timed runs per metric", lower_bound=1, flag_values=fv)
    try:
        fv(["bench_metrics.py", *argv])
    except flags.Error as e:
        print(f"bench_metrics.py: {e}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (fv.size, fv.size, 3), dtype=np.uint8)
    result = np.clip(gt + rng.normal(0, 10, gt.shape), 0, 255).astype(np.uint8)
    lpips_net, inception, params = lpips_model(), fid_inception(), _niqe_params()
    cases = {
        "psnr": lambda: psnr_y(result, gt),
        "ssim": lambda: ssim_y(result, gt),
        "lpips": lambda: lpips_distance(lpips_net, result, gt),
        "fid (features of one image)": lambda: pool_features(inception, result),
        "niqe": lambda: niqe(luma(result), params),
    }
    total = 0.0
    for name, fn in cases.items():
        seconds = _timed(fn, fv.repeats)
        total += seconds
        print(f"{name:<28} {seconds:8.3f} s per {fv.size}x{fv.size} pair")
    print(f"{'all metrics':<28} {total:8.3f} s per {fv.size}x{fv.size} pair")
    return 0


if __name__ == "__main__":
    sys.exit(main())
