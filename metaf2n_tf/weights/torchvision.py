"""PyTorch state dicts -> Keras layers named after the torch modules: AlexNet (LPIPS), FID Inception, netD.

Keras layer names are the PyTorch module paths with '.' replaced by '_':

| PyTorch key                              | Keras layer / variable             |
| features.3.weight  (torchvision AlexNet) | features_3 / kernel (OIHW -> HWIO) |
| lin2.model.1.weight  (lpips alex.pth)    | lin2_model_1 / kernel              |
| Mixed_5b.branch1x1.bn.running_var        | Mixed_5b_branch1x1_bn / moving_variance |
| conv3.weight_orig / conv3.weight_u (netD) | conv3 / weight, u                 |

No file is ever downloaded: AlexNet and the Inception weights are supplied by the user, the LPIPS
linear heads come from the installed ``lpips`` package (installed ``--no-deps``, never imported).
"""
import importlib.util
import os
import re


from metaf2n_tf.errors import WeightsError
from metaf2n_tf.models.lpips import lpips_model
from metaf2n_tf.weights.assign import assign_checked, check_shape
from metaf2n_tf.weights.pth import load_pth, state_dict

# torchvision ``alexnet().features``: conv index -> (out, in, k, k).
ALEXNET_SHAPES = {
    0: (64, 3, 11, 11),
    3: (192, 64, 5, 5),
    6: (384, 192, 3, 3),
    8: (256, 384, 3, 3),
    10: (256, 256, 3, 3),
}
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_CHANNELS = (64, 192, 384, 256, 256)
LPIPS_LIN_FILE = "weights/v0.1/alex.pth"
FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"

# Keras variable name -> PyTorch parameter name, per layer kind.
_TORCH_PARAM = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
    "weight": "weight_orig",  # SpectralConv2D of the discriminator
    "u": "weight_u",
}
# lpips stores AlexNet inside its own module: net.slice2.3.weight == features.3.weight.
_LPIPS_SLICE_KEY = re.compile(r"^net\.slice\d\.(\d+)\.(weight|bias)$")


def keras_layer_name(torch_module):
    """``'Mixed_5b.branch1x1.conv'`` -> ``'Mixed_5b_branch1x1_conv'``."""
    return torch_module.replace(".", "_")


def _leaf_layers(model):
    """Every layer holding weights, nested models included."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _leaf_layers(layer)
        elif layer.weights:
            yield layer


def torch_variables(model, tensors):
    """``{torch key: keras variable}`` of every weight of ``model`` whose layers are named after torch modules.

    The module path of a layer is found among the keys of ``tensors`` (``Mixed_5b_branch1x1_conv`` ->
    ``Mixed_5b.branch1x1.conv``: the '_' of a Keras name is ambiguous); a layer with no key there keeps its
    Keras name, so the checked assignment reports it missing.
    """
    modules = {keras_layer_name(k.rsplit(".", 1)[0]): k.rsplit(".", 1)[0] for k in tensors}
    return {f"{modules.get(layer.name, layer.name)}.{_TORCH_PARAM[var.name]}": var
            for layer in _leaf_layers(model) for var in layer.weights}


def set_torch_weights(model, tensors, source, ignore=(), noun="tensor"):
    """Assigns a PyTorch state dict to the Keras layers named after its modules.

    Args:
        model: a Keras model whose weighted layers are named ``keras_layer_name(torch_module)``.
        tensors: ``{torch_key: array}`` in PyTorch layout.
        source: file name or description, used in error messages.
        ignore: regular expressions of keys that have no Keras counterpart (e.g. ``r"^fc\\."``);
            BatchNorm's ``num_batches_tracked`` always.
        noun: what a key is, for error messages.

    Raises:
        WeightsError: a tensor is missing, unexpected or has the wrong shape.
    """
    assign_checked(torch_variables(model, tensors), tensors, source, noun, layout="torch",
                   ignore=tuple(ignore) + (r"\.num_batches_tracked$",))


def set_netd_weights(model, tensors, source):
    """Fills the discriminator from a PyTorch ``UNetDiscriminatorSN`` state dict (Real-ESRGAN ``netD``).

    ``convN.weight_orig`` (OIHW) -> ``weight`` (HWIO), ``convN.weight_u`` [out] -> ``u`` [1, out];
    ``convN.weight_v`` is not used (the power iteration recomputes v). Raises WeightsError on a missing,
    unexpected or mis-shaped tensor.
    """
    set_torch_weights(model, tensors, source, ignore=(r"\.weight_v$",), noun="discriminator tensor")


def set_lpips_weights(model, alexnet_state_dict, lin_state_dict):
    """Fills :func:`metaf2n_tf.models.lpips.lpips_model` from torchvision AlexNet + the LPIPS linear heads."""
    tensors = {**alexnet_state_dict, **lin_state_dict}
    set_torch_weights(model, tensors, "LPIPS weights (AlexNet + linear heads)")
    return model


def load_lpips(alexnet_pth, lin_pth=None):
    """LPIPS v0.1 (AlexNet, net-lin) with user AlexNet weights and the ``lpips`` package's linear heads.

    Args:
        alexnet_pth: torchvision ``alexnet-owt-7be5be79.pth`` (or a state dict with its ``features.*`` keys).
        lin_pth: linear heads; default ``lpips/weights/v0.1/alex.pth`` of the installed package.

    Returns:
        The frozen Keras model of :func:`metaf2n_tf.models.lpips.lpips_model` (inputs in [0, 1]).
    """
    return set_lpips_weights(lpips_model(), read_alexnet(alexnet_pth), read_lpips_lin(lin_pth))


def _require_file(path, what, flag):
    if not path or not os.path.isfile(path):
        raise WeightsError(f"{path or '(no path)'}: {what} not found; supply it with {flag}")


def read_alexnet(path):
    """Reads torchvision AlexNet weights -> ``{'features.N.weight|bias': array}`` (conv layers only).

    Accepts the torchvision file (``alexnet-owt-7be5be79.pth``) or any state dict with the same
    ``features.*`` keys, and also the AlexNet part of an ``lpips.LPIPS`` state dict (``net.sliceK.N.*``).
    """
    _require_file(path, f"torchvision AlexNet weights ({ALEXNET_FILE})", "--alexnet_weights")
    tensors = state_dict(load_pth(path), path)
    features = {}
    for key, value in tensors.items():
        m = _LPIPS_SLICE_KEY.match(key)
        if m:
            key = f"features.{m.group(1)}.{m.group(2)}"
        if key.startswith("features."):
            features[key] = value
    for index, shape in ALEXNET_SHAPES.items():
        _check_shape(features, f"features.{index}.weight", shape, path)
        _check_shape(features, f"features.{index}.bias", shape[:1], path)
    return features


def lpips_package_file(relative=LPIPS_LIN_FILE):
    """Path of a file shipped by the installed ``lpips`` package (found without importing it)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"lpips/{relative}: package 'lpips' not installed; run `pip install --no-deps lpips==0.1.4`")
    return os.path.join(spec.submodule_search_locations[0], relative)


def read_lpips_lin(path=None):
    """Reads the LPIPS v0.1 AlexNet linear heads -> ``{'lin{k}.model.1.weight': [1, C_k, 1, 1]}``."""
    path = path or lpips_package_file()
    _require_file(path, "LPIPS linear-head weights (lpips/weights/v0.1/alex.pth)", "the lpips package")
    tensors = state_dict(load_pth(path), path)
    for k, channels in enumerate(LPIPS_CHANNELS):
        _check_shape(tensors, f"lin{k}.model.1.weight", (1, channels, 1, 1), path)
    return {k: v for k, v in tensors.items() if k.startswith("lin")}


def read_fid_inception(path):
    """Reads pytorch-fid's FID Inception weights (``pt_inception-2015-12-05-6726825d.pth``)."""
    _require_file(path, f"FID Inception weights (pytorch-fid's {FID_INCEPTION_FILE})", "--inception_weights")
    tensors = state_dict(load_pth(path), path)
    _check_shape(tensors, "Conv2d_1a_3x3.conv.weight", (32, 3, 3, 3), path)
    _check_shape(tensors, "Mixed_7c.branch_pool.conv.weight", (192, 2048, 1, 1), path)
    return tensors


def _check_shape(tensors, key, shape, path):
    if key not in tensors:
        raise WeightsError(f"{path}: tensor '{key}' missing, expected shape {shape}")
    check_shape(key, tensors[key], shape, path)
