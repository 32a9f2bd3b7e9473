"""``make demo``: the whole test path offline, on a real photo that scikit-image ships.

1. Ground truth: scikit-image's ``astronaut`` (512x512, public domain).
2. A fixed, documented degradation -> a 128x128 LQ photo: Gaussian blur sigma 1.2, x4 area down-sampling,
   Gaussian noise sigma 2 (0-255 scale, seed 0), JPEG quality 70.
3. Faces detected on the LQ photo with RetinaFace; each face pair is (LQ crop, HQ crop) where the HQ crop
   comes from the ORACLE restorer ``gt``: the ground-truth photo's same region. No face-restorer weights
   ship offline, so this shows what adaptation does with a perfect restorer; it is not GPEN.
4. Real-ESRGAN x4plus (offline ncnn weights, not meta-trained, no MaskNet so W = 1) adapted with several
   settings through test.py's own code path, each result scored against the ground truth.
"""
import dataclasses
import os
import sys
import time

import cv2
import numpy as np

from metaf2n_tf.adapt.run import run_folder
from metaf2n_tf.data.images import read_rgb, write_rgb
from metaf2n_tf.errors import InputError
from metaf2n_tf.faces.detect import detect_faces
from metaf2n_tf.faces.pairs import make_face_pairs, write_face_pairs
from metaf2n_tf.faces.restore import restorer_by_name
from metaf2n_tf.metrics.psnr import psnr
from metaf2n_tf.metrics.ssim import ssim
from metaf2n_tf.models import SCALE

NAME = "astronaut"

# (label, fine_tune_num, optimizer, lr): the original rule first, then safer settings for plain weights.
SETTINGS = (
    ("no adaptation (fine_tune_num 0)", 0, "sgd", 0.01),
    ("SGD lr 1e-2 x1 (the original rule)", 1, "sgd", 0.01),
    ("SGD lr 1e-3 x1", 1, "sgd", 0.001),
    ("Adam lr 1e-4 x10", 10, "adam", 1e-4),
)


def degrade(gt, seed=0):
    """Blur sigma 1.2 -> x4 INTER_AREA down -> Gaussian noise sigma 2 -> JPEG 70 (uint8 RGB in and out)."""
    x = cv2.GaussianBlur(gt.astype(np.float32), (0, 0), 1.2)
    x = cv2.resize(x, (gt.shape[1] // SCALE, gt.shape[0] // SCALE), interpolation=cv2.INTER_AREA)
    x = x + np.random.default_rng(seed).normal(0.0, 2.0, x.shape)
    x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(x, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _label(img, text):
    out = img.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def prepare(output_dir, backend="auto", gpu=""):
    """Writes LQ/, GT/, Face_LQ/, Face_HQ/ under ``output_dir``; returns (gt, lq, face pairs).

    ``backend``, ``gpu``: the face detector's engine (``faces.detect``), as for SR.
    """
    from skimage import data  # scikit-image ships the photo

    gt = data.astronaut()
    lq = degrade(gt)
    os.makedirs(os.path.join(output_dir, "LQ"), exist_ok=True)
    os.makedirs(os.path.join(output_dir, "GT"), exist_ok=True)
    write_rgb(os.path.join(output_dir, "LQ", NAME + ".png"), lq)
    write_rgb(os.path.join(output_dir, "GT", NAME + ".png"), gt)
    faces = detect_faces(lq, backend=backend, gpu=gpu)
    pairs = make_face_pairs(lq, faces, restorer_by_name("gt", gt_dir=os.path.join(output_dir, "GT")), gt_rgb=gt)
    write_face_pairs(output_dir, NAME, pairs)
    return gt, lq, faces, pairs


def run(output_dir, adapt_config):
    """Runs every setting; prints and returns the table rows; writes comparison.png.

    Args:
        output_dir: where the photos, faces, results and comparison.png go.
        adapt_config: test.py's ``AdaptConfig`` built by the script (``model_dir``, ``seed``, tiling...); each
            setting replaces its folders, ``fine_tune_num``, ``optimizer`` and ``lr``.

    Raises:
        InputError: a setting's run had a photo with an error (printed above by ``run_folder``).
    """
    gt, lq, faces, pairs = prepare(output_dir, adapt_config.backend, adapt_config.gpu)
    print(f"demo: LQ {lq.shape[1]}x{lq.shape[0]}, {len(faces)} face(s) detected:", file=sys.stderr)
    for p in pairs:
        x0, y0, x1, y1 = p.record["crop"]
        print(f"  face {p.index}: score {p.record['score']:.4f}, LQ crop x {x0}..{x1}, y {y0}..{y1} "
              f"({p.lq.shape[1]}x{p.lq.shape[0]}), HQ {p.hq.shape[1]}x{p.hq.shape[0]}", file=sys.stderr)
    rows, results = [], {}
    for label, steps, optimizer, lr in SETTINGS:
        res_dir = os.path.join(output_dir, f"Res_{optimizer}_{lr:g}_x{steps}")
        cfg = dataclasses.replace(
            adapt_config, input_dir=os.path.join(output_dir, "LQ"), face_dir=output_dir, output_dir=res_dir,
            fine_tune_num=steps, optimizer=optimizer, lr=lr,
        )
        start = time.perf_counter()
        summary = run_folder(cfg)
        seconds = time.perf_counter() - start
        if summary.failed:
            raise InputError(f"{res_dir}: the run for '{label}' failed on {len(summary.failed)} photo(s)")
        sr = read_rgb(os.path.join(res_dir, NAME + ".png"))
        face = _face_psnr(sr, gt, pairs)
        rows.append((label, psnr(sr, gt), ssim(sr, gt), face, seconds))
        results[label] = sr
    bicubic = cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_CUBIC)
    rows.insert(0, ("bicubic x4 (reference)", psnr(bicubic, gt), ssim(bicubic, gt), _face_psnr(bicubic, gt, pairs), 0.0))
    best = max(rows[2:], key=lambda r: r[1])[0]
    panels = [_label(bicubic, "bicubic"), _label(results[SETTINGS[0][0]], "Real-ESRGAN x4plus"),
              _label(results[best], "adapted: " + best.split(" (")[0]), _label(gt, "ground truth")]
    write_rgb(os.path.join(output_dir, "comparison.png"), np.concatenate(panels, axis=1))
    return rows


def _face_psnr(sr, gt, pairs):
    """PSNR over the union of the face boxes (at SR scale)."""
    mask = np.zeros(gt.shape[:2], bool)
    for p in pairs:
        x0, y0, x1, y1 = p.record["crop"]
        mask[SCALE * y0 : SCALE * (y1 + 1), SCALE * x0 : SCALE * (x1 + 1)] = True
    if not mask.any():
        return float("nan")
    return psnr(sr[mask], gt[mask])


def format_table(rows):
    lines = ["| setting | PSNR whole (dB) | SSIM whole | PSNR faces (dB) | seconds |", "|---|---|---|---|---|"]
    for label, p, s, f, sec in rows:
        lines.append(f"| {label} | {p:.2f} | {s:.4f} | {f:.2f} | {sec:.1f} |")
    return "\n".join(lines)
