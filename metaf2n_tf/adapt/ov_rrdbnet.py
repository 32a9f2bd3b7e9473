"""RRDBNet x4 as an OpenVINO graph built from the weight arrays, for fast whole-image SR on CPU.

The graph is written with OpenVINO's opset API from the canonical tensors (TF1 names, HWIO kernels, as
every reader in ``metaf2n_tf.weights`` returns them), so nothing is converted, written or downloaded:

    conv_first -> num_block x RRDB -> conv_body (+ conv_first) -> 2 x (nearest x2, conv, leaky ReLU 0.2)
    -> conv_hr + leaky ReLU -> conv_last

An RRDB is three residual dense blocks (five 3x3 convs, the first four on the concatenation of all
earlier features, leaky ReLU 0.2 after each of them; output ``0.2 * conv5 + input``) and its own
``0.2 * rdb3 + input``. Every conv is 3x3, stride 1, zero padding 1, with bias. The model takes RGB
float32 NHWC in [0, 1] of one fixed size and returns NHWC x4, unclamped, like the Keras model.

This module imports only numpy and openvino (without its telemetry: ``openvino_runtime``): whole-image SR
without adaptation never loads TensorFlow.
"""
import numpy as np

from metaf2n_tf.openvino_runtime import import_openvino

LRELU_SLOPE = 0.2
RESIDUAL_SCALE = 0.2
_UP_CONVS = ("conv_up1", "conv_up2")


def num_blocks(tensors):
    """Number of RRDB blocks in canonical SR tensors (``MODEL/body/{b}/...``)."""
    return len({name.split("/")[2] for name in tensors if name.startswith("MODEL/body/")})


def conv_names(num_block):
    """Every conv of RRDBNet in graph order, as the TF1 name prefix (``MODEL/body/0/rdb1/conv1``)."""
    names = ["MODEL/conv_first"]
    for b in range(num_block):
        names += [f"MODEL/body/{b}/rdb{r}/conv{k}" for r in (1, 2, 3) for k in range(1, 6)]
    return names + ["MODEL/conv_body", "MODEL/conv_up1", "MODEL/conv_up2", "MODEL/conv_hr", "MODEL/conv_last"]


def oihw_arrays(tensors):
    """``{conv prefix: (OIHW float32 kernel, bias)}`` from canonical tensors (HWIO kernels)."""
    out = {}
    for prefix in conv_names(num_blocks(tensors)):
        kernel = np.asarray(tensors[prefix + "/weight"], np.float32)
        out[prefix] = (np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), np.asarray(tensors[prefix + "/bias"], np.float32))
    return out


def build_rrdbnet_ov(tensors, height, width, weights_as_inputs=False):
    """An ``openvino.Model`` of RRDBNet with the given weights, for input [1, height, width, 3].

    Args:
        tensors: canonical SR tensors ``{'MODEL/...': HWIO kernel or bias}`` (any num_block, channel counts
            read from the shapes).
        height, width: the LQ input size the model is built for (OpenVINO compiles best for static shapes).
    """
    ov = import_openvino()
    import openvino.opset13 as ops

    arrays = oihw_arrays(tensors)
    lq = ops.parameter([1, height, width, 3], np.float32, name="lq")
    slope = ops.constant(np.float32(LRELU_SLOPE))
    scale = ops.constant(np.float32(RESIDUAL_SCALE))

    params = [lq]

    def value(array, name):
        if not weights_as_inputs:
            return ops.constant(array)
        params.append(ops.parameter(list(array.shape), np.float32, name=name))
        return params[-1]

    def conv(x, prefix, lrelu):
        kernel, bias = arrays[prefix]
        y = ops.convolution(x, value(kernel, prefix + "/weight"), [1, 1], [1, 1], [1, 1], [1, 1])
        y = ops.add(y, value(bias.reshape(1, -1, 1, 1), prefix + "/bias"))
        return ops.prelu(y, slope) if lrelu else y

    def residual(branch, skip):
        return ops.add(ops.multiply(branch, scale), skip)

    x = ops.transpose(lq, ops.constant(np.array([0, 3, 1, 2], np.int64)))
    feat = conv(x, "MODEL/conv_first", False)
    body = feat
    for b in range(num_blocks(tensors)):
        rrdb_in = body
        for r in (1, 2, 3):
            feats = [body]
            for k in range(1, 5):
                inp = feats[0] if k == 1 else ops.concat(feats, 1)
                feats.append(conv(inp, f"MODEL/body/{b}/rdb{r}/conv{k}", True))
            body = residual(conv(ops.concat(feats, 1), f"MODEL/body/{b}/rdb{r}/conv5", False), feats[0])
        body = residual(body, rrdb_in)
    feat = ops.add(feat, conv(body, "MODEL/conv_body", False))
    for name in _UP_CONVS:
        feat = ops.interpolate(
            feat, ops.constant(np.array([2.0, 2.0], np.float32)), "nearest", "scales",
            axes=ops.constant(np.array([2, 3], np.int64)), coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
        feat = conv(feat, f"MODEL/{name}", True)
    out = conv(conv(feat, "MODEL/conv_hr", True), "MODEL/conv_last", False)
    out = ops.transpose(out, ops.constant(np.array([0, 2, 3, 1], np.int64)))
    return ov.Model([out], params, "rrdbnet_x4")
