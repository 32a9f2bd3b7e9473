"""Scores a folder of results against ground truth: per-image rows, means, folder FID, CSV and table."""
import csv
import io
import math

import numpy as np
from tqdm import tqdm

from metaf2n_tf import atomic
from metaf2n_tf.data.images import read_rgb
from metaf2n_tf.errors import ConfigError, MetaF2NError
from metaf2n_tf.metrics import fid as fid_lib
from metaf2n_tf.metrics.files import list_images
from metaf2n_tf.metrics.lpips import lpips_distance
from metaf2n_tf.metrics.niqe import luma, niqe
from metaf2n_tf.metrics.psnr import psnr_y
from metaf2n_tf.metrics.ssim import ssim_y

METRICS = ("psnr", "ssim", "lpips", "fid", "niqe")
PER_IMAGE = ("psnr", "ssim", "lpips", "niqe")


def parse_metrics(names):
    """``['psnr', 'fid']`` -> the same names in canonical order; unknown names raise ConfigError."""
    names = [n.strip().lower() for n in names if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ConfigError(f"--metrics: got {','.join(names) or 'nothing'}, expected some of {','.join(METRICS)}")
    return tuple(m for m in METRICS if m in names)


def image_metrics(names, crop_border=0, y_coeffs="original", lpips_model=None, niqe_params=None, niqe_luma="yiq"):
    """Per-image metric functions ``{name: f(result, gt) -> float}`` for the names that can run.

    LPIPS needs ``lpips_model`` and NIQE ``niqe_params``; without them they are left out.
    NIQE is no-reference: it scores the result alone (after the same border crop).
    """
    fns = {
        "psnr": lambda r, g: psnr_y(r, g, crop_border, y_coeffs),
        "ssim": lambda r, g: ssim_y(r, g, crop_border, y_coeffs),
        "lpips": lambda r, g: lpips_distance(lpips_model, r, g),
        "niqe": lambda r, g: niqe(luma(_crop(r, crop_border), niqe_luma), niqe_params),
    }
    ready = {"lpips": lpips_model is not None, "niqe": niqe_params is not None}
    return {n: fns[n] for n in PER_IMAGE if n in names and ready.get(n, True)}


def _crop(image, border):
    return image[border:-border, border:-border] if border else image


def score_pairs(pairs, fns, warn, progress=True):
    """Runs ``fns`` on each ``(name, result_path, gt_path)``; a pair that fails is reported and skipped.

    Returns:
        ``[(name, {metric: value})]`` in the order of ``pairs``.
    """
    rows = []
    for name, result_path, gt_path in tqdm(pairs, desc="metrics", unit="image", disable=not progress):
        try:
            result, gt = read_rgb(result_path), read_rgb(gt_path)
            rows.append((name, {metric: fn(result, gt) for metric, fn in fns.items()}))
        except MetaF2NError as e:
            warn(f"{name}: skipped: {e}")
    return rows


def means(rows, names):
    """Mean of each metric over the rows (NaN when there are none)."""
    return {n: float(np.mean([values[n] for _, values in rows])) if rows else math.nan for n in names}


def folder_features(model, folder, warn, progress=True):
    """Inception pool features [n, 2048] of every image in ``folder``; unreadable files are reported."""
    feats = []
    for path in tqdm(list_images(folder), desc=f"FID {folder}", unit="image", disable=not progress):
        try:
            feats.append(fid_lib.pool_features(model, read_rgb(path)))
        except MetaF2NError as e:
            warn(f"{path}: skipped for FID: {e}")
    return np.array(feats).reshape(len(feats), -1)


def folder_fid(model, result_dir, ref_dir, warn, progress=True):
    """FID between all images of two folders (as pytorch-fid's ``calculate_fid_given_paths``)."""
    stats = [fid_lib.gaussian_statistics(folder_features(model, d, warn, progress), d) for d in (result_dir, ref_dir)]
    return fid_lib.frechet_distance(*stats[0], *stats[1])


def write_csv(path, rows, names):
    """CSV with header ``name,<metrics>`` and one row per image, floats at full precision."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["name", *names])
    for name, values in rows:
        writer.writerow([name, *(repr(values[n]) for n in names)])
    atomic.write_text(path, buffer.getvalue(), "CSV")


def format_table(rows, names, mean_values, fid=None):
    """Plain-text table: one line per image, then the means, then FID when computed."""
    width = max([len("mean")] + [len(name) for name, _ in rows])
    lines = [f"{'name':<{width}}" + "".join(f"{n.upper():>10}" for n in names)]
    for name, values in rows + [("mean", mean_values)]:
        lines.append(f"{name:<{width}}" + "".join(f"{values[n]:>10.4f}" for n in names))
    if fid is not None:
        lines.append(f"{'FID':<{width}}{fid:>10.4f}")
    return "\n".join(lines)
