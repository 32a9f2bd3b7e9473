"""metaf2n_tf: MetaF2N (ICCV 2023) blind face-guided super-resolution in TensorFlow 2 / Keras 3.

The pipeline, in package order: data -> models -> weights -> adapt -> train -> faces -> metrics.
"""
import os
import sys

__version__ = "0.1.0"


def _import_tensorflow_quietly():
    """Imports TensorFlow with its C++ start-up chatter (oneDNN, CUDA probing) sent to /dev/null.

    TensorFlow writes those lines before its log level applies, so the level alone cannot hide them.
    A user who sets TF_CPP_MIN_LOG_LEVEL themselves sees everything, as TensorFlow prints it.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters): import as is
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # device probing prints here, once
    except Exception:  # noqa: BLE001 - re-raised below with stderr restored
        pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    import tensorflow  # noqa: F401 - a real import error is shown now, with stderr back


_import_tensorflow_quietly()
