"""Scores super-resolved images against ground truth: PSNR-Y, SSIM, LPIPS, FID, NIQE.

    python calculate_metrics.py --result_dir RES --gt_dir GT [--fid_ref_dir GT] [--crop_border 0] \
        [--metrics psnr,ssim,lpips,fid,niqe] [--alexnet_weights F] [--inception_weights F] \
        [--niqe_params F] [--csv OUT.csv]

Results and ground truth are matched by file name without extension; unmatched names are listed.
A metric whose weights file is absent is skipped with a line saying what to supply.
PSNR/SSIM use the original's luma (R and B weights swapped) unless ``--y_coeffs bt601``;
NIQE uses pyiqa's YIQ luma (the original's metric) unless ``--niqe_luma bt601`` (BasicSR's).
"""
import metaf2n_tf  # noqa: F401 - imports TensorFlow quietly, before anything else does
import os
import sys

from absl import flags

from metaf2n_tf.cli import define_max_pixels
from metaf2n_tf.cli import parse_flags as parse_flags_into
from metaf2n_tf.cli import run_main
from metaf2n_tf.data.images import DEFAULT_MAX_PIXELS, set_max_pixels
from metaf2n_tf.errors import InputError, WeightsError
from metaf2n_tf.metrics import evaluate
from metaf2n_tf.metrics.files import list_images, pair_images
from metaf2n_tf.metrics.fid import load_inception
from metaf2n_tf.weights.torchvision import load_lpips
from metaf2n_tf.metrics.niqe import LUMA, load_niqe_params
from metaf2n_tf.metrics.psnr import Y_COEFFS

SCRIPT = "calculate_metrics.py"


def define_flags():
    """The script's flags on a fresh FlagValues (upstream names and defaults first)."""
    fv = flags.FlagValues()
    flags.DEFINE_string("result_dir", "./datasets/FFHQ_Multi_iid/Res", "super-resolved images", flag_values=fv)
    flags.DEFINE_string("gt_dir", "./datasets/FFHQ_Multi_iid/GT", "ground truth, same file names", flag_values=fv)
    flags.DEFINE_string("fid_ref_dir", "./datasets/FFHQ_Multi_iid/GT", "reference folder for FID", flag_values=fv)
    flags.DEFINE_integer(
        "crop_border", 0, "pixels cropped from each edge before PSNR/SSIM/NIQE", lower_bound=0, flag_values=fv
    )
    flags.DEFINE_list("metrics", list(evaluate.METRICS), "metrics to compute", flag_values=fv)
    flags.DEFINE_string(
        "alexnet_weights", "./weights/alexnet-owt-7be5be79.pth", "torchvision AlexNet .pth, for LPIPS", flag_values=fv
    )
    flags.DEFINE_string(
        "inception_weights",
        "./weights/pt_inception-2015-12-05-6726825d.pth",
        "pytorch-fid Inception .pth (or Keras InceptionV3 notop .h5), for FID",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "niqe_params", "./weights/niqe_pris_params.npz", "BasicSR's niqe_pris_params.npz", flag_values=fv
    )
    flags.DEFINE_string("csv", "", "write per-image values to this CSV", flag_values=fv)
    flags.DEFINE_enum(
        "y_coeffs", "original", sorted(Y_COEFFS), "luma for PSNR/SSIM: original (R/B swapped) or bt601", flag_values=fv
    )
    flags.DEFINE_enum(
        "niqe_luma", "yiq", sorted(LUMA), "NIQE luma: yiq (pyiqa, the original's) or bt601 (BasicSR)", flag_values=fv
    )
    flags.DEFINE_boolean("progress", True, "show progress bars", flag_values=fv)
    define_max_pixels(fv, DEFAULT_MAX_PIXELS)
    return fv


def _warn(message):
    print(f"{SCRIPT}: {message}", file=sys.stderr)


def _load_or_skip(metric, load, path):
    """Loads a metric's weights; an absent file skips the metric with one line, a bad file is an error."""
    try:
        return load(path)
    except WeightsError as e:
        if path and os.path.isfile(path):
            raise
        _warn(f"{metric.upper()} skipped: {e}")
        return None


def _report_unmatched(results_only, gt_only):
    for names, what in ((results_only, "result(s) without ground truth"), (gt_only, "ground truth without result")):
        if names:
            shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            _warn(f"{len(names)} {what}: {shown}")


def _check_fid_folders(*folders):
    """Raises InputError unless every folder holds at least two images (a covariance needs two)."""
    for folder in folders:
        count = len(list_images(folder))
        if count < 2:
            raise InputError(f"{folder}: got {count} image(s), FID needs at least 2")


def _fid(fv, names):
    """FID of result_dir vs fid_ref_dir, or None (with a line saying why) when it cannot be computed."""
    if "fid" not in names:
        return None
    try:
        _check_fid_folders(fv.result_dir, fv.fid_ref_dir)
        model = _load_or_skip("fid", load_inception, fv.inception_weights)
        if model is None:
            return None
        return evaluate.folder_fid(model, fv.result_dir, fv.fid_ref_dir, _warn, fv.progress)
    except InputError as e:
        _warn(f"FID skipped: {e}")
        return None


def run(fv):
    """Computes and prints the metrics the flags ask for; returns the printed table."""
    set_max_pixels(fv.max_pixels)
    names = evaluate.parse_metrics(fv.metrics)
    pairs, results_only, gt_only = pair_images(fv.result_dir, fv.gt_dir)
    _report_unmatched(results_only, gt_only)
    lpips_model = _load_or_skip("lpips", load_lpips, fv.alexnet_weights) if "lpips" in names else None
    niqe_params = _load_or_skip("niqe", load_niqe_params, fv.niqe_params) if "niqe" in names else None
    fns = evaluate.image_metrics(names, fv.crop_border, fv.y_coeffs, lpips_model, niqe_params, fv.niqe_luma)
    rows = evaluate.score_pairs(pairs, fns, _warn, fv.progress) if fns else []
    fid = _fid(fv, names)
    if fv.csv:
        evaluate.write_csv(fv.csv, rows, list(fns))
    table = evaluate.format_table(rows, list(fns), evaluate.means(rows, fns), fid) if fns or fid is not None else ""
    print(f"{len(rows)} of {len(pairs)} matched pair(s) scored" + (f"\n{table}" if table else ""))
    return table


def main(argv=None) -> int:
    """Entry point; ``argv`` without the program name (default ``sys.argv[1:]``)."""
    return run_main(SCRIPT, _run, argv)


def _run(argv):
    run(parse_flags_into(define_flags(), argv, SCRIPT))


if __name__ == "__main__":
    sys.exit(main())
