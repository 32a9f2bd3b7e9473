"""Image files for the metrics: listing a folder, pairing results with ground truth, reading RGB."""
import os

import cv2
import numpy as np

from metaf2n_tf.errors import InputError

# The extensions pytorch-fid lists (the original's FID reads every such file in a folder).
IMAGE_EXTENSIONS = (".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")


def list_images(folder):
    """Sorted paths of the image files directly in ``folder``."""
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: folder not found")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
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


def read_rgb(path):
    """Reads an 8-bit image as uint8 HxWx3 RGB (grey is repeated, alpha dropped)."""
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    if image.dtype != np.uint8:
        raise InputError(f"{path}: got {image.dtype} pixels, expected 8-bit")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] not in (3, 4):
        raise InputError(f"{path}: got {image.shape[2]} channels, expected 1, 3 or 4")
    return np.ascontiguousarray(image[..., 2::-1])
