"""SR speed, adaptation-step time and peak memory of the inference path, beside the ncnn runtime.

    python benchmarks/bench_sr.py [--size 128] [--repeats 3] [--rss_megapixels 1.0]

Prints: milliseconds per output megapixel for this project (Keras, tf.function) and for ncnn
(Real-ESRGAN x4plus, CPU fp32) on the same real photo crop; seconds per adaptation step on the
default 16 face patches (16x16 LQ -> 64x64 HQ), SGD and Adam; peak RSS of a child process that
super-resolves a photo of ``--rss_megapixels`` LQ megapixels with the default (automatic) tiling.
"""
import argparse
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import metaf2n_tf  # noqa: E402,F401
import numpy as np  # noqa: E402


def _photo(size):
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)


def _timed(fn, repeats):
    fn()  # warm-up: tracing, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_speed(size, repeats):
    from metaf2n_tf.adapt.tta import Adapter
    from tests.ncnn_reference import ncnn_upscale
    from metaf2n_tf.weights.sources import build_models, read_weights

    img = _photo(size)
    out_mp = (4 * size) ** 2 / 1e6
    sr_model, _ = build_models(read_weights("realesrgan-x4plus"))
    for optimizer, lr in (("sgd", 0.01), ("adam", 1e-4)):
        adapter = Adapter(sr_model, None, optimizer=optimizer, lr=lr, warn=False)
        weights = adapter.initial_weights()
        if optimizer == "sgd":
            x = img[None].astype(np.float32) / 255.0
            t = _timed(lambda: adapter.forward(weights, x).numpy(), repeats)
            print(f"SR {size}x{size} -> {4 * size}x{4 * size}: metaf2n_tf {t * 1e3 / out_mp:.0f} ms per output MP ({t:.2f} s)")
            tn = _timed(lambda: ncnn_upscale(img), repeats)
            print(f"SR {size}x{size} -> {4 * size}x{4 * size}: ncnn      {tn * 1e3 / out_mp:.0f} ms per output MP ({tn:.2f} s)")
        rng = np.random.default_rng(0)
        lq = rng.random((16, 16, 16, 3)).astype(np.float32)
        hq = rng.random((16, 64, 64, 3)).astype(np.float32)
        steps = 3
        t = _timed(lambda: adapter.adapt(weights, lq, hq, steps), 1) / steps
        print(f"adaptation ({optimizer}), 16 patches 16x16 -> 64x64: {t:.2f} s per step")


def bench_rss(megapixels):
    side = int(round((megapixels * 1e6) ** 0.5))
    code = (
        "import metaf2n_tf, numpy as np, resource, time\n"
        "from metaf2n_tf.adapt.tiling import super_resolve, resolve_tile\n"
        "from metaf2n_tf.adapt.tta import Adapter\n"
        "from metaf2n_tf.weights.sources import build_models, read_weights\n"
        f"img = np.random.default_rng(0).random(({side}, {side}, 3)).astype(np.float32)\n"
        "m, _ = build_models(read_weights('realesrgan-x4plus'))\n"
        "a = Adapter(m, None, warn=False); w = a.initial_weights()\n"
        "t = time.perf_counter(); out = super_resolve(lambda x: a.forward(w, x), img)\n"
        "print(resolve_tile(-1, *img.shape[:2]), time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    if result.returncode:
        print(result.stderr[-2000:], file=sys.stderr)
        return
    tile, seconds, rss = result.stdout.split()[-3:]
    print(f"{side}x{side} LQ ({megapixels:g} MP) with automatic tiling (tile {tile}, pad 48): "
          f"{float(seconds):.0f} s, peak RSS {float(rss):.0f} MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="LQ side of the speed test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss_megapixels", type=float, default=1.0, help="0 skips the memory test")
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    bench_speed(args.size, args.repeats)
    if args.rss_megapixels > 0:
        bench_rss(args.rss_megapixels)


if __name__ == "__main__":
    main()
