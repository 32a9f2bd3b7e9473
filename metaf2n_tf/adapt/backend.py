"""Whole-image SR through one of two inference backends: TensorFlow (Keras) or OpenVINO (CPU).

The one entry point for every caller (test.py, the demo, enhance.py)::

    sr = make_sr(weights, backend="auto", gpu="0")     # weights: metaf2n_tf.weights.sources.Weights
    out = sr.super_resolve(image)                      # [H, W, 3] float32 in [0, 1] -> [4H, 4W, 3]
    out = sr.super_resolve(image, sr_tensors=adapted)  # per-photo (adapted) weights, nothing recompiled

``backend``: ``openvino`` runs the RRDBNet graph built from the weight arrays by OpenVINO (CPU only);
``tf`` runs the Keras model; ``auto`` picks OpenVINO on CPU and TensorFlow when a GPU is in use, and falls
back to TensorFlow with one line on stderr when OpenVINO is missing or fails. An explicit ``openvino``
that cannot run raises :class:`BackendError`.

The OpenVINO model takes the weights as inputs (see ``ov_rrdbnet``): adapted fast weights go in per photo,
in memory, and a compiled model is kept per input shape (tiles of one photo share one shape, see
``tiling``). On this project's CPU that costs nothing measurable against weights baked in as constants
(process CPU time per 128x128 x4plus inference 8.6-8.9 s both ways, machine loaded by other work), and
saves a compilation (0.2-0.7 s quiet, x4plus with the looped trunk) per photo and tile shape after adaptation.

Only the TF backend and adaptation import TensorFlow; OpenVINO without adaptation never does.
"""
import collections
import sys
import time

import numpy as np

from metaf2n_tf.adapt import tiling
from metaf2n_tf.adapt.ov_rrdbnet import build_rrdbnet_ov, input_arrays, num_blocks
from metaf2n_tf.devices import gpu_in_use
from metaf2n_tf.errors import BackendError
from metaf2n_tf.openvino_runtime import cpu_runtime, first_line

BACKENDS = ("auto", "tf", "openvino")
# OpenVINO's convolutions, direct (False) or Winograd (True): (seconds per LQ pixel run, seconds to compile a
# shape). x4plus (trunk as a Loop), 2 threads, this project's 2-core AVX2 machine, quiet, 2026-11-30 17:3x UTC:
# a 500x500 LQ photo whole, direct 59.6 s (0.21 s compiling), Winograd 46.2 s (0.68 s compiling). At 128x128
# Winograd runs 0.61x direct; on large maps 0.71-0.78x (its transforms outgrow the caches).
CONV_COST = {False: (238e-6, 0.2), True: (185e-6, 0.7)}


def _stderr(msg):
    print(msg, file=sys.stderr)


class _Engine:
    """What both backends share: :meth:`super_resolve` over their ``forward`` and ``set_weights``."""

    name = ""
    uniform_tiles = False  # one input shape for every tile of a photo (tiling.tile_grid)
    log = staticmethod(_stderr)
    _said_tile = None

    @property
    def memory_model(self):
        """The ``tiling.MEMORY_MODEL`` entry of what runs now."""
        return self.name

    def prepare(self, height, width, tile=0, tile_pad=tiling.DEFAULT_PAD, max_memory=None):
        """Called with each photo's LQ size and tiling before it runs (an engine may choose how to run it)."""

    def super_resolve(self, image, sr_tensors=None, tile=-1, tile_pad=tiling.DEFAULT_PAD, max_memory=None,
                      progress=None):
        """SR of one image [H, W, 3] float32 in [0, 1] -> [4H, 4W, 3] float32 (unclamped).

        Args:
            sr_tensors: the weights for this image (canonical tensors, e.g. adapted ones); None = the base ones.
            tile: LQ tile size; -1 automatic (the largest that fits ``max_memory``, said once per choice),
                0 whole image.
            tile_pad: context pixels around each tile.
            max_memory: bytes automatic tiling may use (None: half of the available memory).
            progress: called as ``progress(i, n)`` after tile i of n.
        """
        self.set_weights(sr_tensors)
        height, width = image.shape[:2]
        self.prepare(height, width, tile, tile_pad, max_memory)
        if tile < 0:
            tile = tiling.resolve_tile(tile, height, width, tile_pad, self.memory_model, max_memory)
            if tile != self._said_tile:
                self._said_tile = tile
                budget = (tiling.available_memory() / 2 if max_memory is None else max_memory) / 2**30
                what = "whole image" if tile == 0 else f"tile {tile}, pad {tile_pad}"
                self.log(f"note: automatic tiling: {what} ({width}x{height} LQ, {self.memory_model}, "
                         f"memory budget {budget:.1f} GiB)")
        return tiling.super_resolve(self.forward, image, tile, tile_pad, progress, uniform=self.uniform_tiles)


class OpenVINOSR(_Engine):
    """RRDBNet x4 on OpenVINO's CPU plugin, float32; compiled models cached per input shape.

    Convolutions run directly or by Winograd F(4x4, 3x3) written in the graph (``ov_winograd``): Winograd
    infers in 0.6-0.8x the time (x4plus, 128x128 to 500x500 LQ) and compiles in 0.7 s against 0.2 s (the
    RRDB trunk is one Loop, its block compiled once), but needs about 2x the activation memory, so under a
    memory budget it may need smaller tiles (more overlap). ``winograd="auto"`` estimates both plans for each
    photo, pixels run (tiles with their pads) times seconds per pixel plus one compilation
    (:data:`CONV_COST`), and takes the faster.

    Args:
        sr_tensors: canonical SR tensors (TF1 names, HWIO kernels).
        num_threads: CPU threads (None: OpenVINO's choice, all cores).
        winograd: "auto", True (always) or False (never).
    """

    name = "openvino"
    uniform_tiles = True  # one compiled model per photo size
    MAX_SHAPES = 2

    def __init__(self, sr_tensors, num_threads=None, winograd="auto"):
        if winograd not in ("auto", True, False):
            raise ValueError(f"winograd: got {winograd!r}, expected 'auto', True or False")
        self._ov, self.core, self.config = cpu_runtime(num_threads)
        self._num_block = num_blocks(sr_tensors)
        self._requests = collections.OrderedDict()  # (h, w, winograd) -> infer request for [1, h, w, 3]
        self.compile_seconds = 0.0
        self.winograd = winograd
        self._winograd_now = winograd is True
        self.set_weights(sr_tensors)
        self._base = self._feed

    @property
    def memory_model(self):
        return _memory_model(self._winograd_now)

    def prepare(self, height, width, tile=0, tile_pad=tiling.DEFAULT_PAD, max_memory=None):
        """Chooses direct or Winograd convolutions for a photo of height x width LQ pixels."""
        if self.winograd != "auto":
            self._winograd_now = self.winograd
            return
        self._winograd_now = min((False, True), key=lambda w: _plan_seconds(
            w, height, width, tile, tile_pad, max_memory, compiled={key[:2] for key in self._requests if key[2] == w}))

    def set_weights(self, sr_tensors=None):
        """Weights for the next calls: canonical tensors (arrays or eager tensors), or None for the base ones."""
        if sr_tensors is None:
            self._feed = self._base
            return
        if num_blocks(sr_tensors) != self._num_block:
            raise ValueError(f"got {num_blocks(sr_tensors)} RRDB blocks, expected {self._num_block}")
        self._feed = input_arrays(sr_tensors)

    def _request(self, height, width):
        """The infer request for this input shape; the ``MAX_SHAPES`` most recent are kept (each holds its
        activation buffers: a folder of photos of many sizes must not keep them all)."""
        key = (height, width, self._winograd_now)
        if key in self._requests:
            self._requests.move_to_end(key)
        else:
            while len(self._requests) >= self.MAX_SHAPES:
                self._requests.popitem(last=False)
            start = time.perf_counter()
            try:
                model = build_rrdbnet_ov(self._feed, height, width, weights_as_inputs=True,
                                         winograd=self._winograd_now)
                self._requests[key] = self.core.compile_model(model, "CPU", self.config).create_infer_request()
            except Exception as e:  # noqa: BLE001 - OpenVINO raises plain RuntimeErrors
                raise BackendError(f"openvino: cannot compile the SR model for {height}x{width} ({first_line(e)})") from None
            self.compile_seconds += time.perf_counter() - start
        return self._requests[key]

    def compile(self, height, width):
        """Compiles (once) the model for LQ input [1, height, width, 3]; raises on OpenVINO errors."""
        self._request(height, width)

    def forward(self, batch):
        """[1, h, w, 3] float32 in [0, 1] -> [1, 4h, 4w, 3] (unclamped)."""
        batch = np.ascontiguousarray(batch, np.float32)
        request = self._request(*batch.shape[1:3])
        feed = dict(self._feed)
        feed["lq"] = batch
        return request.infer(feed, share_inputs=True)[0].copy()



class TensorFlowSR(_Engine):
    """RRDBNet x4 through Keras (``Adapter.forward``: a tf.function on weight values); CPU or GPU.

    ``adapter``: an existing :class:`metaf2n_tf.adapt.tta.Adapter` to share its model, or None to build one
    from ``weights``.
    """

    name = "tf"

    def __init__(self, weights=None, adapter=None):
        from metaf2n_tf.adapt.tta import Adapter  # imports TensorFlow

        if adapter is None:
            from metaf2n_tf.weights.sources import build_models

            sr_model, _ = build_models(weights)
            adapter = Adapter(sr_model, None, warn=False)
        self.adapter = adapter
        self._names = sr_tensor_names(adapter.sr_model)
        self._base = adapter.initial_weights()
        self._values = self._base

    def set_weights(self, sr_tensors=None):
        """Canonical tensors (dict), a list of values in ``trainable_variables`` order, or None (base)."""
        if sr_tensors is None:
            self._values = self._base
            return
        if isinstance(sr_tensors, dict):
            sr_tensors = [sr_tensors[name] for name in self._names]
        self._values = list(sr_tensors)

    def forward(self, batch):
        """[1, h, w, 3] float32 in [0, 1] -> [1, 4h, 4w, 3] (unclamped)."""
        return np.asarray(self.adapter.forward(self._values, batch))


class AutoSR:
    """``auto``: OpenVINO until it fails (a model that does not compile), then TensorFlow, said in one line."""

    def __init__(self, engine, weights, adapter, log):
        self.engine, self._weights, self._adapter, self._log = engine, weights, adapter, log

    def __getattr__(self, name):  # name, forward, set_weights, ...: the engine in use answers
        return getattr(self.engine, name)

    def super_resolve(self, image, sr_tensors=None, **kwargs):
        try:
            return self.engine.super_resolve(image, sr_tensors, **kwargs)
        except BackendError as e:
            if self.engine.name == "tf":
                raise
            self._log(f"note: {e}; using TensorFlow instead")
            self.engine = TensorFlowSR(self._weights, self._adapter)
            self.engine.log = self._log
            return self.engine.super_resolve(image, sr_tensors, **kwargs)


def _memory_model(winograd):
    """The ``tiling.MEMORY_MODEL`` entry of OpenVINO's direct or Winograd graph."""
    return "openvino-winograd" if winograd else "openvino"


def _plan_seconds(winograd, height, width, tile, tile_pad, max_memory, compiled=()):
    """Estimated seconds of OpenVINO SR of a height x width LQ photo with Winograd or direct convolutions:
    pixels run (tiles with their pads) x seconds per pixel, plus a compilation unless the window shape is in
    ``compiled`` (a folder of same-size photos compiles once)."""
    tile = tiling.resolve_tile(tile, height, width, tile_pad, _memory_model(winograd), max_memory)
    windows = [(height, width)] if tile == 0 else [
        (y1 - y0, x1 - x0) for (y0, y1, x0, x1), _ in tiling.tile_grid(height, width, tile, tile_pad, uniform=True)]
    per_pixel, compile_seconds = CONV_COST[winograd]
    return sum(h * w for h, w in windows) * per_pixel + (0.0 if windows[0] in compiled else compile_seconds)


def sr_tensor_names(sr_model):
    """Canonical names of ``sr_model.trainable_variables``, in that order (fast weights are in that order)."""
    from metaf2n_tf.weights.names import model_tf1_names

    by_id = {id(var): name for var, name in model_tf1_names(sr_model)}
    return [by_id[id(var)] for var in sr_model.trainable_variables]


def values_to_tensors(sr_model, values):
    """Fast-weight values (``trainable_variables`` order) -> canonical ``{name: numpy array}``."""
    return {name: np.asarray(v) for name, v in zip(sr_tensor_names(sr_model), values)}


def make_sr(weights, backend="auto", gpu="", adapter=None, num_threads=None, log=_stderr):
    """The whole-image SR engine for ``backend`` ('auto', 'tf', 'openvino'); see the module docstring.

    Args:
        weights: :class:`metaf2n_tf.weights.sources.Weights` (the base weights).
        gpu: the ``--gpu`` spec; with ``auto``, a GPU in use selects TensorFlow.
        adapter: an existing Adapter whose Keras model the TF backend reuses (optional).
        num_threads: OpenVINO CPU threads (None: all cores).
        log: where the one-line fallback note goes.

    Raises:
        BackendError: ``openvino`` asked for explicitly and it cannot run (missing, fails to compile).
        ValueError: an unknown backend name (flags are checked before this).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: got {backend!r}, expected one of {', '.join(BACKENDS)}")
    if backend == "auto":
        if gpu_in_use(gpu):
            engine = TensorFlowSR(weights, adapter)
        else:
            try:
                engine = _openvino(weights, num_threads)
            except BackendError as e:
                log(f"note: {e}; using TensorFlow instead")
                engine = TensorFlowSR(weights, adapter)
        engine.log = log
        return AutoSR(engine, weights, adapter, log)
    engine = _openvino(weights, num_threads) if backend == "openvino" else TensorFlowSR(weights, adapter)
    engine.log = log
    return engine


def _openvino(weights, num_threads):
    """An OpenVINOSR, after checking that the CPU plugin compiles and runs a one-conv model (milliseconds)."""
    sr = OpenVINOSR(weights.sr, num_threads)
    try:
        import openvino.opset13 as ops

        x = ops.parameter([1, 3, 4, 4], np.float32)
        y = ops.convolution(x, ops.constant(np.ones((1, 3, 3, 3), np.float32)), [1, 1], [1, 1], [1, 1], [1, 1])
        out = sr.core.compile_model(sr._ov.Model([y], [x]), "CPU", sr.config)(np.ones((1, 3, 4, 4), np.float32))[0]
        if out.shape != (1, 1, 4, 4) or out[0, 0, 1, 1] != 27.0:
            raise RuntimeError(f"a 3x3 conv of ones gave {out[0, 0, 1, 1]}, expected 27")
    except Exception as e:  # noqa: BLE001 - any failure here means: this backend cannot run here
        raise BackendError(f"openvino: the CPU plugin does not work here ({first_line(e)})") from None
    return sr
