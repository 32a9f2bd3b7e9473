"""Meta-training speed and memory: seconds per meta step, first- vs second-order, peak memory.

    python benchmarks/bench_train.py [--num_block 23] [--meta_batch_size 4] [--task_batch_size 4]
        [--face_patch 128] [--natural_patch 256] [--steps 2] [--orders first,second] [--no_lpips]

Defaults are the original's training sizes (23 RRDB blocks, 4 tasks x 4 patches, faces 32 -> 128, natural
patches 64 -> 256, LPIPS + GAN + mask terms on). Each order runs in its own child process on a synthetic
meta-batch (random weights and images: speed does not depend on the values), with the strategy main.py
would choose (MirroredStrategy on the visible GPUs, else the default CPU strategy). Prints, per order:
tracing + first step, the best of ``--steps`` further steps, meta steps per second, and peak memory (GPU
allocator peak when on a GPU, else the process's peak RSS); then the second- / first-order cost ratio.
Tasks run one after another in the step, so a step's time grows linearly with --meta_batch_size.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, resource, sys, time
import numpy as np
import metaf2n_tf
import keras
import tensorflow as tf
from metaf2n_tf.models.discriminator import unet_discriminator_sn
from metaf2n_tf.models.lpips import lpips_model
from metaf2n_tf.models.masknet import masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train.loop import Trainer, make_optimizers, make_strategy
from metaf2n_tf.train.meta_step import MetaModels, MetaSettings
from config import MetaConfig

a = json.loads(sys.argv[1])
strategy = make_strategy("0")
rng = np.random.default_rng(0)
m, t = a["meta_batch_size"], a["task_batch_size"]
images = lambda side: tf.constant(rng.random((m, t, side, side, 3)), tf.float32)
face_size = 2 * a["face_patch"]
batch = {"face_lq": images(face_size // 4), "face": images(face_size), "flip": tf.zeros((m, t), tf.bool),
         "face_corners": tf.zeros((m, t, 6, 2), tf.int32), "inputb": images(a["natural_patch"] // 4),
         "labelb": images(a["natural_patch"]), "labelb_nousm": images(a["natural_patch"])}
with strategy.scope():
    models = MetaModels(rrdbnet(num_block=a["num_block"]), masknet(), unet_discriminator_sn(),
                        None if a["no_lpips"] else lpips_model())
    trainer = Trainer(strategy, models, make_optimizers(MetaConfig()), MetaSettings(), m, None, a["face_patch"])
first_order = a["order"] == "first"
start = time.perf_counter()
float(trainer.train_step(batch, first_order)["objective"])
first = time.perf_counter() - start
times = []
for _ in range(a["steps"]):
    start = time.perf_counter()
    float(trainer.train_step(batch, first_order)["objective"])
    times.append(time.perf_counter() - start)
gpus = tf.config.list_logical_devices("GPU")
peak = (tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20 if gpus
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps({"first": first, "step": min(times), "peak_mib": peak, "device": "GPU" if gpus else "CPU",
                  "replicas": strategy.num_replicas_in_sync}))
"""


def run_child(settings):
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(settings)], capture_output=True, text=True,
                            cwd=ROOT, env=env)
    if result.returncode:
        print(result.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_block", type=int, default=23)
    parser.add_argument("--meta_batch_size", type=int, default=4)
    parser.add_argument("--task_batch_size", type=int, default=4)
    parser.add_argument("--face_patch", type=int, default=128, help="HQ face patch side (LQ = /4)")
    parser.add_argument("--natural_patch", type=int, default=256, help="HQ natural patch side (LQ = /4)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps after the first (traced) one")
    parser.add_argument("--orders", default="first,second", help="comma-separated: first, second")
    parser.add_argument("--no_lpips", action="store_true", help="switch the LPIPS term off")
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{args.num_block} blocks, {args.meta_batch_size} tasks x {args.task_batch_size}, faces "
          f"{args.face_patch // 4}->{args.face_patch}, natural {args.natural_patch // 4}->{args.natural_patch}, "
          f"LPIPS {'off' if args.no_lpips else 'on'}")
    seconds = {}
    for order in args.orders.split(","):
        result = run_child({**vars(args), "order": order})
        if result is None:
            continue
        seconds[order] = result["step"]
        print(f"{order}-order on {result['replicas']} {result['device']} replica(s): trace + first step "
              f"{result['first']:.1f} s, then {result['step']:.2f} s per meta step "
              f"({1 / result['step']:.3g} steps/s), peak memory {result['peak_mib']:.0f} MiB")
    if len(seconds) == 2:
        print(f"second- / first-order cost: {seconds['second'] / seconds['first']:.2f}x")


if __name__ == "__main__":
    main()
