"""Peak RSS of whole-image SR per input size, TF and OpenVINO backends (x4plus), each in a fresh process.

    python benchmarks/bench_memory.py [--sizes 64,128,256,384] [--backends tf,openvino,openvino-winograd]

Prints a markdown table: LQ input side (one tile with its pad), RSS after loading (model built, not yet run),
peak RSS after one forward pass, seconds of that pass. ``metaf2n_tf.adapt.tiling`` estimates memory from
these figures (a per-backend base plus bytes per LQ input pixel).
"""
import argparse
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import sys, time
import numpy as np
sys.path.insert(0, {root!r})
from metaf2n_tf.adapt.backend import make_sr
from metaf2n_tf.weights.sources import read_weights

def rss_mib():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024

size, backend = {size}, {backend!r}
sr = make_sr(read_weights("realesrgan-x4plus"), backend=backend.split("-")[0], gpu="")
x = np.random.default_rng(0).random((1, size, size, 3)).astype(np.float32)
if backend.startswith("openvino"):
    sr.winograd = backend == "openvino-winograd"  # the Winograd graph, or the direct one
    sr.prepare(size, size)
    sr.compile(size, size)
else:
    sr.forward(x[:, :16, :16])
loaded = rss_mib()
t = time.perf_counter()
sr.forward(x)
with open("/proc/self/status") as f:  # VmHWM: this process's peak RSS
    peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
print(loaded, peak, time.perf_counter() - t)
"""


def measure(size, backend):
    code = CHILD.format(root=ROOT, size=size, backend=backend)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        return None, result.stderr.strip().splitlines()[-1:]
    loaded, peak, seconds = (float(v) for v in result.stdout.split()[-3:])
    return (loaded, peak, seconds), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,128,256,384")
    parser.add_argument("--backends", default="openvino,tf")
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| backend | LQ input | RSS loaded (MiB) | peak RSS (MiB) | peak - loaded (MiB) | seconds |")
    print("|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            figures, error = measure(size, backend)
            if figures is None:
                print(f"| {backend} | {size}x{size} | failed: {error} | | | |", flush=True)
                continue
            loaded, peak, seconds = figures
            print(f"| {backend} | {size}x{size} | {loaded:.0f} | {peak:.0f} | {peak - loaded:.0f} | {seconds:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
