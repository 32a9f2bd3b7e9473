"""One place that translates weight names between PyTorch keys, MetaF2N TF1 names and Keras layers.

The project's canonical form is the TF1 checkpoint name with an HWIO kernel, e.g.
``MODEL/body/3/rdb2/conv5/weight`` [3, 3, 160, 32]; every reader returns that form.

| PyTorch (.pth, ncnn)        | TF1 checkpoint                  | Keras layer / variable              |
| body.3.rdb2.conv5.weight    | MODEL/body/3/rdb2/conv5/weight  | body_3_rdb2_conv5 / kernel          |
| conv_first.bias             | MODEL/conv_first/bias           | conv_first / bias                   |
| (none)                      | Mask/conv4/kernel               | conv4 / kernel   (in model "Mask")  |
"""
import re

SR_SCOPE = "MODEL"
MASK_SCOPE = "Mask"
# Learned per-tensor inner learning rates (MAML++ LSLR): scalar ``LSLR/<SR tensor name>``.
LSLR_SCOPE = "LSLR"

# A canonical SR tensor of RRDB block N: ``MODEL/body/N/...`` (the one pattern of block indices).
RRDB_BLOCK = re.compile(r"^MODEL/body/(\d+)/")
_BODY_LAYER = re.compile(r"^body_(\d+)_(rdb\d+)_(conv\d+)$")
_BODY_PTH = re.compile(r"^body\.(\d+)\.(rdb\d+)\.(conv\d+)\.(weight|bias)$")


def sr_layer_to_tf1(layer_name, param):
    """``('body_3_rdb2_conv5', 'kernel')`` -> ``'MODEL/body/3/rdb2/conv5/weight'``."""
    m = _BODY_LAYER.match(layer_name)
    path = "body/" + "/".join(m.groups()) if m else layer_name
    return f"{SR_SCOPE}/{path}/{'weight' if param == 'kernel' else 'bias'}"


def mask_layer_to_tf1(layer_name, param):
    """``('conv4', 'kernel')`` -> ``'Mask/conv4/kernel'``."""
    return f"{MASK_SCOPE}/{layer_name}/{param}"


def pth_to_tf1(key):
    """``'body.3.rdb2.conv5.weight'`` -> ``'MODEL/body/3/rdb2/conv5/weight'``; None for keys of no SR layer."""
    m = _BODY_PTH.match(key)
    if m:
        b, rdb, conv, param = m.groups()
        return f"{SR_SCOPE}/body/{b}/{rdb}/{conv}/{param}"
    layer, _, param = key.rpartition(".")
    if param in ("weight", "bias") and re.fullmatch(r"conv_(first|body|up1|up2|hr|last)", layer):
        return f"{SR_SCOPE}/{layer}/{param}"
    return None


def model_tf1_names(model):
    """Yields ``(keras_variable, tf1_name)`` for every weight of an SR ("MODEL") or MaskNet ("Mask") model."""
    to_tf1 = {SR_SCOPE: sr_layer_to_tf1, MASK_SCOPE: mask_layer_to_tf1}[model.name]
    for layer in model.layers:
        for var in layer.weights:
            yield var, to_tf1(layer.name, var.name)
