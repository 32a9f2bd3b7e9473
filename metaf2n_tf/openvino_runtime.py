"""OpenVINO as this package imports it: without its telemetry, and its errors as one line.

A bottom layer (it imports nothing of the package, nor TensorFlow or Keras) shared by whole-image SR (``adapt.backend``) and
face detection (``faces.detect``), so that neither imports the other.
"""
import sys

from metaf2n_tf.errors import BackendError

_MISSING = object()
CPU_CONFIG = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}  # float32 even where bf16 exists


def import_openvino():
    """Imports OpenVINO with its telemetry switched off (ImportError when it is not installed).

    ``import openvino`` loads its model converter, which sends a usage event through the
    ``openvino_telemetry`` package and writes a client id under ~/intel, unless that package cannot be
    imported: it then uses a built-in stub that does nothing. The package is made unimportable for that
    one import (this project never uses the converter).
    """
    if sys.modules.get("openvino") is not None:
        return sys.modules["openvino"]
    saved = sys.modules.get("openvino_telemetry", _MISSING)
    sys.modules["openvino_telemetry"] = None  # import openvino_telemetry -> ImportError -> the stub
    try:
        import openvino
    finally:
        if saved is _MISSING:
            del sys.modules["openvino_telemetry"]
        else:
            sys.modules["openvino_telemetry"] = saved
    return openvino


def first_line(error):
    """``Type: first line of the message`` of an exception (OpenVINO's messages run over many lines)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def cpu_runtime(num_threads=None):
    """``(openvino, Core, config)`` for compiling on the CPU: latency hint, float32, ``num_threads`` threads
    (None: OpenVINO's choice, all cores). BackendError when OpenVINO is not installed."""
    try:
        ov = import_openvino()
    except ImportError as e:
        raise BackendError(f"openvino: not installed ({e}), expected `pip install openvino`") from None
    config = dict(CPU_CONFIG)
    if num_threads:
        config["INFERENCE_NUM_THREADS"] = int(num_threads)
    return ov, ov.Core(), config
