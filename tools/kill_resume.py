"""Kill-anywhere figure: SIGKILL a tiny training run many times, restart it blindly each time, compare the end.

    python tools/kill_resume.py --kills 30 --steps 40 --out /tmp/kill_resume

One uninterrupted reference run, then the same command (``main.py --step latest ...``, the harness of
``tests/train/test_kill_resume.py``: 1 RRDB block, faces 8 -> 32, patches 16 -> 64, a checkpoint every step)
is started again and again and killed, alternately at a uniform random moment of its life (start-up,
tracing, steps, saves) and as soon as a checkpoint write is seen in progress, until ``--kills`` kills
landed; then it runs to the end. After every kill: the latest checkpoint must read completely and be no
older than before, and the next start must resume from exactly it. At the end every saved tensor must
equal the reference run's. Prints one line per kill and a JSON summary.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import metaf2n_tf  # noqa: E402,F401  (before the test module's TensorFlow import: a quiet import)
from tests.train.test_kill_resume import (  # noqa: E402
    assert_same_weights, check_kill, kill_once, main_command, run_to_end, write_tiny_records)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40, help="meta steps of the run (enough to absorb the kills)")
    parser.add_argument("--max_delay", type=float, default=90.0, help="random kills land in [0, this] seconds")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget_s", type=float, default=0, help="stop killing after this many seconds (0: never)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    record_dir, reference, target = (os.path.join(args.out, n) for n in ("rec", "reference", "killed"))
    write_tiny_records(record_dir)
    started = time.time()
    run_to_end(main_command(record_dir, reference, args.steps))
    print(f"reference run: {time.time() - started:.0f} s", flush=True)
    command = main_command(record_dir, target, args.steps)
    kills, in_save, failures, finished = 0, 0, [], False
    while kills < args.kills and not (args.budget_s and time.time() - started > args.budget_s):
        mode = "save" if kills % 2 else "random"
        result = kill_once(command, target, rng, mode, args.max_delay)
        if result["finished"]:
            finished = True
            break
        kills += 1
        in_save += result["in_save"]
        try:
            check_kill(result)
            verdict = "ok"
        except AssertionError as e:
            verdict = f"FAILED {e}"
            failures.append(verdict)
        print(f"kill {kills:2d} ({mode:6s}) at {result['delay']:6.1f} s: latest model-{result['before']} -> "
              f"model-{result['after']}, inside a save: {result['in_save']}, resumed from "
              f"{os.path.basename(result['resumed_from'] or '-')}: {verdict}", flush=True)
    run_to_end(command)
    try:
        assert_same_weights(reference, target, args.steps)
        identical = True
    except AssertionError as e:
        identical = False
        failures.append(f"final weights differ: {str(e)[:300]}")
    summary = {"kills": kills, "inside_a_save": in_save, "ran_out_of_steps": finished, "invariant_failures": len(failures),
               "final_weights_identical": identical, "steps": args.steps, "wall_s": round(time.time() - started),
               "load_average_end": os.getloadavg()}
    print(json.dumps(summary))
    return 0 if identical and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
