"""The face pairs of one photo, as generate_test_faces.py writes them, cut into adaptation patches.

``{face_dir}/Face_LQ/{name}_{i}.png`` is the LQ photo cropped at a face box; ``Face_HQ/{name}_{i}.png`` is
the same box at 4x in the restored face. Names match exactly: faces of ``img1`` are ``img1_0.png``,
``img1_1.png``..., never ``img10_0.png`` (the original's prefix glob mixed those up).
"""
import dataclasses
import os
import re

import numpy as np

from metaf2n_tf.data.images import is_image_name, read_rgb
from metaf2n_tf.errors import InputError
from metaf2n_tf.models import SCALE



@dataclasses.dataclass
class FacePatches:
    """Adaptation batch of one photo plus what went wrong while building it."""

    lq: np.ndarray | None  # [N, p, p, 3] uint8, or [1, h, w, 3] for a single small face
    hq: np.ndarray | None  # [N, 4p, 4p, 3] uint8
    used: list  # face files used
    errors: list  # one-line messages: bad input (the run exits non-zero)
    warnings: list  # one-line messages: nothing wrong with the files, but worth saying


def face_files(face_dir, name):
    """Sorted (index, LQ path, HQ path or None) of the faces of photo ``name``."""
    lq_dir = os.path.join(face_dir, "Face_LQ")
    hq_dir = os.path.join(face_dir, "Face_HQ")
    if not os.path.isdir(lq_dir):
        return []
    pattern = re.compile(re.escape(name) + r"_(\d+)(\.[A-Za-z]+)$")
    found = []
    for entry in os.listdir(lq_dir):
        m = pattern.fullmatch(entry)
        if m and is_image_name(m.group(2)):
            hq = os.path.join(hq_dir, entry)
            found.append((int(m.group(1)), os.path.join(lq_dir, entry), hq if os.path.isfile(hq) else None))
    return sorted(found)


def sample_offsets(rng, height, width, patch, count):
    """``count`` top-left offsets of patch x patch crops, uniform over EVERY valid position.

    Valid offsets are 0 .. size - patch inclusive (the original's randrange stopped one short).
    """
    ys = rng.integers(0, height - patch + 1, size=count)
    xs = rng.integers(0, width - patch + 1, size=count)
    return list(zip(ys.tolist(), xs.tolist()))


def load_face_patches(face_dir, name, patch_size, patch_num, rng):
    """Reads the face pairs of ``name`` from ``face_dir`` and cuts them with :func:`cut_face_patches`.

    Bad pairs (no HQ twin, unreadable, HQ not 4x its LQ) are listed in ``errors`` and skipped.
    """
    pairs, errors = [], []
    for _, lq_path, hq_path in face_files(face_dir, name):
        if hq_path is None:
            errors.append(f"{lq_path}: no HQ twin in {os.path.join(face_dir, 'Face_HQ')}")
            continue
        try:
            pairs.append((lq_path, read_rgb(lq_path), read_rgb(hq_path), hq_path))
        except InputError as e:
            errors.append(str(e))
    patches = cut_face_patches([(label, lq, hq) for label, lq, hq, _ in pairs], patch_size, patch_num, rng,
                               hq_labels=[hq_path for *_, hq_path in pairs])
    return dataclasses.replace(patches, errors=errors + patches.errors)


def cut_face_patches(pairs, patch_size, patch_num, rng, hq_labels=None):
    """Cuts ``patch_num`` random LQ/HQ patch pairs from each ``(label, lq, hq)`` face pair (uint8 RGB).

    LQ patches are ``patch_size // 4`` square, HQ patches ``patch_size`` square at 4x coordinates.
    A face whose LQ crop is not larger than the LQ patch cannot give random patches: as in the
    original it is used whole, but only when the photo has no larger face (then alone, since faces of
    different sizes do not batch); otherwise it is skipped. A pair whose HQ is not 4x its LQ is listed in
    ``errors`` (named by ``hq_labels[i]`` when given) and skipped. ``used`` holds the labels of the faces used.
    """
    lq_patch = patch_size // SCALE
    lq_list, hq_list, used, errors, warnings = [], [], [], [], []
    small = None
    for i, (label, lq, hq) in enumerate(pairs):
        h, w = lq.shape[:2]
        if hq.shape[:2] != (h * SCALE, w * SCALE):
            hq_label = hq_labels[i] if hq_labels else f"{label} (HQ)"
            errors.append(f"{hq_label}: size {hq.shape[1]}x{hq.shape[0]}, expected 4x its LQ face = {w * SCALE}x{h * SCALE}")
            continue
        if h <= lq_patch or w <= lq_patch:
            if small is None:
                small = (label, lq, hq)
            else:
                warnings.append(f"{label}: face {w}x{h} is not larger than the {lq_patch}px LQ patch; skipped")
            continue
        for y, x in sample_offsets(rng, h, w, lq_patch, patch_num):
            lq_list.append(lq[y : y + lq_patch, x : x + lq_patch])
            hq_list.append(hq[y * SCALE : (y + lq_patch) * SCALE, x * SCALE : (x + lq_patch) * SCALE])
        used.append(label)
    if small is not None:
        label, lq, hq = small
        if lq_list:
            warnings.append(f"{label}: face {lq.shape[1]}x{lq.shape[0]} is not larger than the {lq_patch}px LQ patch; skipped")
        else:
            warnings.append(f"{label}: face {lq.shape[1]}x{lq.shape[0]} is not larger than the {lq_patch}px LQ patch; used whole")
            return FacePatches(lq[None], hq[None], [label], errors, warnings)
    if not lq_list:
        return FacePatches(None, None, [], errors, warnings)
    return FacePatches(np.stack(lq_list), np.stack(hq_list), used, errors, warnings)
