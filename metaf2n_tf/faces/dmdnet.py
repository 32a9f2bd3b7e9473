"""The ``dmdnet`` face restorer: DMDNet on aligned 512² faces, with the original's pre/post-processing.

Upstream (``csxmli2016/DMDNet:main_test.py``): a face is read with OpenCV (grey -> RGB), resized to
512x512 with ``INTER_AREA`` when either side is below 512, mapped to [-1, 1]; 68 landmarks give the
component boxes (:func:`component_boxes`); the network returns the generic result and, with reference
photos of the same person, the specific one; results are ``clip(y · 0.5 + 0.5, 0, 1) · 255`` written
by ``cv2.imwrite`` from float, which rounds to nearest (ties to even): rounding, not truncation.

Landmarks come from a file when there is one: 68 lines ``x y`` in the pixels of the face the network
sees (upstream's format), ``{image path}.txt`` beside an LQ face and ``{reference landmark dir}/{reference
file name}.txt`` for a reference. Upstream detects the LQ landmarks with the ``face_alignment`` FAN at
run time, whose weights download; here, where no file is given, the offline face-api.js 68-point net of
``metaf2n_tf.faces.landmarks`` finds them (:func:`face_landmarks`: ``auto`` = the file when present,
else detection; ``detect``; ``file``).

In the faces pipeline (``generate_test_faces.py --restorer dmdnet``) :meth:`DMDNetRestorer.restore_aligned`
detects the landmarks of every aligned face, unless one landmark file of the 512 template frame
(``--dmdnet_landmarks``) is given for all faces.
"""
import os

import cv2
import numpy as np
import tensorflow as tf

from metaf2n_tf.data.images import read_rgb
from metaf2n_tf.errors import ConfigError, InputError
from metaf2n_tf.faces import landmarks as face_landmarks68
from metaf2n_tf.faces.network_range import from_network_uint8
from metaf2n_tf.models.dmdnet import LOC_ROWS, STRIDES
from metaf2n_tf.weights.dmdnet import load_dmdnet, save_h5

FACE_SIZE = 512
LANDMARK_COUNT = 68
LANDMARK_RANGE = (8.0, 504.0)  # upstream clips every point to this range before deriving boxes
MOUTH_LIMIT = 510.0  # and the mouth box's bottom-right corner to this
MIN_REFERENCES = 2
LANDMARK_MODES = ("auto", "detect", "file")
BROW_EYE_POINTS = {"le": list(range(17, 22)) + list(range(36, 42)), "re": list(range(22, 27)) + list(range(42, 48))}
EYE_POINTS = {"le": list(range(36, 42)), "re": list(range(42, 48))}
NOSE_POINTS = list(range(29, 36))
MOUTH_POINTS = list(range(48, 68))
PART_NAMES = {"le": "left eye", "re": "right eye", "mo": "mouth"}


# ---------------------------------------------------------------- landmarks and boxes

def read_landmarks(path):
    """Reads a landmark file: 68 lines ``x y`` (floats) -> [68, 2] float64; InputError otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: landmark file not found (expected {LANDMARK_COUNT} lines 'x y')")
    try:
        with open(path, encoding="utf-8") as f:
            rows = [line.split() for line in f if line.strip()]
        points = np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    except (UnicodeDecodeError, ValueError):
        raise InputError(f"{path}: not a landmark file (expected {LANDMARK_COUNT} lines 'x y' of numbers)") from None
    if points.shape != (LANDMARK_COUNT, 2):
        got = f"{len(rows)} lines" if points.ndim != 2 or points.shape[1] == 2 else f"lines of {points.shape[1]} values"
        raise InputError(f"{path}: got {got}, expected {LANDMARK_COUNT} lines 'x y'")
    if not np.isfinite(points).all():
        raise InputError(f"{path}: landmarks contain NaN or infinity")
    return points


def _eye_box(points, part):
    center = points[EYE_POINTS[part]].mean(axis=0)
    above = 1.3 * (center[1] - points[BROW_EYE_POINTS[part], 1].min())
    below = above / 1.9
    half_width = (above + below) / 2
    return np.array([center[0] - half_width + 1, center[1] - above + 1, center[0] + half_width, center[1] + below])


def _nose_box(points):
    center = points[NOSE_POINTS].mean(axis=0)
    half_width = 1.25 * max(center[0] - points[31, 0], points[35, 0] - center[0])
    below = 1.1 * (points[33, 1] - center[1])
    above = 2 * half_width - below
    return np.array([center[0] - half_width + 1, center[1] - above + 1, center[0] + half_width, center[1] + below])


def _mouth_box(points):
    mouth = points[MOUTH_POINTS]
    center = mouth.mean(axis=0)
    half = 1.1 * max((mouth.max(axis=0) - mouth.min(axis=0)).max() / 2, 16.0)
    return np.concatenate([center - half + 1, np.minimum(center + half, MOUTH_LIMIT)])


def component_boxes(landmarks):
    """68 landmarks (512-pixel face) -> [4, 4] int boxes ``[x1, y1, x2, y2]`` (end exclusive) of the left
    eye, right eye, nose and mouth, derived exactly as upstream ``get_component_location``.

    Points are clipped to [8, 504]. Eyes: eye-point mean (mx, my), L1 = 1.3·(my − highest brow/eye
    point), L2 = L1/1.9, a box L1+L2 wide from my − L1 to my + L2. Nose: half-width 1.25·max(mx − x31,
    x35 − mx), depth below the centre 1.1·(y33 − my). Mouth: a square of half-side
    1.1·max(largest extent / 2, 16), its bottom-right corner capped at 510. Top-left corners are + 1,
    and everything is truncated toward zero.
    """
    points = np.clip(np.asarray(landmarks, np.float64).reshape(LANDMARK_COUNT, 2), *LANDMARK_RANGE)
    boxes = np.stack([_eye_box(points, "le"), _eye_box(points, "re"), _nose_box(points), _mouth_box(points)])
    return boxes.astype(np.int64)


def check_boxes(boxes, height, width, source):
    """InputError unless the eye and mouth boxes lie inside a ``height`` x ``width`` face and stay
    non-empty on every feature map (upstream fails on such faces: "something wrong with the locations")."""
    for part, row in LOC_ROWS.items():
        x1, y1, x2, y2 = (int(v) for v in boxes[row])
        inside = 0 <= x1 and 0 <= y1 and x2 <= width and y2 <= height
        nonempty = all(x2 // s > x1 // s and y2 // s > y1 // s for s in STRIDES.values())
        if not (inside and nonempty):
            raise InputError(f"{source}: {PART_NAMES[part]} box [{x1}, {y1}, {x2}, {y2}] is empty at 1/8 or "
                             f"outside the {width}x{height} face; check the landmarks")


def face_boxes(landmarks_path, height=FACE_SIZE, width=FACE_SIZE):
    """Reads a landmark file and returns its checked component boxes [4, 4]."""
    boxes = component_boxes(read_landmarks(landmarks_path))
    check_boxes(boxes, height, width, landmarks_path)
    return boxes


def uses_file(landmark_path, mode):
    """Whether ``mode`` (one of ``LANDMARK_MODES``) takes the landmarks from ``landmark_path``."""
    if mode not in LANDMARK_MODES:
        raise ConfigError(f"--landmarks: got '{mode}', expected one of {', '.join(LANDMARK_MODES)}")
    return mode == "file" or (mode == "auto" and os.path.isfile(landmark_path))


def face_landmarks(faces, image_paths, landmark_paths, mode="auto"):
    """The 68 landmarks of prepared faces, each from its file or detected, as ``mode`` says.

    Args:
      faces: uint8 RGB faces (see :func:`prepare_face`).
      image_paths: their files (named in errors about detected points).
      landmark_paths: where each one's landmark file is or would be.
      mode: ``auto`` (the file when it exists, else detection), ``detect`` or ``file``.

    Returns ``[(points [68, 2], source)]``: ``source`` is the landmark file or the image path.
    Faces without a file are detected in one batch; InputError names the first bad file or face.
    """
    found, missing = {}, []
    for i, (image_path, landmark_path) in enumerate(zip(image_paths, landmark_paths)):
        if uses_file(landmark_path, mode):
            found[i] = (read_landmarks(landmark_path), os.fspath(landmark_path))
        else:
            missing.append(i)
    if missing:
        sources = [f"{image_paths[i]}: detected landmarks" for i in missing]
        points = face_landmarks68.detect_landmarks([faces[i] for i in missing], sources)
        found.update({i: (p, s) for i, p, s in zip(missing, points, sources)})
    return [found[i] for i in range(len(faces))]


def checked_boxes(points, face, source):
    """Component boxes of ``points``, checked against the face's size (InputError naming ``source``)."""
    boxes = component_boxes(points)
    check_boxes(boxes, *np.shape(face)[:2], source)
    return boxes


# ---------------------------------------------------------------- faces in and out

def prepare_face(rgb, source="face"):
    """Upstream's input rule: a face with a side below 512 is resized to 512x512 (``INTER_AREA``); other
    sizes are kept and must be multiples of 8 (the decoder's x8 path)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"{source}: got {rgb.dtype} {rgb.shape}, expected uint8 RGB [H, W, 3]")
    height, width = rgb.shape[:2]
    if height < FACE_SIZE or width < FACE_SIZE:
        return cv2.resize(rgb, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    if height % 8 or width % 8:
        raise InputError(f"{source}: got {width}x{height}, expected 512x512 (or sides >= 512 divisible by 8)")
    return rgb


def read_face(path):
    """Reads a face file as upstream's network sees it (RGB uint8, see :func:`prepare_face`)."""
    return prepare_face(read_rgb(path), path)


def to_network(rgb):
    """uint8 RGB faces -> the network's [-1, 1] input, as upstream computes it (``(x / 255 − 0.5) / 0.5``)."""
    return (np.asarray(rgb, np.float32) / 255.0 - 0.5) / 0.5


def draw_landmarks(rgb, landmarks):
    """``--check`` picture: the face with landmarks 17..67 (brows, eyes, nose, mouth) as green dots, as upstream."""
    out = np.ascontiguousarray(rgb).copy()
    for x, y in np.asarray(landmarks)[17:]:
        cv2.circle(out, (int(x), int(y)), 1, (0, 255, 0), 4)
    return out


# ---------------------------------------------------------------- the restorer

class DMDNetRestorer:
    """DMDNet restorer built from user-supplied weights (upstream ``.pth`` or converted ``.h5``).

    Args:
        weights_path: the weights file.
        aligned_landmarks: optional 68-point landmark file of the 512 aligned-face frame, used by
            :meth:`restore_aligned` for every face instead of detecting each face's landmarks.

    Attributes:
        size: the aligned face side, 512.
        model: the Keras ``DMDNet`` (run eagerly: as fast as a traced graph here, without the trace).
        arch: the builder's arguments read from the weights.
    """

    size = FACE_SIZE

    def __init__(self, weights_path, aligned_landmarks=None):
        self.model, self.arch = load_dmdnet(weights_path)
        self.aligned_boxes = None if aligned_landmarks is None else face_boxes(aligned_landmarks)

    def save_weights(self, path):
        """Writes the loaded weights in the project's ``.h5`` format."""
        save_h5(path, self.model, self.arch)

    def specific_dictionary(self, references):
        """The specific dictionary of ``references``: a list of (uint8 RGB face, [4, 4] boxes), >= 2 of them."""
        if len(references) < MIN_REFERENCES:
            raise InputError(f"got {len(references)} reference(s), expected at least {MIN_REFERENCES}")
        shapes = {face.shape for face, _ in references}
        if len(shapes) != 1:
            raise InputError(f"references differ in size ({sorted(shapes)}); expected one size")
        faces = np.stack([to_network(face) for face, _ in references])
        boxes = np.stack([np.asarray(b, np.int32) for _, b in references])
        return self.model.memorize(tf.constant(faces), tf.constant(boxes))

    def restore(self, face, boxes, specific=None):
        """Restores one prepared face (uint8 RGB, see :func:`prepare_face`) with its [4, 4] boxes.

        Returns (generic uint8, specific uint8 or None); ``specific`` is a :meth:`specific_dictionary`.
        """
        lq = tf.constant(to_network(face)[None])
        loc = tf.constant(np.asarray(boxes, np.int32)[None])
        generic, result = self.model.restore(lq, loc, specific)
        with_specific = None if result is None else from_network_uint8(result[0].numpy(), "round")
        return from_network_uint8(generic[0].numpy(), "round"), with_specific

    def restore_aligned(self, face):
        """Faces-pipeline entry: one aligned 512 face (uint8 RGB) -> generic restoration (uint8 RGB).

        The boxes come from the template landmark file when one was given, else from the face's own
        detected landmarks (InputError when none plausible are found).
        """
        face = np.asarray(face)
        expected = (self.size, self.size, 3)
        if face.dtype != np.uint8 or face.shape != expected:
            raise InputError(f"aligned face: got {face.dtype} {face.shape}, expected uint8 {expected}")
        boxes = self.aligned_boxes
        if boxes is None:
            source = "aligned face: detected landmarks"
            boxes = checked_boxes(face_landmarks68.detect_landmarks([face], [source])[0], face, source)
        return self.restore(face, boxes)[0]
