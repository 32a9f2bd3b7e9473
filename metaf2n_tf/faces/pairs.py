"""The LQ/HQ face pairs of one photo, as ``generate_test_faces.py`` writes them, and their metadata.

A pair is the LQ photo cropped at a detection box (``Face_LQ/{name}_{i}.png``) and the same box on the x4
canvas the restorer provides (``Face_HQ/{name}_{i}.png``), so the HQ crop is exactly 4x the LQ crop.
``i`` is the face's rank in the detector's list (best score first). :func:`make_face_pairs` returns the
arrays exactly as they are written, for callers (the demo) that stay in memory.
"""
import json
import os
import re
from typing import NamedTuple

import numpy as np

from metaf2n_tf import atomic
from metaf2n_tf.data.images import write_rgb
from metaf2n_tf.errors import InputError
from metaf2n_tf.faces.align import ALIGNED_SIZE, SCALE, CropBox, estimate_alignment
from metaf2n_tf.faces.detect import check_image
from metaf2n_tf.faces.restore import CanvasRestorer, restored_crop

LQ_DIR, HQ_DIR = "Face_LQ", "Face_HQ"
FACES_JSON = "faces.json"


class FacePair(NamedTuple):
    """One face: its index, LQ crop, HQ crop (4x, uint8 RGB) and its ``faces.json`` record."""

    index: int
    lq: np.ndarray
    hq: np.ndarray
    record: dict


def _rounded(values, digits=3):
    return np.round(np.asarray(values, np.float64), digits).tolist()


def face_record(index, face, box, alignment):
    """The ``faces.json`` entry of one face: detection, crop and both affine matrices."""
    return {
        "index": index,
        "score": round(float(face.score), 6),
        "box": _rounded(face.box),                      # detector box x1, y1, x2, y2 (float pixels)
        "crop": [box.x0, box.y0, box.x1, box.y1],       # inclusive LQ pixels written to Face_LQ
        "landmarks": _rounded(face.landmarks),          # 5 x (x, y): eyes, nose, mouth corners
        "affine": _rounded(alignment.matrix, 6),        # photo -> aligned face (2x3)
        "affine_inv": _rounded(alignment.inverse, 6),   # aligned face -> photo (2x3)
    }


def make_face_pairs(lq_rgb, faces, restorer, gt_rgb=None):
    """LQ/HQ crops of every detected face of one photo.

    Args:
      lq_rgb: the LQ photo, HxWx3 uint8 RGB.
      faces: ``detect.Face`` list (box, score, landmarks), in the photo's pixels.
      restorer: from ``restore.restorer_by_name``.
      gt_rgb: the ground-truth photo (4H x 4W), for the ``gt`` restorer only.
    Returns:
      list of ``FacePair``; a face whose box lies wholly outside the photo is left out (its index unused).
    """
    lq = check_image(lq_rgb)
    height, width = lq.shape[:2]
    size = getattr(restorer, "size", ALIGNED_SIZE)
    pairs = []
    for index, face in enumerate(faces):
        box = CropBox.from_box(face.box, height, width)
        if box is None:
            continue
        alignment = estimate_alignment(face.landmarks, size)
        if isinstance(restorer, CanvasRestorer):
            hq = restorer.hq_crop(lq, gt_rgb, box)
        else:
            hq = restored_crop(restorer, lq, alignment, box)
        pairs.append(FacePair(index, np.ascontiguousarray(lq[box.slices()]), hq,
                              face_record(index, face, box, alignment)))
    return pairs


def pair_file_name(name, index):
    return f"{name}_{index}.png"


def remove_stale_pairs(output_dir, name):
    """Deletes ``{name}_{i}.png`` left in Face_LQ/Face_HQ by an earlier run (exact names only)."""
    pattern = re.compile(re.escape(name) + r"_\d+\.png")
    for sub in (LQ_DIR, HQ_DIR):
        folder = os.path.join(output_dir, sub)
        for entry in os.listdir(folder):
            if pattern.fullmatch(entry):
                os.remove(os.path.join(folder, entry))


def write_face_pairs(output_dir, name, pairs):
    """Writes the pairs of photo ``name`` under ``output_dir``; returns their records with file names."""
    for sub in (LQ_DIR, HQ_DIR):
        os.makedirs(os.path.join(output_dir, sub), exist_ok=True)
    remove_stale_pairs(output_dir, name)
    records = []
    for pair in pairs:
        if pair.hq.shape[:2] != (SCALE * pair.lq.shape[0], SCALE * pair.lq.shape[1]):
            raise InputError(f"{name} face {pair.index}: HQ crop {pair.hq.shape[:2]}, expected 4x {pair.lq.shape[:2]}")
        file_name = pair_file_name(name, pair.index)
        write_rgb(os.path.join(output_dir, LQ_DIR, file_name), pair.lq)
        write_rgb(os.path.join(output_dir, HQ_DIR, file_name), pair.hq)
        records.append({**pair.record, "lq_file": f"{LQ_DIR}/{file_name}", "hq_file": f"{HQ_DIR}/{file_name}"})
    return records


def write_faces_json(output_dir, summary):
    """Writes the run's metadata to ``{output_dir}/faces.json``; returns the path."""
    path = os.path.join(output_dir, FACES_JSON)
    atomic.write_text(path, json.dumps(summary, indent=1) + "\n", "face list")
    return path
