"""Image files for the metrics: listing a folder, pairing results with ground truth (reading: ``data.images``)."""
import os

from metaf2n_tf.data.images import is_image_name
from metaf2n_tf.errors import InputError


def list_images(folder):
    """Sorted paths of the image files directly in ``folder`` (by extension; a folder named like one is skipped)."""
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: folder not found")
    names = sorted(n for n in os.listdir(folder) if is_image_name(n) and not os.path.isdir(os.path.join(folder, n)))
    return [os.path.join(folder, n) for n in names]


def _by_stem(paths, folder):
    stems = {}
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems:
            both = f"{os.path.basename(stems[stem])}, {os.path.basename(path)}"
            raise InputError(f"{folder}: two images named '{stem}' ({both})")
        stems[stem] = path
    return stems


def pair_images(result_dir, gt_dir):
    """Matches results with ground truth by file name without extension.

    Returns:
        (pairs, results_without_gt, gt_without_result): ``pairs`` is a sorted list of
        ``(name, result_path, gt_path)``; the other two are sorted lists of names.
    """
    results = _by_stem(list_images(result_dir), result_dir)
    gts = _by_stem(list_images(gt_dir), gt_dir)
    pairs = [(name, results[name], gts[name]) for name in sorted(results) if name in gts]
    return pairs, sorted(set(results) - set(gts)), sorted(set(gts) - set(results))
