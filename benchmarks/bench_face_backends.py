"""TensorFlow vs OpenVINO (CPU) for the face models: GPEN-BFR-512, GPEN-BFR-256 and the RetinaFace graph.

    .venv/bin/python benchmarks/bench_face_backends.py [--models gpen512,gpen256,retinaface]
        [--repeats 5] [--warmup 2] [--threads 2] [--detect_sizes 512,1000] [--image PATH]

Measures, in one process, whether running these models through OpenVINO would pay off on this machine
(issue 11: adopt it only where it is >= 1.3x faster). Nothing here is used by the package.

- TensorFlow runs each model as the project does today: GPEN as ``tf.function(model, input_signature)``
  over the Keras model (``faces.gpen.GPENRestorer``), RetinaFace as the pruned frozen graph
  (``weights.frozen_graph.load_frozen_graph``, as ``faces.detect`` calls it), with TensorFlow's default
  threading (all cores).
- OpenVINO gets the same model through ``openvino.convert_model``: the GPEN ``tf.function`` (input shape
  fixed to [1, size, size, 3]; if that conversion fails, the function frozen to a GraphDef), and the
  RetinaFace ``.pb`` file itself (the TF frontend reads it, TensorFlow is not involved), reshaped to a
  static [1, H, W, 3] per detection size. Compiled for CPU as ``adapt.ov_rrdbnet`` / ``adapt.backend``
  do: latency hint, f32 inference precision, ``--threads`` threads; OpenVINO imported with its telemetry
  off (``import_openvino``), and ``openvino_telemetry`` kept unimportable for the whole run, so the
  converter only ever sees its built-in stub.
- GPEN weights are random (the upstream initialisation, plus small random values in the variables that
  start at zero, so that no all-zero weight could be folded away): speed does not depend on weight values
  (dense float32 convolutions either way). The input is the astronaut's face region resized to the model
  size. RetinaFace is the real graph on the real photo (scikit-image's astronaut, or ``--image``), resized
  so its longer side is each of ``--detect_sizes`` and zero-padded to multiples of 32 as ``faces.detect``
  does (sizes above 1500 are detected at 1000 there).

Per model and backend: conversion and compile seconds (OpenVINO), first-call seconds (TensorFlow: tracing
included), then ``--warmup`` - 1 more untimed calls, then ``--repeats`` timed rounds that alternate the
two backends (TF then OV, OV then TF, ...) so that changing load from other work hits both alike. Each
call is timed in wall seconds and in process CPU seconds (``time.process_time``, every thread of this
process). Reported: best and median ms per call, mean CPU ms per call, wall and CPU seconds of the timed
calls, and the largest absolute difference of the OpenVINO output from TensorFlow's.

``--whole_process N`` adds N alternating rounds of whole child processes: ``generate_test_faces.py
--restorer gt --backend tf`` vs ``--backend openvino`` on one real photo (the ``--image`` / astronaut as the
LQ photo, its 4x bicubic enlargement as the ground truth), each timed from start to exit (wall, and the
child's user + system CPU seconds and peak RSS from ``os.wait4``); the two runs' faces.json must agree.
``--shapes N`` adds N rounds of ``faces.detect.OpenVINOGraph``'s shape strategies on sequences of padded
sizes (one size four times; two sizes alternating; five sizes): static models (the two most recent kept),
one dynamic model, and the package's choice (static for the first two sizes, then dynamic), each from a
fresh object on the ``.pb`` read once, timed over the whole sequence (compiles included), wall and CPU.
``--models=`` (empty) runs only those rows.
"""
import collections
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import metaf2n_tf  # noqa: E402,F401  (makes the first TensorFlow import quiet)
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

PROGRAM = "bench_face_backends.py"
MODELS = ("gpen512", "gpen256", "retinaface")
FACE_BOX = (150, 20, 330, 200)  # x1, y1, x2, y2 of the astronaut's face in skimage's 512x512 photo
THRESHOLD = 1.3  # issue 11: adopt OpenVINO only where it is at least this much faster


def define_flags():
    fv = flags.FlagValues()
    flags.DEFINE_list("models", list(MODELS), f"models to run, any of {','.join(MODELS)}", flag_values=fv)
    flags.DEFINE_integer("repeats", 5, "timed rounds (one call of each backend per round)", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_integer("warmup", 2, "untimed calls per backend before the timed ones (the first is "
                         "reported as the first call)", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("threads", 2, "OpenVINO CPU inference threads", lower_bound=1, flag_values=fv)
    flags.DEFINE_list("detect_sizes", ["512", "1000"], "RetinaFace: longer side of the photo, in pixels",
                      flag_values=fv)
    flags.DEFINE_string("image", None, "RetinaFace photo (default: scikit-image's astronaut)", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "seed of the random GPEN weights", flag_values=fv)
    flags.DEFINE_integer("shapes", 0, "rounds of OpenVINO RetinaFace shape strategies: static, dynamic, the "
                         "package's (0: none)", lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("whole_process", 0, "rounds of generate_test_faces.py --restorer gt child processes, "
                         "--backend tf vs openvino, on one photo (0: none)", lower_bound=0, flag_values=fv)
    return fv


# ---------------------------------------------------------------------------------------------- timing


def clocked(fn):
    """``(fn(), wall seconds, process CPU seconds)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


class Runner:
    """One backend's calls of one case: the first call, the warm-up and the timed calls."""

    def __init__(self, call):
        self.call = call
        self.first = None
        self.walls, self.cpus = [], []
        self.output = None

    def warm_up(self, count):
        self.output, self.first, _ = clocked(self.call)
        for _ in range(count - 1):
            self.output = self.call()

    def release(self):
        """Drops the model call and output (the timings stay)."""
        self.call = self.output = None

    def timed(self):
        self.output, wall, cpu = clocked(self.call)
        self.walls.append(wall)
        self.cpus.append(cpu)


def run_rounds(tf_runner, ov_runner, warmup, repeats):
    tf_runner.warm_up(warmup)
    ov_runner.warm_up(warmup)
    for i in range(repeats):
        for runner in (tf_runner, ov_runner) if i % 2 == 0 else (ov_runner, tf_runner):
            runner.timed()


# ------------------------------------------------------------------------------------------- OpenVINO


def openvino_module():
    """OpenVINO as the project imports it (telemetry off), with ``openvino_telemetry`` unimportable from
    now on in this process; checks that the converter holds the telemetry stub."""
    from metaf2n_tf.openvino_runtime import import_openvino

    ov = import_openvino()
    sys.modules["openvino_telemetry"] = None
    import openvino.tools.ovc.convert_impl as convert_impl
    import openvino.tools.ovc.utils as ovc_utils

    for module in (convert_impl, ovc_utils):
        if not module.tm.__name__.endswith("telemetry_stub"):
            raise SystemExit(f"{PROGRAM}: {module.__name__} holds real telemetry ({module.tm.__name__}); not converting")
    return ov


def first_line(e):
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300]}" if text else type(e).__name__


def ov_config(threads):
    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": int(threads)}


def compile_request(ov, core, model, threads):
    """``(infer request, compile seconds wall, CPU)`` of ``model`` on the CPU plugin."""
    compiled, wall, cpu = clocked(lambda: core.compile_model(model, "CPU", ov_config(threads)))
    return compiled.create_infer_request(), wall, cpu


def ov_caller(request, x):
    x = np.ascontiguousarray(x, np.float32)
    return lambda: request.infer({0: x}, share_inputs=True)[0].copy()


# ----------------------------------------------------------------------------------------------- GPEN


def astronaut_face(size):
    """The astronaut's face region, [size, size, 3] float32 RGB in [0, 1]."""
    from skimage import data

    x1, y1, x2, y2 = FACE_BOX
    face = data.astronaut()[y1:y2, x1:x2]
    return cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0


def randomize_zero_variables(model, seed):
    """Variables initialised to all zeros (biases, noise weights) get N(0, 0.1) values instead."""
    rng = np.random.default_rng(seed)
    for var in model.weights:
        value = np.asarray(var.numpy())
        if not value.any():
            var.assign(rng.normal(0.0, 0.1, value.shape).astype(value.dtype))


def bench_gpen(name, arch, ov, core, opts):
    import keras
    import tensorflow as tf

    from metaf2n_tf.faces.gpen import to_network
    from metaf2n_tf.faces.network_range import from_network_uint8
    from metaf2n_tf.models.gpen import gpen

    keras.utils.set_random_seed(opts.seed)
    size = arch["size"]
    model, build_wall, build_cpu = clocked(lambda: gpen(**arch))
    randomize_zero_variables(model, opts.seed)
    forward = tf.function(model, input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
    x = to_network(astronaut_face(size))[None]

    route = "tf.function"
    try:
        ov_model, conv_wall, conv_cpu = clocked(
            lambda: ov.convert_model(forward, input=[ov.PartialShape([1, size, size, 3])])
        )
    except Exception as e:  # noqa: BLE001 - any converter failure: try the frozen graph instead
        print(f"note: {name}: convert_model(tf.function) failed ({first_line(e)}); trying the frozen GraphDef",
              file=sys.stderr)
        route = "frozen GraphDef"

        def frozen():
            from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

            graph_def = convert_variables_to_constants_v2(forward.get_concrete_function()).graph.as_graph_def()
            return ov.convert_model(graph_def, input=ov.PartialShape([1, size, size, 3]))

        ov_model, conv_wall, conv_cpu = clocked(frozen)
    request, comp_wall, comp_cpu = compile_request(ov, core, ov_model, opts.threads)

    tf_runner = Runner(lambda: forward(x).numpy())
    ov_runner = Runner(ov_caller(request, x))
    run_rounds(tf_runner, ov_runner, opts.warmup, opts.repeats)

    ref, got = tf_runner.output, ov_runner.output.reshape(tf_runner.output.shape)
    diff = float(np.max(np.abs(ref - got)))
    grey = int(np.max(np.abs(from_network_uint8(ref, "truncate").astype(int) - from_network_uint8(got, "truncate"))))
    check = f"max|OV-TF| {diff:.2e} (max|TF| {float(np.max(np.abs(ref))):.2f}; {grey} grey levels)"
    params = model.count_params()
    result = {
        "model": name, "input": f"1x{size}x{size}x3", "route": route,
        "tf_setup": f"build {build_wall:.1f} s", "ov_setup": (conv_wall, conv_cpu, comp_wall, comp_cpu),
        "tf": tf_runner, "ov": ov_runner, "check": check, "extra": f"{params / 1e6:.1f} M parameters",
    }
    tf_runner.release()
    ov_runner.release()
    keras.backend.clear_session()
    gc.collect()
    return result


# ----------------------------------------------------------------------------------------- RetinaFace


def load_photo(path):
    if path is None:
        from skimage import data

        return data.astronaut(), "astronaut 512x512"
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{PROGRAM}: --image {path}: not readable as a picture")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), f"{os.path.basename(path)} {image.shape[1]}x{image.shape[0]}"


def detector_input(photo, longer_side):
    """The photo resized so its longer side is ``longer_side``, then as ``faces.detect`` feeds the graph."""
    from metaf2n_tf.faces import detect

    height, width = photo.shape[:2]
    factor = longer_side / max(height, width)
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    image = photo if size == (height, width) else cv2.resize(
        photo, (size[1], size[0]), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
    dh, dw = detect.detection_size(*image.shape[:2])
    if (dh, dw) != image.shape[:2]:
        image = cv2.resize(image, (dw, dh), interpolation=cv2.INTER_AREA)
    return detect.pad_to_stride(image.astype(np.float32))[np.newaxis]


def compare_rows(ref, got, padded_hw):
    """Detections above the graph's floor: counts, and the largest difference of matched rows (best first),
    coordinates in pixels of the padded input."""
    ref, got = np.asarray(ref).reshape(-1, 16), np.asarray(got).reshape(-1, 16)
    ref, got = ref[np.argsort(-ref[:, 15])], got[np.argsort(-got[:, 15])]
    n = min(len(ref), len(got))
    if n == 0:
        return f"rows TF {len(ref)} / OV {len(got)}"
    d = np.abs(ref[:n] - got[:n])
    pixels = d[:, :14] * np.tile([padded_hw[1], padded_hw[0]], 7)
    return (f"rows TF {len(ref)} / OV {len(got)}; max|OV-TF| boxes+landmarks {pixels.max():.1e} px, "
            f"score {d[:, 15].max():.1e}; top score {ref[0, 15]:.4f}")


def bench_retinaface(ov, core, opts):
    import tensorflow as tf

    from metaf2n_tf.faces import detect
    from metaf2n_tf.weights.frozen_graph import load_frozen_graph

    path = detect.graph_file()
    graph, load_wall, _ = clocked(lambda: load_frozen_graph(path, detect.INPUT_TENSOR, detect.OUTPUT_TENSOR))
    try:
        ov_model, conv_wall, conv_cpu = clocked(lambda: ov.convert_model(path))
        route = ".pb file"
    except Exception as e:  # noqa: BLE001 - any converter failure: try the parsed GraphDef instead
        print(f"note: RetinaFace: convert_model(.pb path) failed ({first_line(e)}); trying the GraphDef object",
              file=sys.stderr)
        from metaf2n_tf.weights.frozen_graph import read_graph_def

        ov_model, conv_wall, conv_cpu = clocked(lambda: ov.convert_model(read_graph_def(path)))
        route = "GraphDef (TF parsed)"
    if len(ov_model.outputs) != 1 or "Identity:0" not in ov_model.outputs[0].get_names():
        raise RuntimeError(f"the converted RetinaFace has outputs {[o.get_names() for o in ov_model.outputs]}, "
                           "expected the one Identity:0")
    photo, photo_name = load_photo(opts.image)
    results = []
    for side in [int(s) for s in opts.detect_sizes]:
        x = detector_input(photo, side)
        ov_model.reshape({ov_model.inputs[0]: ov.PartialShape(list(x.shape))})
        request, comp_wall, comp_cpu = compile_request(ov, core, ov_model, opts.threads)
        tf_runner = Runner(lambda x=x: graph(tf.constant(x)).numpy())
        ov_runner = Runner(ov_caller(request, x))
        run_rounds(tf_runner, ov_runner, opts.warmup, opts.repeats)
        results.append({
            "model": "RetinaFace", "input": f"{photo_name} at {side}: 1x{x.shape[1]}x{x.shape[2]}x3",
            "route": route, "tf_setup": f"load {load_wall:.1f} s",
            "ov_setup": (conv_wall if not results else 0.0, conv_cpu if not results else 0.0, comp_wall, comp_cpu),
            "tf": tf_runner, "ov": ov_runner, "check": compare_rows(tf_runner.output, ov_runner.output, x.shape[1:3]),
            "extra": "conversion counted once, at the first size" if not results else "",
        })
        tf_runner.release()
        ov_runner.release()
    return results


# ------------------------------------------------------------------------------------ shape strategies

SHAPE_SEQUENCES = {
    "one size x4": [(512, 512)] * 4,
    "two sizes alternating x3": [(512, 512), (352, 320)] * 3,
    "five sizes": [(512, 512), (352, 320), (128, 128), (1024, 1024), (640, 480)],
}


def bench_shapes(opts):
    """``{(sequence, strategy): [(wall s, CPU s) per round]}``: each strategy runs each sequence from scratch."""
    from metaf2n_tf.faces import detect

    photo, _ = load_photo(opts.image)
    base = detect.OpenVINOGraph(detect.graph_file(), opts.threads)  # the .pb read once, cloned per model

    def graph(max_static):
        g = detect.OpenVINOGraph.__new__(detect.OpenVINOGraph)
        g.__dict__.update(base.__dict__, _static=collections.OrderedDict(), _dynamic=None, compiles=[])
        g.MAX_STATIC = max_static
        return g

    def static_only(sequence):  # the SR engine's rule: a model per shape, the two most recent kept
        requests = collections.OrderedDict()
        for h, w in sequence:
            if (h, w) not in requests:
                while len(requests) >= 2:
                    requests.popitem(last=False)
                requests[(h, w)] = base._compile([1, h, w, 3])
            requests.move_to_end((h, w))
            requests[(h, w)].infer({0: inputs[(h, w)]})

    def with_graph(max_static):  # one graph object for the whole sequence
        def run(sequence):
            g = graph(max_static)
            for hw in sequence:
                g(inputs[hw])
        return run

    strategies = {
        "static (2 kept)": static_only,
        "dynamic": with_graph(0),
        "package (static x2, then dynamic)": with_graph(2),
    }
    inputs = {}
    for sequence in SHAPE_SEQUENCES.values():
        for h, w in sequence:
            x = np.zeros((1, h, w, 3), np.float32)
            crop = photo[:h, :w]
            x[0, :crop.shape[0], :crop.shape[1]] = crop
            inputs[(h, w)] = x
    results = collections.defaultdict(list)
    for i in range(opts.shapes):
        for seq_name, sequence in SHAPE_SEQUENCES.items():
            names = list(strategies) if i % 2 == 0 else list(reversed(strategies))
            for name in names:
                gc.collect()
                _, wall, cpu = clocked(lambda: strategies[name](sequence))
                results[(seq_name, name)].append((wall, cpu))
                print(f"  shapes round {i + 1} {seq_name}, {name}: {wall:.2f} s wall, {cpu:.2f} s CPU "
                      f"(load average {loadavg()})", flush=True)
    return results


def print_shapes(results):
    print()
    print("OpenVINO RetinaFace shape strategies: whole sequence, compiles included (the .pb read once before)")
    print()
    print("| sizes | strategy | rounds | best wall s | mean CPU s |")
    print("|---|---|---|---|---|")
    for (seq_name, name), runs in results.items():
        walls, cpus = zip(*runs)
        print(f"| {seq_name} | {name} | {len(runs)} | {min(walls):.2f} | {statistics.mean(cpus):.2f} |")


# ------------------------------------------------------------------------------------- whole process


def run_child(argv):
    """``(wall s, child CPU s (user + system), peak RSS MiB, return code, stderr tail)`` of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable] + argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, child.returncode, err[-500:]


def faces_of(out_dir):
    with open(os.path.join(out_dir, "faces.json")) as f:
        return [face for image in json.load(f)["images"] for face in image["faces"]]


def bench_whole_process(opts):
    """generate_test_faces.py --restorer gt, --backend tf vs openvino, alternating child processes."""
    photo, photo_name = load_photo(opts.image)
    rows = {"tf": [], "openvino": []}
    with tempfile.TemporaryDirectory() as tmp:
        for folder, image in (("LQ", photo), ("GT", cv2.resize(photo, (4 * photo.shape[1], 4 * photo.shape[0]),
                                                                 interpolation=cv2.INTER_CUBIC))):
            os.makedirs(os.path.join(tmp, folder))
            cv2.imwrite(os.path.join(tmp, folder, "photo.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        faces = {}
        for i in range(opts.whole_process):
            for backend in (("tf", "openvino") if i % 2 == 0 else ("openvino", "tf")):
                out = os.path.join(tmp, f"out_{backend}_{i}")
                wall, cpu, rss, rc, err = run_child([
                    "generate_test_faces.py", f"--input_dir={tmp}/LQ", f"--output_dir={out}", "--restorer=gt",
                    f"--gt_dir={tmp}/GT", f"--backend={backend}", "--gpu="])
                if rc != 0:
                    raise RuntimeError(f"generate_test_faces.py --backend {backend} exited {rc}: {err.strip()}")
                rows[backend].append((wall, cpu, rss))
                faces[backend] = faces_of(out)
                print(f"  whole process round {i + 1} {backend}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                      f"{rss:.0f} MiB (load average {loadavg()})", flush=True)
        ref, got = faces["tf"], faces["openvino"]
        if len(ref) != len(got):
            check = f"faces TF {len(ref)} / OV {len(got)}: DIFFERENT"
        elif not ref:
            check = "no face either way"
        else:
            d = max(np.abs(np.subtract(r[k], g[k])).max() for r, g in zip(ref, got) for k in ("box", "landmarks"))
            check = (f"{len(ref)} face(s) either way; faces.json boxes/landmarks (written to 3 decimals) differ by at most "
                     f"{d:.1e} px")
    return {"input": f"{photo_name} (LQ), GT at 4x", "rows": rows, "check": check}


def print_whole_process(result):
    print()
    print(f"Whole process: generate_test_faces.py --restorer gt on {result['input']}, child processes")
    print()
    print("| backend | runs | best wall s | median wall s | mean CPU s | peak RSS MiB | OV speed-up (median wall / CPU) |")
    print("|---|---|---|---|---|---|---|")
    rows = result["rows"]
    for backend in ("tf", "openvino"):
        walls, cpus, rss = zip(*rows[backend])
        ratio = ""
        if backend == "openvino":
            tf_walls, tf_cpus, _ = zip(*rows["tf"])
            ratio = (f"{statistics.median(tf_walls) / statistics.median(walls):.2f}x / "
                     f"{statistics.mean(tf_cpus) / statistics.mean(cpus):.2f}x")
        print(f"| {backend} | {len(walls)} | {min(walls):.1f} | {statistics.median(walls):.1f} | "
              f"{statistics.mean(cpus):.1f} | {max(rss):.0f} | {ratio} |")
    print()
    print(f"- {result['check']}")


# --------------------------------------------------------------------------------------------- report


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.node()}, {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}"


def loadavg():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def print_table(results, started, load_start, versions, opts, total):
    print()
    print(f"Face models, TensorFlow vs OpenVINO CPU ({PROGRAM}), {started:%Y-%m-%d %H:%M UTC}")
    print(f"Machine: {machine()}; {versions}")
    print(f"Load average (1, 5, 15 min) at start: {load_start}; at end: {loadavg()}; "
          f"whole run {total[0]:.0f} s wall, {total[1]:.0f} s CPU")
    print(f"OpenVINO: {opts.threads} threads, LATENCY hint, f32; TF: default threads; "
          f"{opts.warmup} warm-up calls each, {opts.repeats} timed rounds alternating TF/OV")
    if not results:
        return
    print()
    print("| model | input | backend | setup s | first call s | best ms | median ms | CPU ms/call | "
          "timed wall s | timed CPU s | OV speed-up (best / CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        tf_run, ov_run = r["tf"], r["ov"]
        conv_wall, conv_cpu, comp_wall, comp_cpu = r["ov_setup"]
        for backend, run in (("TF", tf_run), ("OV", ov_run)):
            best, median = 1000 * min(run.walls), 1000 * statistics.median(run.walls)
            cpu_ms = 1000 * statistics.mean(run.cpus)
            if backend == "TF":
                setup, ratio = r["tf_setup"], ""
            else:
                setup = (f"convert {conv_wall:.1f} + compile {comp_wall:.1f}" if conv_wall
                         else f"compile {comp_wall:.1f}")
                speed = min(tf_run.walls) / min(ov_run.walls)
                cpu_speed = statistics.mean(tf_run.cpus) / statistics.mean(ov_run.cpus)
                ratio = f"{speed:.2f}x / {cpu_speed:.2f}x"
            print(f"| {r['model']} | {r['input']} | {backend} | {setup} | {run.first:.2f} | {best:.0f} | "
                  f"{median:.0f} | {cpu_ms:.0f} | {sum(run.walls):.1f} | {sum(run.cpus):.1f} | {ratio} |")
    print()
    for r in results:
        conv_wall, conv_cpu, comp_wall, comp_cpu = r["ov_setup"]
        extra = f"; {r['extra']}" if r["extra"] else ""
        print(f"- {r['model']} {r['input']}: OV from {r['route']} (convert CPU {conv_cpu:.1f} s, compile CPU "
              f"{comp_cpu:.1f} s); {r['check']}{extra}")
    verdicts = []
    for r in results:
        speed = min(r["tf"].walls) / min(r["ov"].walls)
        cpu_speed = statistics.mean(r["tf"].cpus) / statistics.mean(r["ov"].cpus)
        ok = speed >= THRESHOLD and cpu_speed >= THRESHOLD
        verdicts.append(f"{r['model']} {r['input'].split(':')[0]}: {'>=' if ok else 'below'} {THRESHOLD}x")
    print("- verdict (best wall and CPU per call both >= 1.3x): " + "; ".join(verdicts))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fv = define_flags()
    try:
        fv([PROGRAM] + list(argv))
    except flags.Error as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 2
    unknown = [m for m in fv.models if m not in MODELS]
    if unknown or not (fv.models or fv.whole_process or fv.shapes):
        print(f"{PROGRAM}: --models: got {','.join(fv.models)}, expected some of {','.join(MODELS)}", file=sys.stderr)
        return 2
    try:
        sides = [int(s) for s in fv.detect_sizes]
    except ValueError:
        sides = [0]
    if not sides or min(sides) < 32:
        print(f"{PROGRAM}: --detect_sizes: expected integers >= 32", file=sys.stderr)
        return 2

    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = loadavg()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    print(f"{started:%Y-%m-%d %H:%M:%S} UTC, load average {load_start}", flush=True)
    ov = openvino_module()
    import tensorflow as tf

    from metaf2n_tf.models.gpen import GPEN_BFR_256, GPEN_BFR_512

    core = ov.Core()
    versions = f"TensorFlow {tf.__version__}, OpenVINO {ov.get_version().split('-')[0]}, Python {platform.python_version()}"
    results, failures = [], []
    for name in fv.models:
        print(f"{name} ... (load average {loadavg()})", flush=True)
        try:
            if name == "gpen512":
                new = [bench_gpen("GPEN-BFR-512", GPEN_BFR_512, ov, core, fv)]
            elif name == "gpen256":
                new = [bench_gpen("GPEN-BFR-256", GPEN_BFR_256, ov, core, fv)]
            else:
                new = bench_retinaface(ov, core, fv)
        except Exception as e:  # noqa: BLE001 - one model failing must not lose the others' figures
            failures.append(f"{name}: {first_line(e)}")
            print(f"{name}: FAILED ({first_line(e)})", file=sys.stderr, flush=True)
            continue
        for r in new:
            print(f"  {r['model']} {r['input']}: TF best {1000 * min(r['tf'].walls):.0f} ms, "
                  f"OV best {1000 * min(r['ov'].walls):.0f} ms; {r['check']}", flush=True)
        results.extend(new)
    shapes = None
    if fv.shapes:
        print(f"shape strategies ... (load average {loadavg()})", flush=True)
        try:
            shapes = bench_shapes(fv)
        except Exception as e:  # noqa: BLE001 - keep the other figures
            failures.append(f"shapes: {first_line(e)}")
    whole = None
    if fv.whole_process:
        print(f"whole process ... (load average {loadavg()})", flush=True)
        try:
            whole = bench_whole_process(fv)
        except Exception as e:  # noqa: BLE001 - keep the in-process figures
            failures.append(f"whole process: {first_line(e)}")
    total = (time.perf_counter() - wall0, time.process_time() - cpu0)
    print_table(results, started, load_start, versions, fv, total)
    if shapes is not None:
        print_shapes(shapes)
    if whole is not None:
        print_whole_process(whole)
    for failure in failures:
        print(f"- FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
