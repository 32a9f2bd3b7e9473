"""RRDBNet x4 as an OpenVINO graph built from the weight arrays, for fast whole-image SR on CPU.

The graph is written with OpenVINO's opset API from the canonical tensors (TF1 names, HWIO kernels, as
every reader in ``metaf2n_tf.weights`` returns them), so nothing is converted, written or downloaded:

    conv_first -> num_block x RRDB -> conv_body (+ conv_first) -> 2 x (nearest x2, conv, leaky ReLU 0.2)
    -> conv_hr + leaky ReLU -> conv_last

An RRDB is three residual dense blocks (five 3x3 convs, the first four on the concatenation of all
earlier features, leaky ReLU 0.2 after each of them; output ``0.2 * conv5 + input``) and its own
``0.2 * rdb3 + input``. Every conv is 3x3, stride 1, zero padding 1, with bias. The model takes RGB
float32 NHWC in [0, 1] of one fixed size and returns NHWC x4, unclamped, like the Keras model.

``winograd=True`` computes every conv by Winograd F(4x4, 3x3) in the graph itself, on maps [H, W, C]
(``ov_winograd``; a dense block transforms each feature map once); the default convolves directly, NCHW.

This module imports only numpy and openvino (without its telemetry: ``openvino_runtime``): whole-image SR
without adaptation never loads TensorFlow.
"""
import numpy as np

from metaf2n_tf.adapt.ov_winograd import WinogradConvs
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


class DirectConvs:
    """OpenVINO's own convolution on NCHW maps [1, C, H, W]; the layout half of the builder (see WinogradConvs)."""

    spatial_axes = (2, 3)

    def __init__(self, ops):
        self.ops = ops

    def enter(self, lq):
        """[1, H, W, 3] input -> the map layout."""
        return self.ops.transpose(lq, self.ops.constant(np.array([0, 3, 1, 2], np.int64)))

    def leave(self, y):
        """A map -> [1, H, W, C] output."""
        return self.ops.transpose(y, self.ops.constant(np.array([0, 2, 3, 1], np.int64)))

    def conv(self, maps, kernel, bias):
        """3x3 conv (padding 1) + bias of the channel concatenation of ``maps``; OIHW kernel, bias [1, K, 1, 1]."""
        x = maps[0] if len(maps) == 1 else self.ops.concat(maps, 1)
        return self.ops.add(self.ops.convolution(x, kernel, [1, 1], [1, 1], [1, 1], [1, 1]), bias)


def build_rrdbnet_ov(tensors, height, width, weights_as_inputs=False, winograd=False):
    """An ``openvino.Model`` of RRDBNet with the given weights, for input [1, height, width, 3].

    Args:
        tensors: canonical SR tensors ``{'MODEL/...': HWIO kernel or bias}`` (any num_block, channel counts
            read from the shapes).
        height, width: the LQ input size the model is built for (OpenVINO compiles best for static shapes).
        weights_as_inputs: kernels (OIHW) and biases ([1, K, 1, 1]) as Parameters named by their tensor.
        winograd: every conv by Winograd F(4x4, 3x3) (``ov_winograd.WinogradConvs``) instead of directly.
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

    layout = WinogradConvs(ops) if winograd else DirectConvs(ops)

    def conv(maps, prefix, lrelu):
        kernel, bias = arrays[prefix]
        y = layout.conv(maps, value(kernel, prefix + "/weight"), value(bias.reshape(1, -1, 1, 1), prefix + "/bias"))
        return ops.prelu(y, slope) if lrelu else y

    def residual(branch, skip):
        return ops.add(ops.multiply(branch, scale), skip)

    feat = conv([layout.enter(lq)], "MODEL/conv_first", False)
    body = feat
    for b in range(num_blocks(tensors)):
        rrdb_in = body
        for r in (1, 2, 3):
            feats = [body]
            for k in range(1, 5):
                feats.append(conv(feats, f"MODEL/body/{b}/rdb{r}/conv{k}", True))
            body = residual(conv(feats, f"MODEL/body/{b}/rdb{r}/conv5", False), feats[0])
        body = residual(body, rrdb_in)
    feat = ops.add(feat, conv([body], "MODEL/conv_body", False))
    for name in _UP_CONVS:
        feat = ops.interpolate(
            feat, ops.constant(np.array([2.0, 2.0], np.float32)), "nearest", "scales",
            axes=ops.constant(np.array(layout.spatial_axes, np.int64)), coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
        feat = conv([feat], f"MODEL/{name}", True)
    out = conv([conv([feat], "MODEL/conv_hr", True)], "MODEL/conv_last", False)
    return ov.Model([layout.leave(out)], params, "rrdbnet_x4")
