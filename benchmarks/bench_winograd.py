"""Winograd F(4x4, 3x3) in the OpenVINO graph (``build_rrdbnet_ov(winograd=True)``) against the direct graph
and the ncnn runtime, in one process, runs alternating (issue #11).

    python benchmarks/bench_winograd.py                 # block and whole network (a few minutes)
    python benchmarks/bench_winograd.py --skip network  # one residual dense block only (seconds)

1. block: one residual dense block of Real-ESRGAN x4plus (``body.0.rdb1``: 64 channels in, growth 32, five
   convs) on a random [1, 128, 128, 64] map in [0, 1], weights as constants, graphs built by the builder's own
   layout classes (``DirectConvs`` NCHW, ``WinogradConvs`` [H, W, C]). Best of ``--repeats``.
2. network: x4plus on scikit-image's astronaut area-downscaled to ``--size`` (128: 128x128 -> 512x512), the
   OpenVINO graphs with the weights as inputs (as ``OpenVINOSR`` runs them), the RRDB trunk as one Loop (the
   default) and unrolled, Winograd also with the weights as constants (its kernel transform then folded at
   compile time), and the ncnn runtime (float32, as ``bench_sr.py``). Best of ``--repeats`` after a warm-up;
   max error against the direct graph; build + compile seconds.

Wall seconds of the best run and this process's CPU seconds (all threads) in that run. Ratios are printed
against the direct graph measured in the same rounds: on a shared machine they hold, the
absolute times do not.

Measured 2026-11-30 17:29 UTC, the machine otherwise idle, 2 threads (``--skip block``), x4plus 128x128: direct
looped 3.73 s (compile 0.2 s), unrolled 3.57 s (1.0 s); Winograd looped 2.26 s (0.6 s), unrolled 2.27 s (12.2 s),
looped with constant weights 2.32 s (0.8 s); ncnn runtime 2.96 s. Winograd / ncnn 0.77.

Earlier, before the loop, on this project's 2-core AVX2 machine (no AVX-512), LOADED: a training run and a test
run shared the cores (load average 5-7.5), so absolute times are upper bounds and the same-round ratios are the
figures to read.

- block, step 1 of the issue (scratch prototypes, same process, alternating, best of 5-12, direct = 1):
  F(2x2, 3x3) on [H, W, C] 0.84-1.17; F(2x2, 3x3) on [C, H, W] 1.7-1.8; F(4x4, 3x3) on [C, H, W] 1.2;
  F(4x4, 3x3) on [H, W, C] with the V_j concatenated 0.35-0.79, with one MatMul per map summed (this module)
  0.30-0.65. An input transform written as a 6x6 stride-4 Convolution (36 outputs per channel) cost more
  than the five direct convs; strided Slices + MatMul by B_T replaced it, then (same speed, 4x fewer graph
  nodes) the reshape-into-groups-of-4 form. Weights as Parameters (U in the graph) vs constants: 0.62 vs 0.50
  in one prototype run, equal on the whole network (below). F(6x6, 3x3) (points 0, +-1, +-2, +-1/2) through the
  same code (its matrices swapped in): block 0.353 of direct against 0.349 for F(4x4, 3x3) in the same rounds
  (128 is not a multiple of 6: 22 x 22 tiles for 21.3), max error 2.8e-05 against 1.5e-05; not kept.
- this script, ``--threads 1`` (one thread suffers least from the load), three runs at load 6.7-7.1, best wall
  seconds (CPU seconds within 2% of them), x4plus 128x128 -> 512x512:

  | run (UTC) | direct | winograd | winograd, weights constant | ncnn runtime | winograd / direct | winograd / ncnn |
  |---|---|---|---|---|---|---|
  | 15:16 | 6.97 | 4.14 | 4.14 | 5.62 | 0.59 | 0.74 |
  | 15:23 | 7.33 | 4.46 | 4.09 | 4.73 | 0.61 | 0.94 |
  | 15:29 | 8.13 | 4.42 | 4.50 | 5.55 | 0.54 | 0.80 |

  block body.0.rdb1 (15:16, 15:23): direct 0.114 / 0.100 s, Winograd 0.059 / 0.048 s (0.52 / 0.48). Max error
  of Winograd vs direct 9.6e-06 (1.1e-05 with constant weights; ncnn vs direct 1.3e-05), at most 1 grey level
  after rounding. Build + compile: direct 1.0-1.4 s, Winograd 12-27 s (13.4k graph nodes against 2.2k; the
  graph passes are about 40% of it, the CPU plugin's node set-up the rest).
- where the Winograd network's time goes (1 thread, PERF_COUNT, 4.9 s): batched MatMuls 1.86 s, B_T MatMuls
  0.64 s, A_T MatMuls 0.58 s, Transposes 0.5 s, Slices 0.3 s, fused bias/leaky ReLU/adds 0.37 s. A separable
  output transform (two MatMuls by A_T instead of one by A_T (x) A_T) measured the same on the block.
- default ``--threads 2`` (15:09 UTC, load 4.9 -> 7.0): block 0.100 s direct, 0.066 s Winograd (0.65);
  x4plus direct 22.75 s, Winograd 7.11 s (0.31), constant weights 8.97 s (0.39), ncnn runtime 19.88 s
  (0.87); Winograd / ncnn 0.36. Two threads on two loaded cores slow the direct graph and ncnn 4-5x against
  their quiet times (4.67 s, 3.67 s in README), Winograd much less: read the one-thread rows.
- scratch, same process: the upsampling-resolution convs (conv_up1, conv_up2, conv_hr, conv_last) direct and
  the rest Winograd: 1.40x the all-Winograd time; only conv_first and conv_last direct: 1.01x. Every conv is
  Winograd.
- peak RSS of a process compiling and running x4plus (weights as inputs), 64x64 / 128x128 LQ: direct 433 /
  534 MiB, Winograd 711 / 985 MiB (about 23 kB per LQ pixel against 9 kB: ``tiling.MEMORY_MODEL`` would need a
  Winograd entry before it could be the default).
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from metaf2n_tf.adapt.ov_rrdbnet import (  # noqa: E402
    LRELU_SLOPE, RESIDUAL_SCALE, DirectConvs, build_rrdbnet_ov, input_arrays,
)
from metaf2n_tf.adapt.ov_winograd import WinogradConvs  # noqa: E402
from metaf2n_tf.openvino_runtime import cpu_runtime  # noqa: E402


def alternate(runs, repeats):
    """``{name: (best wall s, CPU s of this process in that run)}`` over ``repeats`` rounds after a warm-up
    round, each round running every ``runs[name]()`` once."""
    for fn in runs.values():
        fn()
    best = dict.fromkeys(runs, (float("inf"), 0.0))
    for _ in range(repeats):
        for name, fn in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            run = (time.perf_counter() - wall, time.process_time() - cpu)
            best[name] = min(best[name], run)
    return best


def dense_block_model(ov, ops, layout, arrays, size):
    """The first residual dense block (``body.0.rdb1``) of [1, size, size, C] NHWC, weights constant."""
    kernels = {k: (arrays[f"MODEL/body/rdb1/conv{k}/weight"][0], arrays[f"MODEL/body/rdb1/conv{k}/bias"][0])
               for k in range(1, 6)}
    channels = kernels[1][0].shape[1]
    x = ops.parameter([1, size, size, channels], np.float32, name="x")
    slope = ops.constant(np.float32(LRELU_SLOPE))
    feats = [layout.enter(x)]

    def conv(k):
        kernel, bias = kernels[k]
        return layout.conv(feats, ops.constant(kernel), ops.constant(bias))

    for k in range(1, 5):
        feats.append(ops.prelu(conv(k), slope))
    out = ops.add(ops.multiply(conv(5), ops.constant(np.float32(RESIDUAL_SCALE))), feats[0])
    return ov.Model([layout.leave(out)], [x])


def block(tensors, threads, repeats, size=128):
    ov, core, config = cpu_runtime(threads)
    import openvino.opset13 as ops

    arrays = input_arrays(tensors)
    x = np.random.default_rng(0).random((1, size, size, 64)).astype(np.float32)
    compiled = {name: core.compile_model(dense_block_model(ov, ops, layout(ops), arrays, size),
                                         "CPU", config)
                for name, layout in (("direct", DirectConvs), ("winograd", WinogradConvs))}
    error = np.abs(compiled["winograd"](x)[0] - compiled["direct"](x)[0]).max()
    best = alternate({name: lambda c=c: c(x) for name, c in compiled.items()}, repeats)
    for name, note in (("direct", ""), ("winograd", f"max error vs direct {error:.1e}")):
        print(f"| block x4plus body.0.rdb1, {size}x{size}x64 | {name} | {best[name][0]:.3f} | {best[name][1]:.3f} | "
              f"{best[name][0] / best['direct'][0]:.2f} | {note} |", flush=True)


def network(tensors, img, threads, repeats):
    from benchmarks.bench_sr import NcnnNet

    ov, core, config = cpu_runtime(threads)
    height, width = img.shape[:2]
    x = img[None].astype(np.float32) / 255.0
    arrays = input_arrays(tensors)
    feed = {"lq": x, **arrays}
    runs, compile_s = {}, {}
    for name, inputs, winograd, loop in (
            ("direct", True, False, True), ("direct, unrolled", True, False, False), ("winograd", True, True, True),
            ("winograd, unrolled", True, True, False), ("winograd, weights constant", False, True, True)):
        start = time.perf_counter()
        model = build_rrdbnet_ov(arrays, height, width, weights_as_inputs=inputs, winograd=winograd, loop=loop)
        request = core.compile_model(model, "CPU", config).create_infer_request()
        compile_s[name] = time.perf_counter() - start
        runs[name] = lambda r=request, f=(feed if inputs else {"lq": x}): r.infer(f, share_inputs=True)[0].copy()
    net = NcnnNet(threads)
    runs["ncnn runtime"] = lambda: net(img)[None]
    outputs = {name: fn() for name, fn in runs.items()}
    best = alternate(runs, repeats)
    to8 = lambda a: np.round(np.clip(a, 0, 1) * 255)  # noqa: E731
    shape = f"x4plus {width}x{height} -> {4 * width}x{4 * height}"
    for name, (wall, cpu) in best.items():
        error = np.abs(outputs[name] - outputs["direct"]).max()
        grey = np.abs(to8(outputs[name]) - to8(outputs["direct"])).max()
        note = f"max error vs direct {error:.1e} ({grey:.0f} grey levels)" if name != "direct" else ""
        if name in compile_s:
            note += f"; build + compile {compile_s[name]:.1f} s"
        print(f"| {shape} | {name} | {wall:.2f} | {cpu:.2f} | {wall / best['direct'][0]:.2f} | {note} |", flush=True)
    print(f"| {shape} | winograd / ncnn runtime | | | {best['winograd'][0] / best['ncnn runtime'][0]:.2f} | |")


def main():
    import cv2
    from skimage import data

    from metaf2n_tf.weights.sources import read_weights

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="LQ side of the whole-network photo")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: block,network")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    tensors = read_weights("realesrgan-x4plus").sr
    load = os.getloadavg()[0]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {args.threads} threads, load average "
          f"{load:.1f} at start ({'quiet' if load < 0.5 * os.cpu_count() else 'LOADED by other work'})")
    print("| what | engine | best wall s | its CPU s | wall ratio to direct | note |", flush=True)
    print("|---|---|---|---|---|---|", flush=True)
    if "block" not in skip:
        block(tensors, args.threads, args.repeats * 3)
    if "network" not in skip:
        img = cv2.resize(data.astronaut(), (args.size, args.size), interpolation=cv2.INTER_AREA)
        network(tensors, img, args.threads, args.repeats)
    print(f"# load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
