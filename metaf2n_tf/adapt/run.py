"""test.py's work: for every LQ photo, adapt on its face pairs, super-resolve it whole, save it."""
import dataclasses
import os
import sys
import tempfile
import zlib

import numpy as np
from tqdm import tqdm

from metaf2n_tf.adapt.backend import BACKENDS, make_sr, values_to_tensors
from metaf2n_tf.adapt.face_pairs import load_face_patches
from metaf2n_tf.adapt.tiling import available_memory
from metaf2n_tf.data.images import read_rgb, set_max_pixels, to_float, to_uint8, write_rgb
from metaf2n_tf.devices import select_gpus
from metaf2n_tf.errors import ConfigError, InputError, MetaF2NError
from metaf2n_tf.weights.sources import build_models, read_weights


def check_backend(backend):
    """ConfigError unless ``backend`` is one of :data:`metaf2n_tf.adapt.backend.BACKENDS`."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: got '{backend}', expected one of {', '.join(BACKENDS)}")
    return backend


def super_resolve_photo(sr, image, sr_tensors=None, tile=-1, tile_pad=48, max_memory=None, progress=None):
    """Whole-image SR of one uint8 RGB photo -> uint8 RGB at x4, on the engine ``sr`` (``backend.make_sr``).

    The one entry point for whole-photo SR (test.py, enhance.py, app.py). ``sr_tensors``: this photo's
    (adapted) weights as ``{TF1 name: array}``, None for the loaded ones. ``progress`` (optional) is called
    as ``progress(i, n)`` after tile i of n (1, 1 when the photo runs whole).
    """
    out = sr.super_resolve(to_float(image), sr_tensors, tile=tile, tile_pad=tile_pad, max_memory=max_memory,
                           progress=progress)
    return to_uint8(out)


@dataclasses.dataclass
class RunSummary:
    written: list
    failed: list  # paths of photos with an error (unreadable, bad face pairs)
    no_faces: list
    skipped: list = dataclasses.field(default_factory=list)  # --skip_existing: results already there


def list_inputs(input_dir):
    """Every regular, non-hidden file of ``input_dir``, sorted; a missing or empty folder is an error."""
    if not os.path.isdir(input_dir):
        raise InputError(f"{input_dir}: input folder not found")
    paths = sorted(
        os.path.join(input_dir, n) for n in os.listdir(input_dir)
        if not n.startswith(".") and os.path.isfile(os.path.join(input_dir, n))
    )
    if not paths:
        raise InputError(f"{input_dir}: input folder is empty")
    return paths


def prepare_output_dir(output_dir):
    """Creates ``output_dir`` and checks that it is writable before any work is done."""
    try:
        os.makedirs(output_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir):
            pass
    except OSError as e:
        raise InputError(f"{output_dir}: output folder not writable ({e.strerror or e})") from None


def image_rng(seed, name):
    """Per-photo random stream: the same photo gets the same patches whatever else is in the folder."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def run_folder(cfg, log=None):
    """Runs test-time adaptation + SR over ``cfg.input_dir`` (an ``AdaptConfig``); returns a RunSummary.

    Adaptation runs in TensorFlow (it needs gradients); whole-image SR runs on ``cfg.backend`` with the
    adapted weights passed in memory. With ``fine_tune_num`` 0 and OpenVINO, TensorFlow is never imported.
    Results are written atomically, so with ``skip_existing`` a rerun after a kill skips exactly the photos
    whose result is complete. A photo that cannot be read or written is one line; the next one goes on.
    """
    log = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
    set_max_pixels(cfg.max_pixels)
    inputs = list_inputs(cfg.input_dir)
    prepare_output_dir(cfg.output_dir)
    if cfg.fine_tune_num > 0 or cfg.backend == "tf":  # TensorFlow is needed: choose its devices first
        select_gpus(cfg.gpu)
    weights = read_weights(cfg.model_dir)
    adapter = None
    if cfg.fine_tune_num > 0:
        from metaf2n_tf.adapt.tta import Adapter  # imports TensorFlow: only adaptation (or the tf backend) needs it

        sr_model, mask_model = build_models(weights)
        rates = weights.sgd_rates(sr_model) if cfg.optimizer == "sgd" else None
        if rates is not None:
            log(f"note: {cfg.model_dir} holds learned per-tensor SGD rates (LSLR): they replace --lr {cfg.lr:g}")
        adapter = Adapter(sr_model, mask_model, optimizer=cfg.optimizer, lr=cfg.lr, rates=rates)
        base = adapter.initial_weights()
    sr = make_sr(weights, cfg.backend, cfg.gpu, adapter=adapter, log=log)
    max_memory = cfg.max_memory * 2**30 if cfg.max_memory > 0 else available_memory() / 2  # fixed at start
    summary = RunSummary([], [], [])
    bar = tqdm(inputs, desc="test.py", unit="img", file=sys.stderr, dynamic_ncols=True)
    for path in bar:
        name = os.path.splitext(os.path.basename(path))[0]
        out_path = os.path.join(cfg.output_dir, name + ".png")
        if cfg.skip_existing and os.path.isfile(out_path):
            summary.skipped.append(path)
            continue
        try:
            image = read_rgb(path)
        except InputError as e:
            log(f"error: {e}")
            summary.failed.append(path)
            continue
        adapted = None
        if cfg.fine_tune_num > 0:
            faces = load_face_patches(cfg.face_dir, name, cfg.patch_size, cfg.patch_num_per_img, image_rng(cfg.seed, name))
            for msg in faces.errors:
                log(f"error: {msg}")
            for msg in faces.warnings:
                log(f"warning: {msg}")
            if faces.errors:
                summary.failed.append(path)
            if faces.lq is None:
                log(f"warning: {path}: no usable face pairs in {cfg.face_dir}; super-resolved without adaptation")
                summary.no_faces.append(path)
            else:
                values, losses = adapter.adapt(base, to_float(faces.lq), to_float(faces.hq), cfg.fine_tune_num)
                adapted = values_to_tensors(adapter.sr_model, values)
                bar.set_postfix_str(f"{name}: {len(faces.used)} face(s), loss {losses[0]:.4f}->{losses[-1]:.4f}")
        out = super_resolve_photo(sr, image, adapted, cfg.tile, cfg.tile_pad, max_memory)
        try:
            write_rgb(out_path, out)
        except MetaF2NError as e:
            log(f"error: {e}")
            summary.failed.append(path)
            continue
        summary.written.append(out_path)
    return summary
