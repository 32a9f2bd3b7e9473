"""Meta-training: distribution strategy, compiled meta step, TensorBoard summaries, checkpoints, progress bar.

``run(cfg)`` is all of main.py. The maths lives in ``meta_step`` and ``losses``; here it is compiled
(``tf.function``), spread over replicas and driven:

- strategy: MultiWorkerMirroredStrategy when TF_CONFIG names more than one worker, MirroredStrategy over the
  GPUs of ``--gpu``, else the default strategy (CPU). Every worker reads the same global meta-batch (same
  seed); replica r takes tasks [r*n, (r+1)*n) of it, n = meta_batch_size / replicas, and divides its task
  gradients by meta_batch_size, so the sum over replicas that Keras' optimizers take is the global mean;
- per step: spectral-norm ``u`` update, finished face labels (``data.pipeline.finish_tasks``, the restorer
  running on the replica's device), meta step; first-order before ``second_order_grad_iter``, second-order
  from then on (two traced graphs);
- every ``print_iter`` steps (and step 1): scalars (global means of every loss term, learning rates) and
  task 0 before / after adaptation with images;
- checkpoints at step 0, every ``save_iter``, at the end and on Ctrl-C (the step finishes first; a second
  Ctrl-C stops at once); a NaN or Inf loss stops the run with no checkpoint written after it.
"""
import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import threading

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from metaf2n_tf.data import pipeline, records
from metaf2n_tf.data.degradations import DegradationConfig
from metaf2n_tf.devices import select_gpus
from metaf2n_tf.errors import ConfigError, InputError, MetaF2NError
from metaf2n_tf.models.discriminator import unet_discriminator_sn, update_spectral_norms
from metaf2n_tf.models import SCALE
from metaf2n_tf.train.checkpoints import Checkpoints, model_directory, training_checkpoint
from metaf2n_tf.train.export import export_h5, export_tf1
from metaf2n_tf.train.init_weights import NO_INIT_WEIGHTS, build_discriminator, build_sr_and_mask
from metaf2n_tf.train.resume import resume_point, sr_and_mask_for
from metaf2n_tf.weights.sources import X4PLUS, read_weights
from metaf2n_tf.train.losses import LossWeights
from metaf2n_tf.train.meta_step import (
    LOSS_KEYS, MetaModels, MetaSettings, inner_rates, make_inner_lrs, meta_step, task_diagnostics)
from metaf2n_tf.weights.torchvision import load_lpips

ADAM_EPSILON = 1e-8  # TF1 AdamOptimizer's default (Keras': 1e-7)
PROGRESS_KEYS = ("objective", "l1", "lpips", "gan", "disc", "inner")


def log(message):
    tqdm.write(f"main.py: {message}", file=sys.stderr)


def _workers_in_tf_config():
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError:
        raise ConfigError("TF_CONFIG: got malformed JSON, expected {\"cluster\": ..., \"task\": ...}") from None
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def make_strategy(gpu):
    """MultiWorkerMirroredStrategy (TF_CONFIG, > 1 worker), MirroredStrategy (GPUs of ``gpu``) or the default."""
    gpus = select_gpus(gpu)
    if _workers_in_tf_config() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if gpus:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy):
    """True except on the non-chief workers of a multi-worker run (they must not write files)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


def settings_from(meta):
    """The meta step's settings from the config's ``meta`` section."""
    weights = LossWeights(l1=meta.l1_weight, lpips=meta.lpips_weight, gan=meta.gan_weight, mask=meta.mask_weight,
                          hf=meta.hf_weight)
    return MetaSettings(task_lr=meta.task_lr, task_iter=meta.task_iter, loss_weights=weights)


def build_models(meta, resume_path=None):
    """SR, MaskNet, discriminator and (when its weight is > 0) LPIPS; call under the strategy's scope.

    A fresh run loads ``--init_weights`` / ``--disc_weights``; a resumed one builds the networks as stored in
    ``resume_path`` and leaves the loading to the checkpoint. LPIPS (frozen, never saved) is always loaded.
    """
    if resume_path is None:
        sr_model, mask_model = build_sr_and_mask(meta.init_weights, meta.num_block)
        disc = build_discriminator(meta.disc_weights)
        if meta.mask_init == "ones" and not read_weights_has_mask(meta.init_weights):
            set_mask_to_ones(mask_model)
    else:
        (sr_model, mask_model), disc = sr_and_mask_for(resume_path, meta.num_block), unet_discriminator_sn()
    lpips = None
    if meta.lpips_weight > 0:
        lpips = load_lpips(meta.alexnet_weights)
    inner_lrs = make_inner_lrs(sr_model) if meta.learn_inner_lr else ()
    return MetaModels(sr=sr_model, mask=mask_model, disc=disc, lpips=lpips, train_sr=not meta.freeze_sr,
                      inner_lrs=inner_lrs)


def read_weights_has_mask(init_weights):
    """True when the init source holds MaskNet weights (then --mask_init does not apply)."""
    if init_weights in (NO_INIT_WEIGHTS, X4PLUS) or init_weights.endswith(".pth"):
        return False
    return read_weights(init_weights).mask is not None


def set_mask_to_ones(mask_model):
    """MaskNet's last conv to kernel 0, bias 1: W = ReLU(1) = 1 everywhere (the plain face L1) at the start,
    while the last kernel still gets a gradient from the features before it."""
    last = mask_model.get_layer("conv8")
    kernel, bias = last.get_weights()
    last.set_weights([np.zeros_like(kernel), np.ones_like(bias)])


def optimizer_rates(meta):
    """``{flag: learning rate}`` of the optimizers, in ``make_optimizers`` order."""
    rates = {"meta_lr": meta.meta_lr, "disc_lr": meta.disc_lr}
    if meta.learn_inner_lr:
        rates["inner_lr_lr"] = meta.inner_lr_lr
    return rates


def make_optimizers(meta):
    """(Adam for SR + MaskNet at meta_lr, Adam for the discriminator at disc_lr[, Adam for the LSLR log-rates
    at inner_lr_lr]), TF1 epsilon."""
    return tuple(keras.optimizers.Adam(rate, epsilon=ADAM_EPSILON) for rate in optimizer_rates(meta).values())


def apply_flag_rates(optimizers, meta, log):
    """After a restore: the flags' learning rates, not the checkpoint's (a Keras optimizer saves its rate as a
    variable, so a resumed run would silently keep the old one); says which changed."""
    for optimizer, (flag, rate) in zip(optimizers, optimizer_rates(meta).items()):
        old = float(optimizer.learning_rate)
        if not np.isclose(old, rate, rtol=1e-6, atol=0.0):
            log(f"note: --{flag} {rate:g} replaces the checkpoint's {old:g}")
        optimizer.learning_rate = rate


def make_restorer(data):
    """The inner-loop label maker: None for ``gt`` (clean faces), GPEN-BFR-256 for ``gpen``."""
    if data.restorer == "gt":
        return None
    if not os.path.isfile(data.gpen_weights):
        raise ConfigError(f"{data.gpen_weights}: GPEN-BFR-256 weights not found; supply --gpen_weights "
                          "or pass --restorer gt (clean faces as labels)")
    from metaf2n_tf.faces.gpen import GPENRestorer  # GPEN is only needed for this restorer

    restorer = GPENRestorer(data.gpen_weights)
    if restorer.size != data.face_size:
        raise ConfigError(f"{data.gpen_weights}: GPEN for {restorer.size}x{restorer.size} faces, "
                          f"expected {data.face_size} (--face_size)")
    return restorer


def make_dataset(data, meta, degradation=DegradationConfig()):
    """Global meta-batches of degraded tasks before face labelling (``pipeline.task_batches``)."""
    return pipeline.task_batches(
        data.tfrecord_path0, data.tfrecord_path1, degradation, face_size=data.face_size, natural_size=data.natural_size,
        face_patch=data.height, natural_patch=data.height1, scale=SCALE, meta_batch_size=meta.meta_batch_size,
        task_batch_size=meta.task_batch_size, seed=meta.seed, shuffle_buffer=data.shuffle_buffer,
        skip_bad_records=data.skip_bad_records,
    ).prefetch(1)


def _record_sets(data):
    return ((data.tfrecord_path0, data.face_size), (data.tfrecord_path1, data.natural_size))


def bad_records_error(bad):
    """InputError naming the first bad record (shard and index) and how many more there are."""
    more = f" (and {len(bad) - 1} more bad record(s))" if len(bad) > 1 else ""
    return InputError(f"{bad[0]}{more}; fix or remove the shard, or pass --skip_bad_records")


def check_records(data):
    """Checks the training records before the run; returns the number of bad ones that will be skipped.

    Without ``--skip_bad_records`` a cheap check (framing, record lengths) runs and a bad record stops the run
    with one line naming its shard and index; with it, every record is read (CRC too) and the bad ones are
    counted in the log and skipped by the pipeline.
    """
    bad = [b for pattern, size in _record_sets(data) for b in records.scan(pattern, size, data.skip_bad_records)]
    if bad and not data.skip_bad_records:
        raise bad_records_error(bad)
    if bad:
        shards = len({b.shard for b in bad})
        log(f"--skip_bad_records: skipping {len(bad)} bad record(s) in {shards} shard(s); first: {bad[0]}")
    return len(bad)


class Batches:
    """``next()`` over the dataset iterator; a record that fails while training is located and named."""

    def __init__(self, iterator, data):
        self.iterator, self.data = iterator, data

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self.iterator)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            bad = [b for pattern, size in _record_sets(self.data) for b in records.scan(pattern, size, full=True)]
            if bad:
                raise bad_records_error(bad) from None
            raise InputError(f"training records: {e.message.splitlines()[0]}") from None


class Trainer:
    """Compiled meta step and diagnostics for models living under ``strategy``.

    Args:
        strategy: a ``tf.distribute`` strategy; models and optimizers were built under its scope.
        models: :class:`MetaModels`.
        optimizers: (generator Adam, discriminator Adam).
        settings: :class:`MetaSettings`.
        global_tasks: tasks per global meta-batch (a multiple of the replica count).
        restorer: face label maker for ``pipeline.finish_tasks`` (None: clean faces).
        face_patch: HQ face patch side.
        texture_threshold: the face-crop texture filter's threshold (``DegradationConfig``).
    """

    def __init__(self, strategy, models, optimizers, settings, global_tasks, restorer=None, face_patch=128,
                 texture_threshold=DegradationConfig().texture_threshold):
        replicas = strategy.num_replicas_in_sync
        if global_tasks % replicas:
            raise ConfigError(f"--meta_batch_size: got {global_tasks}, expected a multiple of the {replicas} replicas")
        self.strategy, self.models, self.optimizers, self.settings = strategy, models, optimizers, settings
        self.global_tasks, self.local_tasks = global_tasks, global_tasks // replicas
        self.restorer, self.face_patch, self.texture_threshold = restorer, face_patch, texture_threshold
        with strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            optimizers[0].build(models.generator_variables())
            optimizers[1].build(models.disc.trainable_variables)
            if models.inner_lrs:
                optimizers[2].build(list(models.inner_lrs))
        self._steps = {}
        self._diagnose = tf.function(self._diagnostics)

    def _finish(self, batch):
        return pipeline.finish_tasks(batch, self.restorer, self.face_patch, SCALE, self.texture_threshold)

    def _replica_step(self, batch, first_order):
        start = tf.distribute.get_replica_context().replica_id_in_sync_group * self.local_tasks
        local = {k: v[start:start + self.local_tasks] for k, v in batch.items()}
        return meta_step(self.models, self.optimizers, self._finish(local), self.settings, self.global_tasks,
                         first_order)

    def _step(self, batch, first_order):
        update_spectral_norms(self.models.disc)
        losses = self.strategy.run(self._replica_step, args=(batch, first_order))
        self.step.assign_add(1)
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, losses[k], axis=None) for k in LOSS_KEYS}

    def train_step(self, batch, first_order=False):
        """One meta step on a global batch (``task_batches`` element); returns the global mean losses."""
        if first_order not in self._steps:
            self._steps[first_order] = tf.function(lambda b: self._step(b, first_order))
        return self._steps[first_order](batch)

    def _diagnostics(self, batch):
        tasks = self._finish(batch)
        runs = [task_diagnostics(self.models, {k: v[i] for k, v in tasks.items()}, self.settings)
                for i in range(tasks["inputa"].shape[0])]
        scalars = {f"task0/{k}": v for k, v in runs[0][0].items()}
        for key in ("inner_before", "inner_after", "outer_before", "outer_adapted", "l1_before", "l1_adapted"):
            scalars[f"adapt/{key}"] = tf.add_n([r[0][key] for r in runs]) / len(runs)
        scalars["adapt/outer_gain"] = scalars["adapt/outer_before"] - scalars["adapt/outer_adapted"]
        scalars["adapt/l1_gain"] = scalars["adapt/l1_before"] - scalars["adapt/l1_adapted"]
        if self.models.inner_lrs:
            rates = tf.stack(inner_rates(self.models, self.settings.task_lr))
            scalars.update({"lslr/min": tf.reduce_min(rates), "lslr/mean": tf.reduce_mean(rates),
                            "lslr/max": tf.reduce_max(rates)})
        return scalars, runs[0][1]

    def diagnostics(self, batch):
        """Every task of ``batch`` before / after adaptation, on the same batch the step trained on:
        (``{name: scalar}``, task 0's images). ``task0/*`` are task 0's values (``task_diagnostics``),
        ``adapt/*`` the means over the tasks of the face loss (inner) and the outer loss and its L1 term
        before / after the inner step, and their gains (before - after); ``lslr/*`` the learned rates."""
        return self._diagnose(batch)


class Summaries:
    """TensorBoard scalars and images in ``{log_dir}{trial}`` (nothing on non-chief workers)."""

    def __init__(self, path, enabled, learning_rates):
        self.writer = tf.summary.create_file_writer(path) if enabled else tf.summary.create_noop_writer()
        self.learning_rates = learning_rates

    def write(self, step, losses, diagnostics):
        scalars, images = diagnostics
        with self.writer.as_default(step=step):
            for name, value in losses.items():
                tf.summary.scalar(f"loss/{name}", value)
            for name, value in scalars.items():
                tf.summary.scalar(name, value)
            for name, value in self.learning_rates.items():
                tf.summary.scalar(f"learning_rate/{name}", value)
            for i, (name, value) in enumerate(images.items(), 1):
                tf.summary.image(f"{i}.{name}", value, max_outputs=4)
        self.writer.flush()


@contextlib.contextmanager
def interrupt_flag():
    """Yields a dict whose ``'requested'`` turns True on the first Ctrl-C; a second Ctrl-C interrupts at once."""
    flag = {"requested": False}
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield flag
        return

    def handler(signum, frame):
        flag["requested"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log("Ctrl-C: saving after this step (Ctrl-C again to stop at once, without saving)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def check_finite(losses, step, last_saved):
    """Raises MetaF2NError naming the step when a loss is NaN or Inf."""
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad:
        name, value = next(iter(bad.items()))
        raise MetaF2NError(f"step {step}: loss '{name}' is {value}; training stopped, nothing saved after "
                           f"model-{last_saved}")


def warn_dead_mask(losses, step, warned):
    """Says once (returns True from then on) when the W-weighted face loss is exactly 0: MaskNet's last ReLU
    outputs 0 on every face pixel, so the inner step changes nothing, and no gradient reaches MaskNet again
    (ReLU passes none below 0), not even its regulariser's pull towards W = 1. A MaskNet learning rate too
    large for the run gets there in a few steps."""
    dead = losses["inner"] == 0.0
    if dead and not warned:
        log(f"warning: step {step}: MaskNet gives W = 0 on every face pixel, so the inner step changes nothing, "
            f"and W = 0 does not recover (its last ReLU passes no gradient); lower --meta_lr, or resume from "
            f"an earlier checkpoint")
    return warned or dead


def train(trainer, iterator, checkpoints, summaries, meta):
    """Runs meta steps from the trainer's step to ``meta_iter``; returns the last step (saved)."""
    step = last_saved = int(trainer.step.numpy())
    mask_dead = False
    with interrupt_flag() as interrupt, tqdm(total=meta.meta_iter, initial=step, desc="meta steps",
                                              unit="step", file=sys.stderr, dynamic_ncols=True) as bar:
        while step < meta.meta_iter and not interrupt["requested"]:
            batch = next(iterator)
            losses = trainer.train_step(batch, first_order=step < meta.second_order_grad_iter)
            step = int(trainer.step.numpy())
            values = {k: float(v) for k, v in losses.items()}
            check_finite(values, step, last_saved)
            mask_dead = warn_dead_mask(values, step, mask_dead)
            bar.update(1)
            bar.set_postfix({k: f"{values[k]:.4f}" for k in PROGRESS_KEYS})
            if step % meta.print_iter == 0 or step == 1:
                summaries.write(step, values, trainer.diagnostics(batch))
            if step % meta.save_iter == 0 or step == meta.meta_iter:
                checkpoints.save(step)
                last_saved = step
        if step != last_saved:
            checkpoints.save(step)
    if interrupt["requested"]:
        raise KeyboardInterrupt(f"interrupted at step {step}; saved model-{step}")
    return step


def save_config(cfg, directory, step):
    """Writes every setting of the run (``cfg`` resolved: flags, defaults, degradation) to
    ``{directory}/config-{step}.json``, one file per start or resume."""
    path = os.path.join(directory, f"config-{step}.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)
    return path


def run(cfg, strategy=None):
    """main.py: trains (or, with ``--export``, exports) as configured; ``strategy`` overrides the choice."""
    meta, data = cfg.meta, cfg.data
    directory = model_directory(meta.checkpoint_dir, meta.trial)
    if meta.export:
        if meta.export.endswith(".h5"):
            path, step, overlay = export_h5(directory, meta.export, meta.init_weights)
        else:
            (path, step), overlay = export_tf1(directory, meta.export), False
        what = f"Mask/* and LSLR/* over {meta.init_weights}" if overlay else "MODEL/*, Mask/*"
        log(f"exported model-{step} of {directory} to {path} ({what})")
        return step
    resume_path = resume_point(directory, meta.step)
    strategy = strategy or make_strategy(meta.gpu)
    keras.utils.set_random_seed(meta.seed)
    with strategy.scope():
        models = build_models(meta, resume_path)
        optimizers = make_optimizers(meta)
        restorer = make_restorer(data)
        trainer = Trainer(strategy, models, optimizers, settings_from(meta), meta.meta_batch_size, restorer,
                          data.height, cfg.degradation.texture_threshold)
        checkpoint = training_checkpoint(models, optimizers, trainer.step)
    check_records(data)
    iterator = iter(make_dataset(data, meta, cfg.degradation))
    checkpoints = Checkpoints(directory, checkpoint, iterator, write=is_chief(strategy))
    if resume_path is None:
        checkpoints.save(0)
    else:
        checkpoints.restore(resume_path)
        log(f"resumed from {resume_path}")
        apply_flag_rates(optimizers, meta, log)
    if is_chief(strategy):
        save_config(cfg, directory, int(trainer.step.numpy()))
    count = sum(int(tf.size(v)) for v in models.generator_variables())
    log(f"{strategy.num_replicas_in_sync} replica(s); SR + MaskNet parameters: {count / 1000:.0f} K; "
        f"starting at step {int(trainer.step.numpy())} of {meta.meta_iter}")
    learning_rates = {"meta": meta.meta_lr, "disc": meta.disc_lr, "task": meta.task_lr}
    if meta.learn_inner_lr:
        learning_rates["inner_lr"] = meta.inner_lr_lr
    summaries = Summaries(f"{meta.log_dir}{meta.trial}", is_chief(strategy), learning_rates)
    return train(trainer, Batches(iterator, data), checkpoints, summaries, meta)
