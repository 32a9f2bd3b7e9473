"""Kill-anywhere training: a harness that SIGKILLs a tiny main.py run (at a random moment, or inside a checkpoint
write), restarts it each time with the documented blind command (``--step latest``), and checks that

- after every kill the latest checkpoint is complete (every tensor reads) and no older than before the kill;
- the restarted run resumes from exactly that checkpoint (its log line);
- the final weights equal those of an uninterrupted run with the same flags, bit for bit.

The reference is the uninterrupted run (a different process history), not the resumed code path itself.
The test kills once, inside a checkpoint write (the dangerous moment); ``tools/kill_resume.py`` runs the same
harness for many kills, random ones included, and prints the figures.
"""
import glob
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf.data import records
from tests.scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 3


def write_tiny_records(folder, count=12, seed=0):
    """Smooth random 64^2 faces and 96^2 natural images (the tiny run's records)."""
    import cv2

    rng = np.random.default_rng(seed)
    for prefix, size in (("whole_face", 64), ("back96", 96)):
        with records.ShardWriter(str(folder), prefix, 100) as writer:
            for _ in range(count):
                base = rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.uint8)
                writer.write(records.encode(cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC)))
            writer.close()


# The tiny run (1 block, faces 8 -> 32, patches 16 -> 64, L1 + GAN + mask) of this test and of tools/soak.py.
TINY_RUN = {"trial": 1, "gpu": "", "face_size": 64, "natural_size": 96, "height": 32, "width": 32, "height1": 64,
            "width1": 64, "restorer": "gt", "lpips_weight": 0, "init_weights": "none", "num_block": 1,
            "meta_batch_size": 2, "task_batch_size": 2}


def main_command(record_dir, checkpoint_dir, steps=STEPS, seed=3, **flags):
    """main.py on the tiny run's records; by default the documented blind restart command (``--step latest``)
    with a save every step. ``flags`` override any flag (``step=0``, ``save_iter=50``, ...)."""
    flags = {**TINY_RUN, "step": "latest", "checkpoint_dir": checkpoint_dir, "log_dir": f"{checkpoint_dir}/logs",
             "tfrecord_path0": f"{record_dir}/whole_face*", "tfrecord_path1": f"{record_dir}/back96*",
             "meta_iter": steps, "save_iter": 1, "print_iter": 1000, "seed": seed, "shuffle_buffer": 8,
             "meta_lr": 2e-3, **flags}
    return [sys.executable, os.path.join(ROOT, "main.py")] + [f"--{name}={value}" for name, value in flags.items()]


def _env():
    return {**os.environ, "PYTHONPATH": ROOT, "CUDA_VISIBLE_DEVICES": "-1"}


def variables(path):
    """Every saved value of a training checkpoint (reads each tensor: fails on a damaged checkpoint)."""
    reader = tf.train.load_checkpoint(path)
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map() if n.endswith("VARIABLE_VALUE")}


def latest(checkpoint_dir):
    return tf.train.latest_checkpoint(os.path.join(checkpoint_dir, "Model1"))


def step_of(path):
    return -1 if path is None else int(re.findall(r"\d+", os.path.basename(path))[-1])


def _saving(model_dir, since):
    """True while TensorFlow is writing a checkpoint: a ``*_temp`` folder written to after ``since`` (a killed
    save leaves its folder behind; the next save of that step reuses it)."""
    found = glob.glob(os.path.join(model_dir, "*_temp*")) + glob.glob(os.path.join(model_dir, "data", "*_temp*"))
    for path in found:
        try:
            if os.stat(path).st_mtime >= since:
                return True
        except FileNotFoundError:  # finished and removed meanwhile
            continue
    return False


def kill_once(command, checkpoint_dir, rng, mode, max_delay=60.0):
    """Starts ``command``, SIGKILLs it (``mode`` 'random': after a uniform delay; 'save': once a checkpoint
    write of a step >= 1 is seen in progress) and checks the latest checkpoint afterwards.

    Returns a dict: before / after (latest step), finished (the run ended before the kill), in_save (a
    checkpoint write was in progress at the kill), resumed_from (what the run logged), delay.
    """
    model_dir = os.path.join(checkpoint_dir, "Model1")
    os.makedirs(checkpoint_dir, exist_ok=True)
    before = latest(checkpoint_dir)
    log_path = os.path.join(checkpoint_dir, f"kill-{time.time_ns()}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=log, env=_env(), cwd=ROOT)
        start, delay = time.time(), rng.uniform(0, max_delay)
        in_save = False
        while proc.poll() is None:
            elapsed = time.time() - start
            if mode == "random" and elapsed >= delay:
                break
            if mode == "save" and _saving(model_dir, start) and step_of(latest(checkpoint_dir)) >= 0:
                break
            if elapsed > 900:
                break
            time.sleep(0.002)
        in_save = _saving(model_dir, start)
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    with open(log_path) as f:
        text = f.read()
    resumed = re.search(r"resumed from (\S+)", text)
    after = latest(checkpoint_dir)
    if after is not None:
        variables(after)  # complete: every tensor reads
    return {"before": step_of(before), "after": step_of(after), "finished": finished, "in_save": in_save,
            "resumed_from": resumed.group(1) if resumed else None, "expected_from": before,
            "delay": round(time.time() - start, 2), "returncode": proc.returncode, "log": text[-2000:]}


def run_to_end(command):
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def run_in_process(command):
    """The same run inside this interpreter (saves a TensorFlow start-up; used for the reference run)."""
    assert load_script("main.py").main(command[2:]) == 0


def check_kill(result):
    """The invariants of one kill (see the module docstring)."""
    assert result["after"] >= result["before"], result
    if result["resumed_from"] is not None:
        assert result["resumed_from"] == result["expected_from"], result
    elif result["before"] >= 0 and "starting at step" in result["log"]:
        raise AssertionError(f"run did not resume from {result['expected_from']}: {result['log']}")


def assert_same_weights(reference_dir, resumed_dir, steps=STEPS):
    a, b = variables(latest(reference_dir)), variables(latest(resumed_dir))
    assert step_of(latest(reference_dir)) == step_of(latest(resumed_dir)) == steps
    assert a.keys() == b.keys() and len(a) > 100
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    write_tiny_records(root / "rec")
    run_in_process(main_command(root / "rec", root / "ref"))
    return root


@pytest.mark.slow
def test_kill_inside_a_save_resumes_to_identical_weights(reference):
    """A SIGKILL inside a checkpoint write, then the same blind restart command runs to the end: the latest
    checkpoint after the kill is complete, the restart resumes from it, and the final weights equal the
    uninterrupted run's. Kills at random moments (start-up, tracing, steps) are ``tools/kill_resume.py``'s
    job (``--kills 30``; its figures are in the README's "What it survives")."""
    root = reference
    target = str(root / "killed")
    command = main_command(root / "rec", target)
    result = kill_once(command, target, np.random.default_rng(0), "save")
    check_kill(result)
    assert result["in_save"] and not result["finished"], result
    before = latest(target)
    err = run_to_end(command)
    assert "resumed from " + before in err  # the restart takes the latest complete checkpoint
    assert_same_weights(str(root / "ref"), target)


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return apply


def test_full_disk_during_a_save_is_one_line_and_keeps_the_latest_checkpoint(reference):
    """A file-size limit (``ulimit -f``) below a checkpoint's size: the save fails, nothing else does."""
    root = reference
    target = root / "full"
    shutil.copytree(root / "ref", target)
    before = latest(str(target))
    command = main_command(root / "rec", target, steps=STEPS + 1)
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=1800,
                          preexec_fn=_limit_file_size(200_000))
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"main\.py: {re.escape(str(target))}/Model1/(data/data|model)-{STEPS + 1}: cannot write the "
                        rf"checkpoint \(.*\); the latest complete checkpoint stays model-{STEPS}", last), last
    assert latest(str(target)) == before and step_of(before) == STEPS
    a, b = variables(latest(str(root / "ref"))), variables(before)  # still complete and unchanged
    assert all(np.array_equal(a[n], b[n]) for n in a)
