"""Crash soak: runs the two-replica check or a tiny training run many times and counts how each run ended.

    python tools/soak.py --what distribute --runs 50 --out /tmp/soak/dist
    python tools/soak.py --what train --runs 20 --steps 120 --out /tmp/soak/train
    python tools/soak.py --what distribute --runs 50 --env TF_ENABLE_ONEDNN_OPTS=0 --out /tmp/soak/dist_noonednn

Every run is a fresh interpreter with ``PYTHONFAULTHANDLER=1`` (a fatal signal prints the Python stack of
every thread to its stderr) and an unlimited core size, in its own folder (``run-NNN``: stdout, stderr and,
after a signal death, ``gdb.txt`` = ``thread apply all bt`` of the core file when the kernel wrote one into
the folder and gdb is installed; the core itself is deleted after that, it is gigabytes). ``--parallel``
runs several at once (more load on the cores). The last line printed is a JSON summary: outcome counts
(``ok``, ``exit N``, ``SIGSEGV``...), run times, and the folders of the runs that died by a signal.

``distribute`` runs the script of ``tests/train/test_distribute.py`` (one meta step on one device and on two
logical CPU devices under MirroredStrategy; a wrong result counts as ``wrong``). ``loop2`` / ``loop1`` run
that meta step ``--steps`` times in one process (traced once, so far more steps per CPU second) on two
logical CPU devices under MirroredStrategy / on the default strategy. ``train`` runs main.py
for ``--steps`` meta steps: one RRDB block, faces 8 -> 32, patches 16 -> 64, 2 tasks x 2, L1 + GAN + mask
(the README's quick CPU check), on records this script writes once into ``--out``.
"""
import argparse
import collections
import concurrent.futures
import glob
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # a tool run from anywhere imports the package and the test script beside it


def _unlimited_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def train_command(run_dir, record_dir, steps, seed):
    """The tiny run of tests/train/test_kill_resume.py from step 0, saving every 50 steps, the default meta_lr."""
    from config import MetaConfig
    from tests.train.test_kill_resume import main_command

    return main_command(record_dir, f"{run_dir}/ckpt", steps, seed, step=0, log_dir=f"{run_dir}/logs",
                        save_iter=50, print_iter=20, shuffle_buffer=16, meta_lr=MetaConfig.meta_lr)


def distribute_command():
    from tests.train.test_distribute import SCRIPT

    return [sys.executable, "-c", SCRIPT]


# Many meta steps in one process (tracing once): the two-replica step of test_distribute, or one device.
LOOP_SCRIPT = r"""
import sys, time
import numpy as np
import metaf2n_tf
import tensorflow as tf
replicas, steps = int(sys.argv[1]), int(sys.argv[2])
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from metaf2n_tf.models.discriminator import unet_discriminator_sn
from metaf2n_tf.models.lpips import lpips_model
from metaf2n_tf.models.masknet import masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train.loop import Trainer
from metaf2n_tf.train.meta_step import MetaModels, MetaSettings

rng = np.random.default_rng(3)
images = lambda size: tf.constant(rng.random((2, 2, size, size, 3)), tf.float32)
batch = {"face_lq": images(16), "face": images(64),
         "face_corners": tf.constant(rng.integers(0, 8, (2, 2, 6, 2)), tf.int32),
         "flip": tf.constant(rng.random((2, 2)) < 0.5), "inputb": images(16), "labelb": images(64),
         "labelb_nousm": images(64)}
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if replicas == 2 else tf.distribute.get_strategy()
keras.utils.set_random_seed(0)
with strategy.scope():
    models = MetaModels(rrdbnet(num_block=1), masknet(), unet_discriminator_sn(num_feat=16), lpips_model())
    trainer = Trainer(strategy, models, (keras.optimizers.SGD(1e-3), keras.optimizers.SGD(1e-3)),
                      MetaSettings(), 2, None, 32)
start = time.time()
for i in range(steps):
    losses = trainer.train_step(batch)
    float(losses["objective"])
    if i % 20 == 0:
        print(f"step {i} {time.time() - start:.1f} s", flush=True)
print(f"done {steps} steps in {time.time() - start:.1f} s", flush=True)
"""


def loop_command(replicas, steps):
    return [sys.executable, "-c", LOOP_SCRIPT, str(replicas), str(steps)]


def backtrace(run_dir):
    """gdb ``thread apply all bt`` of a core file in ``run_dir`` into gdb.txt; the core is removed."""
    cores = glob.glob(os.path.join(run_dir, "core*"))
    if not cores:
        return None
    core = cores[0]
    if shutil.which("gdb"):
        try:
            done = subprocess.run(["gdb", "-batch", "-nx", "-ex", "thread apply all bt", sys.executable, core],
                                  capture_output=True, text=True, timeout=900)
            with open(os.path.join(run_dir, "gdb.txt"), "w") as f:
                f.write(done.stdout + done.stderr)
        except subprocess.TimeoutExpired:
            pass
    for path in cores:
        os.remove(path)
    return os.path.join(run_dir, "gdb.txt")


def outcome(returncode, stdout, what):
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    if returncode:
        return f"exit {returncode}"
    if what == "distribute":
        try:
            result = json.loads(stdout.strip().splitlines()[-1])
            good = (result["replicas"] == [1, 2] and result["init_equal"] and result["max_rel_error"] < 1e-5
                    and result["moved"] == result["count"])
        except (ValueError, IndexError, KeyError):
            good = False
        return "ok" if good else "wrong"
    return "ok"


def one_run(index, args, env, record_dir):
    run_dir = os.path.join(args.out, f"run-{index:03d}")
    os.makedirs(run_dir, exist_ok=True)
    if args.what == "distribute":
        command = distribute_command()
    elif args.what in ("loop1", "loop2"):
        command = loop_command(int(args.what[-1]), args.steps)
    else:
        command = train_command(run_dir, record_dir, args.steps, args.seed + index)
    start = time.time()
    with open(os.path.join(run_dir, "stdout.txt"), "w") as out, open(os.path.join(run_dir, "stderr.txt"), "w") as err:
        try:
            done = subprocess.run(command, stdout=out, stderr=err, env=env, cwd=run_dir, timeout=args.timeout,
                                  preexec_fn=_unlimited_core)
            returncode = done.returncode
        except subprocess.TimeoutExpired:
            returncode = None
    seconds = time.time() - start
    with open(os.path.join(run_dir, "stdout.txt")) as f:
        stdout = f.read()
    result = "timeout" if returncode is None else outcome(returncode, stdout, args.what)
    if returncode is not None and returncode < 0:
        backtrace(run_dir)
    elif result == "ok" and not args.keep:
        shutil.rmtree(os.path.join(run_dir, "ckpt"), ignore_errors=True)
    return index, result, seconds, run_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", choices=("distribute", "train", "loop1", "loop2"), required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=120, help="meta steps per training run")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every run (repeatable)")
    parser.add_argument("--out", required=True, help="folder for the runs' logs")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a run counts as hung")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the checkpoints of good training runs")
    args = parser.parse_args(argv)

    env = {**os.environ, "PYTHONFAULTHANDLER": "1", "PYTHONPATH": ROOT, "CUDA_VISIBLE_DEVICES": "-1"}
    env.update(item.split("=", 1) for item in args.env)
    os.makedirs(args.out, exist_ok=True)
    record_dir = os.path.join(args.out, "records")
    if args.what == "train" and not glob.glob(os.path.join(record_dir, "*.tfrecord")):
        from tests.train.test_kill_resume import write_tiny_records

        write_tiny_records(record_dir, count=16)
    counts, times, died = collections.Counter(), [], []
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        jobs = [pool.submit(one_run, i, args, env, record_dir) for i in range(args.runs)]
        for job in concurrent.futures.as_completed(jobs):
            index, result, seconds, run_dir = job.result()
            counts[result] += 1
            times.append(seconds)
            if result not in ("ok", "wrong") and not result.startswith("exit"):
                died.append(run_dir)
            print(f"run {index:3d}: {result:8s} {seconds:6.1f} s   [{dict(counts)}]", flush=True)
    summary = {"what": args.what, "runs": args.runs, "steps": None if args.what == "distribute" else args.steps,
               "env": args.env, "parallel": args.parallel, "counts": dict(counts), "died": sorted(died),
               "seconds_per_run": {"min": round(min(times), 1), "median": round(sorted(times)[len(times) // 2], 1),
                                   "max": round(max(times), 1)},
               "wall_s": round(time.time() - started), "load_average_end": os.getloadavg()}
    print(json.dumps(summary))
    return 0 if counts["ok"] == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
