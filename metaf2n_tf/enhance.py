"""One photo in, one photo out: detect, restore, adapt, super-resolve (enhance.py and app.py).

Each step is the existing module's: RetinaFace (``faces.detect``), alignment and restoration
(``faces.pairs`` with a restorer of ``faces.restore``), adaptation patches (``adapt.face_pairs``), the
adaptation itself (``adapt.tta.Adapter``) and whole-image SR (``adapt.run.super_resolve_photo``, test.py's
own). Nothing is written between the steps: the face pairs stay in memory (``save_faces`` writes them in
generate_test_faces.py's layout).

Adaptation settings (``--adapt``):

- ``original``: the paper's rule, SGD lr 0.01, one step; what meta-trained weights (with a MaskNet) expect.
- ``adam``: Adam lr 1e-4, 10 steps.
- ``none``: plain SR.
- ``auto``: ``original`` for weights that carry a MaskNet (MetaF2N's release, this project's training),
  :data:`AUTO_PLAIN` for plain SR weights (Real-ESRGAN x4plus, a .pth). Measured on the degraded demo photo
  with the oracle restorer (README, "Enhance your photos"): on x4plus the original rule costs 3.9 dB PSNR-Y,
  Adam x10 gains 2.5 dB (the only setting above bicubic) but smooths the photo (less natural: NIQE rises);
  the page and the JSON always show both kinds of figure, so the user sees the trade.
"""
import dataclasses
import json
import os
import sys
import time
import zlib

import cv2
import numpy as np

from metaf2n_tf.adapt.face_pairs import cut_face_patches
from metaf2n_tf.adapt.backend import make_sr, values_to_tensors
from metaf2n_tf.adapt.run import check_backend, image_rng, list_inputs, prepare_output_dir, super_resolve_photo
from metaf2n_tf.adapt.tta import Adapter, face_weights
from metaf2n_tf.data.images import read_rgb, to_float, write_rgb
from metaf2n_tf.errors import ConfigError, InputError, MetaF2NError
from metaf2n_tf.faces import align, detect, pairs as face_pairs, restore
from metaf2n_tf.faces.paste import paste_faces
from metaf2n_tf.metrics.evaluate import image_metrics
from metaf2n_tf.metrics.niqe import load_niqe_params
from metaf2n_tf.weights.sources import X4PLUS, build_models, read_weights

ADAPT_CHOICES = ("auto", "original", "adam", "none")
# name -> (optimizer, lr, steps)
PRESETS = {"original": ("sgd", 0.01, 1), "adam": ("adam", 1e-4, 10), "none": ("sgd", 0.0, 0)}
AUTO_PLAIN = "adam"
AUTO_PLAIN_WHY = ("plain SR weights (no MaskNet): Adam lr 1e-4 x10, +2.5 dB PSNR-Y on the demo photo where the "
                  "original rule loses 3.9 dB; it also smooths (less natural, see NIQE): --adapt none keeps the look")
AUTO_MASKNET_WHY = "weights with a MaskNet (meta-trained): the paper's rule, SGD lr 0.01 x1"
RESTORER_CHOICES = ("gpen", "dmdnet", "gt", "none")
WEIGHTS_HINT = {
    "gpen": "--gpen_weights GPEN-BFR-512.pth (from the GPEN release)",
    "dmdnet": "--dmdnet_weights DMDNet.pth (from the DMDNet release)",
}
DEFAULT_MAX_PIXELS = 4_000_000
STAGES = ("read", "detect", "restore", "adapt", "sr", "sr_plain", "paste", "metrics", "write")
JSON_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that decides one photo's result besides the SR weights and the restorer."""

    adapt: str = "auto"
    steps: int | None = None  # overrides the preset's
    lr: float | None = None  # overrides the preset's
    patch_size: int = 64
    patch_num: int = 16
    seed: int = 0
    tile: int = -1
    tile_pad: int = 48
    backend: str = "auto"
    score_threshold: float = 0.9
    paste_faces: bool = False
    plain: bool = False  # also super-resolve without adaptation (compare image, page slider)
    max_pixels: int = DEFAULT_MAX_PIXELS  # LQ photo limit; 0 = none


@dataclasses.dataclass(frozen=True)
class Plan:
    """The adaptation a photo gets: resolved from ``--adapt`` and the weights."""

    name: str
    optimizer: str
    lr: float
    steps: int
    why: str


@dataclasses.dataclass
class Result:
    image: np.ndarray  # uint8 x4 result
    plain: np.ndarray | None  # uint8 x4 plain SR (None unless Settings.plain)
    pairs: list  # faces.pairs.FacePair
    masks: list  # MaskNet's W per face pair [4h, 4w] float, empty without a MaskNet
    record: dict  # the JSON record (see :func:`make_record`)


def check_settings(s):
    """ConfigError for a setting no photo could run with."""
    if s.adapt not in ADAPT_CHOICES:
        raise ConfigError(f"--adapt: got '{s.adapt}', expected one of {', '.join(ADAPT_CHOICES)}")
    if s.steps is not None and s.steps < 0:
        raise ConfigError(f"--steps: got {s.steps}, expected >= 0")
    if s.lr is not None and not s.lr > 0:
        raise ConfigError(f"--lr: got {s.lr}, expected > 0")
    if s.patch_size < 4 or s.patch_size % 4:
        raise ConfigError(f"--patch_size: got {s.patch_size}, expected a positive multiple of 4")
    if s.patch_num < 1 or s.tile_pad < 0 or s.max_pixels < 0:
        raise ConfigError("--patch_num must be >= 1, --tile_pad and --max_pixels >= 0")
    detect.check_score_threshold(s.score_threshold)
    check_backend(s.backend)
    return s


def resolve_plan(adapt, has_masknet, steps=None, lr=None):
    """``--adapt`` (+ ``--steps``/``--lr`` overrides) -> :class:`Plan`."""
    if adapt == "auto":
        name, why = ("original", AUTO_MASKNET_WHY) if has_masknet else (AUTO_PLAIN, AUTO_PLAIN_WHY)
    else:
        name, why = adapt, f"--adapt {adapt}"
    optimizer, preset_lr, preset_steps = PRESETS[name]
    steps = preset_steps if steps is None else steps
    if name == "none":
        steps = 0
    return Plan(name, optimizer, preset_lr if lr is None else lr, steps, why)


def build_restorer(name, gt_dir=None, gpen_weights=None, dmdnet_weights=None, dmdnet_landmarks=None):
    """The restorer of ``--restorer`` -> (restorer or None, note or None).

    ``none``, and a network restorer without weights, give None (plain SR); the note says what to supply.
    """
    if name not in RESTORER_CHOICES:
        raise ConfigError(f"--restorer: got '{name}', expected one of {', '.join(RESTORER_CHOICES)}")
    if name == "none":
        return None, None
    if name == "gt":
        return restore.restorer_by_name("gt", gt_dir=gt_dir), None
    weights = {"gpen": gpen_weights, "dmdnet": dmdnet_weights}[name]
    if not weights:
        return None, f"--restorer {name}: no weights given, supply {WEIGHTS_HINT[name]}; super-resolving without adaptation"
    return restore.restorer_by_name(name, weights=weights, landmarks=dmdnet_landmarks), None


def read_photo(path, max_pixels):
    """(uint8 RGB photo, notes): ``data.images.read_rgb`` with the header checked against ``max_pixels``
    (0 = no limit) before decoding; notes say how a grey, 16-bit, float or alpha image was converted."""
    notes = []
    return read_rgb(path, max_pixels, notes), notes


class Enhancer:
    """The SR model (and MaskNet) loaded once; :meth:`enhance` runs one photo through every step."""

    def __init__(self, model_dir=X4PLUS):
        self.model_dir = os.fspath(model_dir)
        self.weights = read_weights(self.model_dir)
        self.sr_model, self.mask_model = build_models(self.weights)
        self._adapters = {}
        self._engines = {}
        self._base = None

    @property
    def has_masknet(self):
        return self.mask_model is not None

    def adapter(self, optimizer="sgd", lr=0.01):
        """The compiled Adapter of (optimizer, lr), built once."""
        key = (optimizer, float(lr))
        if key not in self._adapters:
            self._adapters[key] = Adapter(self.sr_model, self.mask_model, optimizer=optimizer, lr=lr, warn=False)
            if self._base is None:
                self._base = self._adapters[key].initial_weights()
        return self._adapters[key]

    def engine(self, backend, adapter):
        """The whole-image SR engine of ``backend`` (``adapt.backend.make_sr``), built once; TF shares ``adapter``'s model."""
        if backend not in self._engines:
            self._engines[backend] = make_sr(self.weights, backend, adapter=adapter)
        return self._engines[backend]

    def plan(self, settings):
        return resolve_plan(settings.adapt, self.has_masknet, settings.steps, settings.lr)

    def enhance(self, lq, restorer=None, gt=None, settings=Settings(), name="photo", progress=None,
                niqe_params=None, notes=()):
        """Runs one uint8 RGB photo through detect -> restore -> adapt -> SR (-> paste, metrics).

        Args:
          lq: the photo, HxWx3 uint8 RGB.
          restorer: from :func:`build_restorer` (None: no adaptation, plain SR).
          gt: the ground truth (4H x 4W) or None; needed by the ``gt`` restorer, enables PSNR/SSIM.
          settings: :class:`Settings`.
          name: the photo's name (seeds its random patches, as test.py does).
          progress: optional ``progress(stage, i, n)``: stage in :data:`STAGES`, step i of n.
          niqe_params: from ``metrics.niqe.load_niqe_params`` (NIQE is left out without them).
          notes: warnings already raised for this photo (reading), kept in the record.
        Returns:
          :class:`Result`.
        """
        progress = progress or (lambda stage, i, n: None)
        timings, warn = {}, list(notes)
        plan = self.plan(settings)
        adapter = self.adapter(plan.optimizer, plan.lr)
        if gt is not None:
            restore.check_gt_shape(gt.shape, lq.shape, what=f"{name}: ground truth")

        clock = time.perf_counter()
        progress("detect", 0, 1)
        faces = detect.detect_faces(lq, settings.score_threshold, backend=settings.backend)
        timings["detect"] = _lap(clock)

        clock, pairs, used, losses, masks = time.perf_counter(), [], [], [], []
        weights = self._base
        if restorer is None:
            reason = "no restorer" if faces else "no face"
        elif not faces:
            reason = "no face"
            warn.append(f"{name}: no face found (score >= {settings.score_threshold}); super-resolved without adaptation")
        else:
            progress("restore", 0, len(faces))
            pairs = face_pairs.make_face_pairs(lq, faces, restorer, gt)
            timings["restore"] = _lap(clock)
            labels = [f"face {p.index}" for p in pairs]
            patches = cut_face_patches([(label, p.lq, p.hq) for label, p in zip(labels, pairs)],
                                       settings.patch_size, settings.patch_num, image_rng(settings.seed, name))
            warn += [f"{name}: {m}" for m in patches.warnings + patches.errors]
            used = patches.used
            if self.has_masknet:
                masks = [np.asarray(face_weights(self.mask_model, to_float(p.lq)[None], to_float(p.hq)[None]))[0, ..., 0]
                         for p in pairs]
            if patches.lq is None:
                reason = "no usable face"
                warn.append(f"{name}: no usable face pair; super-resolved without adaptation")
            elif plan.steps == 0:
                reason = "adapt none" if plan.name == "none" else "steps 0"
            else:
                reason = None
                clock = time.perf_counter()
                weights, losses = adapter.adapt(self._base, to_float(patches.lq), to_float(patches.hq), plan.steps,
                                                progress=lambda i, n: progress("adapt", i, n))
                timings["adapt"] = _lap(clock)
        adapted = reason is None

        clock = time.perf_counter()
        sr = self.engine(settings.backend, adapter)
        image = super_resolve_photo(sr, lq, values_to_tensors(self.sr_model, weights) if adapted else None,
                                    settings.tile, settings.tile_pad, progress=lambda i, n: progress("sr", i, n))
        timings["sr"] = _lap(clock)
        plain = None
        if settings.plain:
            plain = image
            if adapted:
                clock = time.perf_counter()
                plain = super_resolve_photo(sr, lq, None, settings.tile, settings.tile_pad,
                                            progress=lambda i, n: progress("sr_plain", i, n))
                timings["sr_plain"] = _lap(clock)
        if settings.paste_faces and pairs:
            clock = time.perf_counter()
            progress("paste", 0, 1)
            image = paste_faces(image, [(p.hq, _alignment(p, restorer), _box(p)) for p in pairs])
            timings["paste"] = _lap(clock)

        metrics = {}
        if gt is not None or niqe_params is not None:
            clock = time.perf_counter()
            progress("metrics", 0, 1)
            metrics = score(lq, image, plain, gt, niqe_params)
            timings["metrics"] = _lap(clock)
        record = make_record(name, lq, image, plan, settings, self, restorer, faces, pairs, used, losses,
                             adapted, reason, metrics, timings, warn)
        return Result(image, plain, pairs, masks, record)


def restorer_name(restorer):
    """``--restorer`` name of a restorer object ('none' for None)."""
    if restorer is None:
        return "none"
    return {"GPENRestorer": "gpen", "DMDNetRestorer": "dmdnet"}.get(type(restorer).__name__, getattr(restorer, "name", "?"))


def _lap(start):
    return round(time.perf_counter() - start, 4)


def _box(pair):
    x0, y0, x1, y1 = pair.record["crop"]
    return align.CropBox(x0, y0, x1, y1)


def _alignment(pair, restorer):
    """The pair's alignment, rebuilt from its landmarks (as make_face_pairs built it)."""
    size = getattr(restorer, "size", align.ALIGNED_SIZE)
    return align.estimate_alignment(np.asarray(pair.record["landmarks"], np.float64), size)


def score(lq, image, plain, gt, niqe_params):
    """{row: {metric: value}} for the result, plain SR and bicubic x4: PSNR-Y/SSIM-Y (with gt), NIQE (with params).

    PSNR and SSIM are the original's (luma with its R/B-swapped coefficients, metrics.psnr), NIQE pyiqa's.
    """
    names = (("psnr", "ssim") if gt is not None else ()) + (("niqe",) if niqe_params is not None else ())
    fns = image_metrics(names, niqe_params=niqe_params)
    bicubic = cv2.resize(lq, (4 * lq.shape[1], 4 * lq.shape[0]), interpolation=cv2.INTER_CUBIC)
    rows = {"result": image, "plain": plain, "bicubic": bicubic}
    out = {}
    for row, img in rows.items():
        if img is not None:
            out[row] = {}
            for metric, fn in fns.items():
                try:  # NIQE needs two 96x96 blocks, SSIM 11x11 pixels: a smaller photo goes without
                    out[row][metric] = round(float(fn(img, gt)), 4)
                except InputError:
                    pass
    return out


def make_record(name, lq, image, plan, settings, enhancer, restorer, faces, pairs, used, losses, adapted, reason,
                metrics, timings, warnings_):
    """The ``{name}.json`` record of one photo."""
    by_index = {p.index: p for p in pairs}
    face_list = []
    for index, face in enumerate(faces):
        entry = {"index": index, "score": round(float(face.score), 6),
                 "box": np.round(face.box, 3).tolist(), "landmarks": np.round(face.landmarks, 3).tolist()}
        pair = by_index.get(index)
        entry["crop"] = pair.record["crop"] if pair else None
        entry["used"] = f"face {index}" in used
        face_list.append(entry)
    return {
        "version": JSON_VERSION,
        "name": name,
        "size": [int(lq.shape[1]), int(lq.shape[0])],
        "output_size": [int(image.shape[1]), int(image.shape[0])],
        "settings": {
            "model_dir": enhancer.model_dir,
            "masknet": enhancer.has_masknet,
            "restorer": restorer_name(restorer),
            "adapt_requested": settings.adapt,
            "adapt": plan.name,
            "why": plan.why,
            "optimizer": plan.optimizer,
            "lr": plan.lr,
            "steps": plan.steps,
            "patch_size": settings.patch_size,
            "patch_num": settings.patch_num,
            "seed": settings.seed,
            "tile": settings.tile,
            "tile_pad": settings.tile_pad,
            "backend": settings.backend,
            "score_threshold": settings.score_threshold,
            "paste_faces": settings.paste_faces,
        },
        "faces": face_list,
        "adapted": adapted,
        "not_adapted_because": reason,
        "face_loss": [round(v, 6) for v in losses],
        "metrics": metrics,
        "timings": timings,
        "warnings": list(warnings_),
    }


def compare_image(lq, plain, image, pairs):
    """bicubic x4 | plain SR | result, side by side, each with the face crops boxed in green."""
    bicubic = cv2.resize(lq, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_CUBIC)
    panels = []
    for panel in (bicubic, plain, image):
        panel = panel.copy()
        for p in pairs:
            x0, y0, x1, y1 = p.record["crop"]
            cv2.rectangle(panel, (4 * x0, 4 * y0), (4 * x1 + 3, 4 * y1 + 3), (0, 255, 0), 2)
        panels.append(panel)
    return np.concatenate(panels, axis=1)


# --- folders (enhance.py) ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Summary:
    written: list
    skipped: list  # already done (--skip_existing)
    failed: list  # (path, message)
    not_adapted: list


def list_photos(input_path):
    """A file -> [it]; a folder -> its files (test.py's listing)."""
    if os.path.isfile(input_path):
        return [os.fspath(input_path)]
    return list_inputs(input_path)


def shard_of(name, num_shards):
    """The shard of a photo name: CRC-32 of its UTF-8 bytes mod ``num_shards`` (same on every machine)."""
    return zlib.crc32(name.encode("utf-8")) % num_shards


def select_shard(paths, num_shards=1, shard_index=0):
    """The photos of shard ``shard_index`` of ``num_shards`` (each photo in exactly one shard)."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ConfigError(f"--shard_index: got {shard_index} of --num_shards {num_shards}, expected 0..num_shards-1")
    return [p for p in paths if shard_of(_stem(p), num_shards) == shard_index]


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def output_paths(output_dir, name):
    return {k: os.path.join(output_dir, name + suffix)
            for k, suffix in (("image", ".png"), ("json", ".json"), ("compare", "_compare.png"))}


def is_done(output_dir, name):
    """A photo is done when its image and its JSON exist (the JSON is written last)."""
    paths = output_paths(output_dir, name)
    return os.path.isfile(paths["image"]) and os.path.isfile(paths["json"])


def _write_atomic(path, write):
    tmp = f"{path}.tmp{os.getpid()}{os.path.splitext(path)[1]}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, record):
    def dump(tmp):
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")

    try:
        _write_atomic(path, dump)
    except OSError as e:
        raise InputError(f"{path}: cannot write ({e.strerror or e})") from None


def save_result(output_dir, name, lq, result, compare=False, save_faces=False, start=None):
    """Writes ``{name}.png`` (+ ``_compare.png``, Face_LQ/Face_HQ) and, last, ``{name}.json``.

    ``start`` (a ``time.perf_counter()`` value) adds the photo's total time to the record.
    """
    clock = time.perf_counter()
    paths = output_paths(output_dir, name)
    _write_atomic(paths["image"], lambda tmp: write_rgb(tmp, result.image))
    if compare:
        _write_atomic(paths["compare"], lambda tmp: write_rgb(tmp, compare_image(lq, result.plain, result.image, result.pairs)))
    if save_faces and result.pairs:
        face_pairs.write_face_pairs(output_dir, name, result.pairs)
    result.record["timings"]["write"] = _lap(clock)
    if start is not None:
        result.record["timings"]["total"] = _lap(start)
    write_json(paths["json"], result.record)
    return paths


def enhance_paths(paths, output_dir, enhancer, restorer, settings, gt_dir=None, niqe_params=None, compare=False,
                  save_faces=False, skip_existing=False, log=None):
    """enhance.py's loop: every photo of ``paths`` -> ``output_dir``; one bad photo never stops the others."""
    from tqdm import tqdm

    log = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
    prepare_output_dir(output_dir)
    gt_source = restorer if isinstance(restorer, restore.GroundTruthRestorer) else (
        restore.GroundTruthRestorer(gt_dir) if gt_dir else None)
    summary, seen = Summary([], [], [], []), {}
    settings = dataclasses.replace(settings, plain=settings.plain or compare)
    bar = tqdm(paths, desc="enhance.py", unit="photo", file=sys.stderr, dynamic_ncols=True)
    for path in bar:
        name = _stem(path)
        try:
            if name in seen:
                raise InputError(f"{path}: same name '{name}' as {seen[name]}; its results would overwrite those")
            seen[name] = os.path.basename(path)
            if skip_existing and is_done(output_dir, name):
                summary.skipped.append(path)
                continue
            start = time.perf_counter()
            lq, notes = read_photo(path, settings.max_pixels)
            gt = gt_source.read_gt(path, lq.shape) if gt_source is not None else None
            read_time = _lap(start)

            def show(stage, i, n, name=name):
                bar.set_postfix_str(f"{name}: {stage} {i}/{n}" if n > 1 else f"{name}: {stage}")

            result = enhancer.enhance(lq, restorer, gt, settings, name, show, niqe_params, notes)
            result.record["input"] = os.path.basename(path)
            result.record["timings"] = {"read": read_time, **result.record["timings"]}
            save_result(output_dir, name, lq, result, compare, save_faces, start)
        except MetaF2NError as e:
            log(f"error: {e}")
            summary.failed.append((path, str(e)))
            continue
        for msg in result.record["warnings"]:
            log(f"warning: {msg}")
        if not result.record["adapted"]:
            summary.not_adapted.append(path)
        summary.written.append(output_paths(output_dir, name)["image"])
    return summary


def load_niqe(path, log):
    """NIQE parameters, or None with one line saying what to supply when the file is absent."""
    if not path:
        return None
    try:
        return load_niqe_params(path)
    except MetaF2NError as e:
        log(f"note: NIQE left out: {e}")
        return None
