"""68 face landmarks (iBUG 300-W order) of aligned faces, offline: the face-api.js 68-point net.

DMDNet needs the 68 landmarks of every face it restores (they give its eye, nose and mouth boxes).
Upstream finds them with the ``face_alignment`` FAN, whose weights download at run time; this module
uses instead the MIT-licensed face-api.js net that ships inside the package
(``metaf2n_tf.models.face_landmark68``, weights read by ``metaf2n_tf.weights.face_landmark68``).

The net sees a square crop resized to 112x112 and returns each point as a fraction of that crop's
side. The recipe, in passes:

1. the whole face (a non-square image is centred on a square of its longer side, padded black);
2. then ``passes - 1`` times: the square of ``margin`` times the larger side of the box around the
   previous points, centred on that box (padded black where it leaves the image).

Crops are shrunk to 112 with ``INTER_AREA`` (enlarged with ``INTER_LINEAR``). On the 117 aligned
512² reference faces of upstream DMDNet, 3 passes with margin 1.2 bring the mean point error against
FAN's landmarks to about 2.6 % of the outer-eye-corner distance (2.8 % on x4-degraded copies),
against about 6.5 % for the first pass alone (``tools/measure_landmarks.py`` measures it; figures in
the README). Bilinear instead of area shrinking, a margin of 1.1 or 1.3, or a fourth pass change the
error by less than 0.1 %.

Points are (x, y) in the pixels of the input image: x = 0 is the left edge of the first column, as
``cv2.circle`` and DMDNet's boxes read them.
"""
import os
import sys

import cv2
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from metaf2n_tf.data.images import read_rgb
from metaf2n_tf.errors import ConfigError, InputError, MetaF2NError
from metaf2n_tf.models.face_landmark68 import INPUT_SIZE, POINTS
from metaf2n_tf.weights.face_landmark68 import load_face_landmark68

PASSES = 3
MARGIN = 1.2
# A plausible face: every point inside the image, at most this fraction of its side beyond an edge ...
OUTSIDE_TOLERANCE = 0.05
# ... and the box of the points at least this fraction of the image's shorter side in width and height.
MIN_BOX_FRACTION = 0.1


def check_face(face, source="face"):
    """The face as a uint8 RGB [H, W, 3] array; InputError otherwise."""
    face = np.asarray(face)
    if face.dtype != np.uint8 or face.ndim != 3 or face.shape[2] != 3 or min(face.shape[:2]) < 8:
        raise InputError(f"{source}: got {face.dtype} {face.shape}, expected uint8 RGB [H, W, 3], sides >= 8")
    return face


def crop_square(face, center, side, size=INPUT_SIZE):
    """The square of ``side`` pixels centred on ``center`` (x, y), black outside the image, resized to
    ``size``; returns (crop, (x0, y0, side)) with the integer square actually cut."""
    side = max(int(round(side)), 1)
    x0, y0 = int(round(center[0] - side / 2)), int(round(center[1] - side / 2))
    height, width = face.shape[:2]
    square = np.zeros((side, side, 3), np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        square[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = face[sy0:sy1, sx0:sx1]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation), (x0, y0, side)


def points_square(points, margin=MARGIN):
    """(centre, side) of the square ``margin`` times the larger side of the box around ``points``."""
    low, high = points.min(axis=0), points.max(axis=0)
    return (low + high) / 2, margin * float((high - low).max())


class LandmarkDetector:
    """The face-api.js 68-point net with the multi-pass recipe (see the module docstring).

    Args:
        passes: how many times the net runs on each face (>= 1).
        margin: the re-crop square's side over the larger side of the previous points' box.
    """

    def __init__(self, passes=PASSES, margin=MARGIN):
        if int(passes) < 1 or not margin > 0:
            raise ValueError(f"passes {passes} and margin {margin}: expected passes >= 1 and margin > 0")
        self.passes, self.margin = int(passes), float(margin)
        self.model = load_face_landmark68()
        self._forward = tf.function(
            self.model, input_signature=[tf.TensorSpec([None, INPUT_SIZE, INPUT_SIZE, 3], tf.float32)])

    def _run(self, crops):
        out = self._forward(tf.constant(np.stack(crops).astype(np.float32))).numpy()
        return out.reshape(len(crops), POINTS, 2).astype(np.float64)

    def detect_batch(self, faces, sources=None):
        """Landmarks of several faces (each uint8 RGB, any size) -> [N, 68, 2] float64 (x, y) pixels.

        Raises InputError naming the first face that is not a uint8 RGB image (``sources`` name them).
        The points are not checked for plausibility: :func:`check_landmarks` does that.
        """
        sources = sources or [f"face {i}" for i in range(len(faces))]
        faces = [check_face(face, source) for face, source in zip(faces, sources)]
        if not faces:
            return np.zeros((0, POINTS, 2))
        squares = [((w / 2, h / 2), max(h, w)) for h, w in (face.shape[:2] for face in faces)]
        for _ in range(self.passes):
            cut = [crop_square(face, center, side) for face, (center, side) in zip(faces, squares)]
            fractions = self._run([crop for crop, _ in cut])
            points = np.stack([np.array([x0, y0]) + f * side for f, (_, (x0, y0, side)) in zip(fractions, cut)])
            squares = [points_square(p, self.margin) for p in points]
        return points

    def detect(self, face, source="face"):
        """Landmarks of one face: uint8 RGB [H, W, 3] -> [68, 2] float64 (x, y) pixels, checked by
        :func:`check_landmarks`."""
        points = self.detect_batch([face], [source])[0]
        check_landmarks(points, *np.shape(face)[:2], source)
        return points


def check_landmarks(points, height, width, source):
    """InputError unless the 68 points look like a face in a ``height`` x ``width`` image: finite, inside
    it (up to 5 % of its side) and spread over at least a tenth of its shorter side both ways."""
    points = np.asarray(points, np.float64)
    tol_x, tol_y = OUTSIDE_TOLERANCE * width, OUTSIDE_TOLERANCE * height
    if not np.isfinite(points).all():
        raise InputError(f"{source}: no plausible landmarks found (not finite)")
    low, high = points.min(axis=0), points.max(axis=0)
    if low[0] < -tol_x or low[1] < -tol_y or high[0] > width + tol_x or high[1] > height + tol_y:
        raise InputError(f"{source}: no plausible landmarks found (points reach ({low[0]:.0f}, {low[1]:.0f}) .. "
                         f"({high[0]:.0f}, {high[1]:.0f}), outside the {width}x{height} image)")
    if (high - low).min() < MIN_BOX_FRACTION * min(height, width):
        raise InputError(f"{source}: no plausible landmarks found (their box is {high[0] - low[0]:.0f}x"
                         f"{high[1] - low[1]:.0f} px in a {width}x{height} image)")


_DEFAULT = {}


def default_detector():
    """One shared :class:`LandmarkDetector` with the default recipe (built on first use)."""
    if "detector" not in _DEFAULT:
        _DEFAULT["detector"] = LandmarkDetector()
    return _DEFAULT["detector"]


def detect_landmarks(faces, sources=None):
    """Batch API: landmarks of a list of aligned faces (uint8 RGB, any sizes) -> [N, 68, 2] float64,
    each face checked by :func:`check_landmarks` (InputError naming the first implausible one)."""
    points = default_detector().detect_batch(faces, sources)
    sources = sources or [f"face {i}" for i in range(len(faces))]
    for p, face, source in zip(points, faces, sources):
        check_landmarks(p, *np.shape(face)[:2], source)
    return points


# ---------------------------------------------------------------- landmark files

def format_landmarks(points):
    """Upstream's landmark file text: 68 lines ``x y`` with three decimals."""
    return "".join(f"{x:.3f} {y:.3f}\n" for x, y in np.asarray(points, np.float64))


def detect_folder(input_dir, output_dir, program="detect_landmarks.py", batch=16):
    """Writes ``{output_dir}/{file name}.txt`` (see :func:`format_landmarks`) for every image file of
    ``input_dir``, in the image's own pixels; returns (written, failed) counts.

    An unreadable image or one without plausible landmarks is one line ``program: message`` on stderr;
    the others go on.
    """
    if not os.path.isdir(input_dir):
        raise ConfigError(f"{input_dir}: --input_dir not found (expected a folder of aligned faces)")
    paths = sorted(os.path.join(input_dir, e) for e in os.listdir(input_dir)
                   if os.path.isfile(os.path.join(input_dir, e)))
    if not paths:
        raise ConfigError(f"{input_dir}: no files in --input_dir")
    os.makedirs(output_dir, exist_ok=True)
    detector = default_detector()
    written = failed = 0

    def report(error):
        nonlocal failed
        tqdm.write(f"{program}: {error}", file=sys.stderr)
        failed += 1

    with tqdm(total=len(paths), desc=program, unit="face", file=sys.stderr) as progress:
        for start in range(0, len(paths), batch):
            faces, names = [], []
            for path in paths[start:start + batch]:
                try:
                    faces.append(check_face(read_rgb(path), path))
                    names.append(path)
                except MetaF2NError as e:
                    report(e)
            for path, face, points in zip(names, faces, detector.detect_batch(faces, names)):
                try:
                    check_landmarks(points, *face.shape[:2], path)
                    with open(os.path.join(output_dir, os.path.basename(path) + ".txt"), "w", encoding="utf-8") as f:
                        f.write(format_landmarks(points))
                    written += 1
                except MetaF2NError as e:
                    report(e)
            progress.update(len(paths[start:start + batch]))
    return written, failed
