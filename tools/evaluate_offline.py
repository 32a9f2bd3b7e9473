"""One-step gain on held-out face photos degraded like the training tasks: the README's table.

    python tools/evaluate_offline.py [--heldout_dir datasets/offline/heldout] [--work_dir datasets/offline/eval]
        [--seeds 3] [--variant NAME=MODEL_DIR ...] [--niqe_params niqe_pris_params.npz] [--csv OUT.csv]

1. every held-out photo (``tools/offline_dataset.py`` writes them) is centre-cropped to a square whose side
   is a multiple of 4 (the ground truth GT) and degraded with the training degradation (``DegradationConfig``
   defaults, ``degradations.sample_task`` / ``degrade``) drawn from stateless seeds (photo index, seed), to a
   GT/4 LQ photo: ``{work_dir}/GT``, ``{work_dir}/LQ``;
2. faces: RetinaFace on the clean GT (score >= 0.9), landmarks and boxes divided by 4, face pairs as
   ``generate_test_faces.py --restorer gt`` writes them (LQ crop, GT crop at 4x): ``{work_dir}/faces``;
3. test.py's own code (``adapt.run.run_folder``) for each setting: x4plus without adaptation, x4plus with
   the original rule (SGD lr 0.01, one step), x4plus with Adam 1e-4 x 10, and each ``--variant`` with the
   original rule (its learned rates, when it holds LSLR rates, replace lr 0.01), and with ``--variant_plain``
   also without adaptation;
4. whole-photo PSNR-Y and SSIM-Y against GT (the original's luma), mean |GT - SR| (the L1 term of the outer
   loss on the whole photo), the mean of SR - GT (``shift``, grey levels: a brightness error), and NIQE
   (BasicSR's ``niqe_pris_params.npz``, which ``tools/offline_dataset.py`` takes from PyPI's basicsr sdist;
   ``--niqe_params`` for another copy);
5. a reference for what smoothing alone buys: x4plus's unadapted outputs under a Gaussian blur of each
   ``--blur_sigmas`` (HR pixels). Blur trades NIQE for PSNR; an adaptation worth having beats it at equal NIQE.

Prints a Markdown table (means over photos and seeds, and the gain over no adaptation).
"""
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import metaf2n_tf  # noqa: E402,F401  (imports TensorFlow quietly)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

from config import AdaptConfig  # noqa: E402
from metaf2n_tf.adapt.run import run_folder  # noqa: E402
from metaf2n_tf.cli import parse_flags, run_main  # noqa: E402
from metaf2n_tf.data import degradations  # noqa: E402
from metaf2n_tf.data.images import read_rgb, write_rgb  # noqa: E402
from metaf2n_tf.errors import ConfigError, InputError  # noqa: E402
from metaf2n_tf.faces.detect import Face, detect_faces  # noqa: E402
from metaf2n_tf.faces.pairs import make_face_pairs, write_face_pairs  # noqa: E402
from metaf2n_tf.faces.restore import GroundTruthRestorer  # noqa: E402
from metaf2n_tf.metrics.psnr import psnr_y  # noqa: E402
from metaf2n_tf.metrics.ssim import ssim_y  # noqa: E402
from metaf2n_tf.models import SCALE  # noqa: E402

PROGRAM = "evaluate_offline.py"
X4PLUS = "realesrgan-x4plus"
DEFAULT_NIQE_PARAMS = "datasets/offline/niqe_pris_params.npz"


def say(message):
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)


def square_gt(image):
    """The centred square crop of ``image`` whose side is the largest multiple of 4 that fits."""
    height, width = image.shape[:2]
    side = min(height, width) // SCALE * SCALE
    top, left = (height - side) // 2, (width - side) // 2
    return np.ascontiguousarray(image[top:top + side, left:left + side])


def degrade_photo(gt, seed, cfg=degradations.DegradationConfig()):
    """The training degradation of one GT photo (uint8) drawn from stateless ``seed`` [2] -> LQ uint8."""
    s = degradations.split_seed(tf.constant(seed, tf.int64), 3)
    task = degradations.sample_task(s[0], cfg)
    image = tf.constant(gt[None], tf.float32) / 255.0
    lq = degradations.degrade(image, task, degradations.sample_noise(s[1], 1, cfg, 1),
                              degradations.sample_noise(s[2], 1, cfg, 2), gt.shape[0] // SCALE)
    return np.asarray(tf.round(tf.clip_by_value(lq[0], 0.0, 1.0) * 255.0), np.uint8)


def lq_faces(gt):
    """RetinaFace on the clean GT; boxes and landmarks in LQ pixels (divided by 4, pixel centres kept)."""
    faces = []
    for face in detect_faces(gt, 0.9):
        to_lq = lambda p: (np.asarray(p, np.float64) - (SCALE - 1) / 2) / SCALE  # noqa: E731
        box = np.asarray(face.box, np.float64) / SCALE
        faces.append(Face(box=box, score=face.score, landmarks=to_lq(face.landmarks)))
    return faces


def prepare(heldout_dir, work_dir, seeds):
    """Writes GT, LQ and face pairs for every held-out photo and seed; returns the LQ names."""
    from metaf2n_tf.data.records import image_files

    photos = image_files(heldout_dir)
    names = []
    for folder in ("GT", "LQ", "faces"):
        os.makedirs(os.path.join(work_dir, folder), exist_ok=True)
    for index, path in enumerate(photos):
        gt = square_gt(read_rgb(path))
        faces = lq_faces(gt)
        if not faces:
            say(f"{path}: no face found on the clean photo; left out")
            continue
        for seed in range(seeds):
            name = f"{os.path.splitext(os.path.basename(path))[0]}_s{seed}"
            lq = degrade_photo(gt, [index, seed])
            write_rgb(os.path.join(work_dir, "GT", name + ".png"), gt)
            write_rgb(os.path.join(work_dir, "LQ", name + ".png"), lq)
            write_face_pairs(os.path.join(work_dir, "faces"), name,
                             make_face_pairs(lq, faces, GroundTruthRestorer(), gt))
            names.append(name)
    return names


BASELINES = {
    "none": ("x4plus, no adaptation", dict(model_dir=X4PLUS, fine_tune_num=0)),
    "sgd": ("x4plus + original rule (SGD 0.01 x1)", dict(model_dir=X4PLUS, fine_tune_num=1)),
    "adam": ("x4plus + Adam 1e-4 x10", dict(model_dir=X4PLUS, fine_tune_num=10, optimizer="adam", lr=1e-4)),
}


def result_folder(label):
    """The results folder name of a table row."""
    return "".join(c if c.isalnum() else "_" for c in label)


def settings(variants, baselines=tuple(BASELINES), plain=False):
    """(label, AdaptConfig fields) of every row of the table; ``plain`` adds each variant without adaptation
    (a variant whose SR weights were trained: what training alone did, before the step)."""
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ConfigError(f"--baselines: got {unknown[0]!r}, expected some of {', '.join(BASELINES)}")
    rows = [BASELINES[b] for b in baselines]
    for variant in variants:
        label, _, model_dir = variant.partition("=")
        if not model_dir:
            raise ConfigError(f"--variant: got {variant!r}, expected NAME=MODEL_DIR")
        if plain:
            rows.append((f"{label}, no adaptation", dict(model_dir=model_dir, fine_tune_num=0)))
        rows.append((f"{label} + original rule", dict(model_dir=model_dir, fine_tune_num=1)))
    return rows


def blur_results(src_dir, dst_dir, names, sigma):
    """Writes every ``names`` result of ``src_dir`` blurred by a Gaussian of ``sigma`` pixels to ``dst_dir``
    (float, then rounded to 8 bits; OpenCV's kernel size for float images, reflected borders)."""
    import cv2

    os.makedirs(dst_dir, exist_ok=True)
    for name in names:
        image = read_rgb(os.path.join(src_dir, name + ".png")).astype(np.float32)
        blurred = cv2.GaussianBlur(image, (0, 0), sigma)
        write_rgb(os.path.join(dst_dir, name + ".png"), np.clip(np.round(blurred), 0, 255).astype(np.uint8))


def score(result_dir, gt_dir, names, niqe_params=None):
    """Per-photo {psnr, ssim, l1, shift[, niqe]} of the results; ``shift`` is the mean of SR - GT over pixels and
    channels in grey levels (0-255): a brightness error, which mean |SR - GT| does not show the sign of."""
    out = []
    for name in names:
        result = read_rgb(os.path.join(result_dir, name + ".png"))
        gt = read_rgb(os.path.join(gt_dir, name + ".png"))
        error = result.astype(np.float64) - gt
        row = {"psnr": psnr_y(result, gt), "ssim": ssim_y(result, gt), "l1": float(np.mean(np.abs(error)) / 255.0),
               "shift": float(np.mean(error))}
        if niqe_params is not None:
            from metaf2n_tf.metrics.niqe import luma, niqe

            row["niqe"] = float(niqe(luma(result), niqe_params))
        out.append(row)
    return out


def _cell(key, mean, values):
    if key == "shift":  # per-photo values differ in sign: show their range too (n/a: a CSV from before the column)
        return "n/a" if np.isnan(mean) else f"{mean:+.1f} ({min(values):+.1f} to {max(values):+.1f})"
    return f"{mean:.4f}" if key in ("ssim", "l1") else f"{mean:.2f}"


def table(results, keys):
    base = {k: np.mean([r[k] for r in results[0][1]]) for k in keys}
    niqe = ["NIQE change"] if "niqe" in keys else []
    lines = ["| setting | " + " | ".join(keys + ["PSNR gain (dB)"] + niqe + ["L1 after / before"]) + " |",
             "|---" * (len(keys) + 3 + len(niqe)) + "|"]
    for label, rows in results:
        means = {k: np.mean([r[k] for r in rows]) for k in keys}
        cells = [_cell(k, means[k], [r[k] for r in rows]) for k in keys]
        cells.append(f"{means['psnr'] - base['psnr']:+.2f}")
        cells += [f"{means['niqe'] - base['niqe']:+.2f}"] if niqe else []
        cells.append(f"{means['l1'] / base['l1']:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_csv(path, names, keys):
    """(results, csv rows) of an earlier ``--csv`` file, restricted to ``names``, in its row order; ``shift`` is
    NaN in a file written before that column."""
    import csv

    results, rows = {}, []
    with open(path, encoding="utf-8") as f:
        for line in csv.DictReader(f):
            if line["photo"] in names:
                row = {k: float(line[k]) if k != "shift" or line.get(k) else float("nan") for k in keys}
                results.setdefault(line["setting"], {})[line["photo"]] = row
                rows.append((line["setting"], line["photo"], row))
    missing = [label for label, by_name in results.items() if set(by_name) != set(names)]
    if not results or missing:
        raise InputError(f"{path}: no rows for every photo of this run ({missing[:1] or 'none found'})")
    return [(label, [by_name[n] for n in names]) for label, by_name in results.items()], rows


def write_csv(path, csv_rows, keys):
    with open(path, "w", encoding="utf-8") as f:
        f.write("setting,photo," + ",".join(keys) + "\n")
        for label, name, row in csv_rows:
            f.write(f"\"{label}\",{name}," + ",".join(f"{row[k]:.6f}" for k in keys) + "\n")


def define_flags():
    fv = flags.FlagValues()
    flags.DEFINE_string("heldout_dir", "datasets/offline/heldout", "held-out face photos (ground truth)",
                        flag_values=fv)
    flags.DEFINE_string("work_dir", "datasets/offline/eval", "GT, LQ, faces and results go here", flag_values=fv)
    flags.DEFINE_integer("seeds", 3, "degradations drawn per photo", lower_bound=1, flag_values=fv)
    flags.DEFINE_multi_string("variant", [], "NAME=MODEL_DIR of a meta-trained model (repeatable)",
                              flag_values=fv)
    flags.DEFINE_bool("variant_plain", False, "also score each --variant without adaptation (for variants "
                      "whose SR weights were trained)", flag_values=fv)
    flags.DEFINE_string("niqe_params", DEFAULT_NIQE_PARAMS, "BasicSR's niqe_pris_params.npz (`make offline-data` "
                        "puts it at the default path; NIQE is skipped when the default is missing)", flag_values=fv)
    flags.DEFINE_integer("patch_num_per_img", 16, "face patches per face (test.py's default)", flag_values=fv)
    flags.DEFINE_string("csv", "", "per-photo figures to this CSV", flag_values=fv)
    flags.DEFINE_list("baselines", list(BASELINES), "x4plus rows to run: none (no adaptation), sgd (original "
                      "rule), adam (Adam 1e-4 x10); '' for none of them", flag_values=fv)
    flags.DEFINE_list("blur_sigmas", ["0.75", "1.5"], "Gaussian blurs (HR pixels) of the unadapted x4plus "
                      "outputs as reference rows (needs the 'none' results in --work_dir); '' for none",
                      flag_values=fv)
    flags.DEFINE_string("base_csv", "", "take earlier rows from this --csv output (same photos and seeds), e.g. "
                        "the x4plus rows, with --baselines ''; the first row is the reference of the gains",
                        flag_values=fv)
    return fv


def blur_sigmas(values):
    """``--blur_sigmas`` as positive floats."""
    try:
        sigmas = [float(v) for v in values]
    except ValueError:
        sigmas = []
    if len(sigmas) != len(values) or any(s <= 0 for s in sigmas):
        raise ConfigError(f"--blur_sigmas: got {','.join(values)!r}, expected positive numbers")
    return sigmas


def run(fv):
    sigmas = blur_sigmas(fv.blur_sigmas)
    names = prepare(fv.heldout_dir, fv.work_dir, fv.seeds)
    if not names:
        raise InputError(f"{fv.heldout_dir}: no held-out photo with a face")
    say(f"{len(names)} LQ photos ({fv.seeds} degradations each) in {fv.work_dir}/LQ")
    niqe_params = None
    if fv.niqe_params and (fv.niqe_params != DEFAULT_NIQE_PARAMS or os.path.isfile(fv.niqe_params)):
        from metaf2n_tf.metrics.niqe import load_niqe_params

        niqe_params = load_niqe_params(fv.niqe_params)
    else:
        say(f"NIQE skipped: no {DEFAULT_NIQE_PARAMS} (`make offline-data` fetches it) and no --niqe_params")
    keys = ["psnr", "ssim", "l1", "shift"] + (["niqe"] if niqe_params is not None else [])
    results, csv_rows = read_csv(fv.base_csv, names, keys) if fv.base_csv else ([], [])

    def add_row(label, out):
        """Scores the results in ``out`` as the table row ``label``; the CSV is rewritten after every row (an
        interrupted run keeps what it measured)."""
        rows = score(out, os.path.join(fv.work_dir, "GT"), names, niqe_params)
        results.append((label, rows))
        csv_rows.extend((label, name, row) for name, row in zip(names, rows))
        say(f"{label}: PSNR-Y {np.mean([r['psnr'] for r in rows]):.2f} dB")
        if fv.csv:
            write_csv(fv.csv, csv_rows, keys)

    for label, fields in settings(fv.variant, fv.baselines, fv.variant_plain):
        out = os.path.join(fv.work_dir, "results", result_folder(label))
        cfg = dataclasses.replace(AdaptConfig(), input_dir=os.path.join(fv.work_dir, "LQ"),
                                  face_dir=os.path.join(fv.work_dir, "faces"), output_dir=out, gpu="",
                                  patch_num_per_img=fv.patch_num_per_img, **fields)
        say(f"{label}: {fields}")
        summary = run_folder(cfg)
        if summary.failed:
            raise InputError(f"{label}: {len(summary.failed)} photo(s) failed")
        add_row(label, out)
    none_dir = os.path.join(fv.work_dir, "results", result_folder(BASELINES["none"][0]))
    if sigmas and not os.path.isfile(os.path.join(none_dir, names[0] + ".png")):
        say(f"blur rows skipped: no unadapted results in {none_dir} (run with --baselines none)")
        sigmas = []
    for sigma in sigmas:
        label = f"x4plus, no adaptation, Gaussian blur sigma {sigma:g}"
        out = os.path.join(fv.work_dir, "results", result_folder(label))
        blur_results(none_dir, out, names, sigma)
        add_row(label, out)
    print(table(results, keys))
    return 0


def main(argv=None):
    return run_main(PROGRAM, lambda args: run(parse_flags(define_flags(), args, PROGRAM)), argv)


if __name__ == "__main__":
    sys.exit(main())
