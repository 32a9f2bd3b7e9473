"""One loader for the face restorers' weight files (GPEN, DMDNet): an upstream ``.pth`` or the project's ``.h5``."""
import os

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights import h5
from metaf2n_tf.weights.pth import load_pth, state_dict


def load_network(path, fmt, arch_keys, what, build, set_weights, arch_from_torch, torch_to_keras):
    """Builds and fills a network from ``path``; returns ``(model, arch)``.

    A ``.h5`` written by the project (format tag ``fmt``) carries the architecture (``arch_keys``) and Keras
    layouts; anything else is read as an upstream PyTorch ``.pth`` (without torch): its state dict gives the
    architecture (``arch_from_torch(tensors, path)``) and ``torch_to_keras(model, tensors, path)`` the Keras
    layouts. ``set_weights(model, tensors, path)`` assigns (checked); ``what`` names the file kind in errors.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: file not found")
    if h5.is_weights_h5(path):
        tensors, arch = h5.read_h5(path, fmt, arch_keys, f"converted {what} weights")
        model = build(arch)
        set_weights(model, tensors, path)
        return model, arch
    tensors = state_dict(load_pth(path), path)
    arch = arch_from_torch(tensors, path)
    model = build(arch)
    set_weights(model, torch_to_keras(model, tensors, path), path)
    return model, arch
