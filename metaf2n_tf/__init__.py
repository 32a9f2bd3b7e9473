"""metaf2n_tf: MetaF2N (ICCV 2023) blind face-guided super-resolution in TensorFlow 2 / Keras 3.

The pipeline, in package order: data -> models -> weights -> adapt -> train -> faces -> metrics.

Importing the package does not import TensorFlow (whole-image SR through OpenVINO never needs it); it makes
the first import of TensorFlow, wherever it happens, a quiet one.
"""
import importlib.abc
import importlib.machinery
import os
import sys

__version__ = "0.1.0"


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader with file descriptor 2 sent to /dev/null, then probes the devices.

    TensorFlow writes its C++ start-up chatter (oneDNN, CUDA probing) while it is imported and when it first
    lists devices, partly before its log level applies, so the level alone cannot hide all of it.
    """

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):  # get_filename, get_resource_reader, ...: TensorFlow's loader answers
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no real stderr (embedded interpreters): import as is
            self._loader.exec_module(module)
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            self._loader.exec_module(module)
            try:
                module.config.list_physical_devices()  # device probing prints here, once
            except Exception:  # noqa: BLE001 - probing is only done early to keep it quiet
                pass
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual, but hands it to :class:`_QuietLoader`; then steps aside."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def _quiet_tensorflow():
    """A user who sets TF_CPP_MIN_LOG_LEVEL themselves sees everything, as TensorFlow prints it."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


_quiet_tensorflow()
