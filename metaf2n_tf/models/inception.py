"""The FID Inception-v3 of pytorch-fid (the TF 2015-12-05 graph) as a Keras model up to the 2048-d pool.

It is torchvision's Inception-v3 with the changes pytorch-fid makes for FID:
average pools in the A, C and E blocks exclude the padding (TF 'same' does), and the last E block
(``Mixed_7c``) pools its ``branch_pool`` input with a 3x3 max instead of an average.

Each PyTorch ``BasicConv2d`` (conv without bias, BatchNorm eps 1e-3, ReLU) becomes the layers
``{name}_conv`` and ``{name}_bn``, e.g. ``Mixed_5b.branch1x1.conv.weight`` <-> ``Mixed_5b_branch1x1_conv``.
PyTorch paddings are symmetric: stride-1 'same' matches them; the stride-2 layers pad nothing ('valid').
"""
import keras

INPUT_SIZE = 299


def _conv_bn(x, filters, kernel, name, strides=1, padding="same"):
    """BasicConv2d: conv (no bias) -> BatchNorm(eps 1e-3) -> ReLU."""
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _pool(x, kind, name):
    """3x3 stride-1 pool; 'avg' divides by the number of real (unpadded) pixels, as pytorch-fid does."""
    layer = keras.layers.AveragePooling2D if kind == "avg" else keras.layers.MaxPooling2D
    return layer(3, strides=1, padding="same", name=name)(x)


def _concat(branches, name):
    return keras.layers.Concatenate(name=name)(branches)


def _block_a(x, name, pool_features):
    b1 = _conv_bn(x, 64, 1, f"{name}_branch1x1")
    b5 = _conv_bn(_conv_bn(x, 48, 1, f"{name}_branch5x5_1"), 64, 5, f"{name}_branch5x5_2")
    b3 = _conv_bn(x, 64, 1, f"{name}_branch3x3dbl_1")
    b3 = _conv_bn(_conv_bn(b3, 96, 3, f"{name}_branch3x3dbl_2"), 96, 3, f"{name}_branch3x3dbl_3")
    bp = _conv_bn(_pool(x, "avg", f"{name}_avgpool"), pool_features, 1, f"{name}_branch_pool")
    return _concat([b1, b5, b3, bp], name)


def _block_b(x, name):
    b3 = _conv_bn(x, 384, 3, f"{name}_branch3x3", strides=2, padding="valid")
    bd = _conv_bn(_conv_bn(x, 64, 1, f"{name}_branch3x3dbl_1"), 96, 3, f"{name}_branch3x3dbl_2")
    bd = _conv_bn(bd, 96, 3, f"{name}_branch3x3dbl_3", strides=2, padding="valid")
    bp = keras.layers.MaxPooling2D(3, 2, name=f"{name}_maxpool")(x)
    return _concat([b3, bd, bp], name)


def _block_c(x, name, c7):
    b1 = _conv_bn(x, 192, 1, f"{name}_branch1x1")
    b7 = _conv_bn(x, c7, 1, f"{name}_branch7x7_1")
    b7 = _conv_bn(_conv_bn(b7, c7, (1, 7), f"{name}_branch7x7_2"), 192, (7, 1), f"{name}_branch7x7_3")
    bd = _conv_bn(x, c7, 1, f"{name}_branch7x7dbl_1")
    for i, (filters, kernel) in enumerate([(c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))], start=2):
        bd = _conv_bn(bd, filters, kernel, f"{name}_branch7x7dbl_{i}")
    bp = _conv_bn(_pool(x, "avg", f"{name}_avgpool"), 192, 1, f"{name}_branch_pool")
    return _concat([b1, b7, bd, bp], name)


def _block_d(x, name):
    b3 = _conv_bn(x, 192, 1, f"{name}_branch3x3_1")
    b3 = _conv_bn(b3, 320, 3, f"{name}_branch3x3_2", strides=2, padding="valid")
    b7 = _conv_bn(x, 192, 1, f"{name}_branch7x7x3_1")
    b7 = _conv_bn(_conv_bn(b7, 192, (1, 7), f"{name}_branch7x7x3_2"), 192, (7, 1), f"{name}_branch7x7x3_3")
    b7 = _conv_bn(b7, 192, 3, f"{name}_branch7x7x3_4", strides=2, padding="valid")
    bp = keras.layers.MaxPooling2D(3, 2, name=f"{name}_maxpool")(x)
    return _concat([b3, b7, bp], name)


def _split_1x3_3x1(x, name):
    """The E blocks' parallel (1, 3) and (3, 1) convolutions, concatenated."""
    return _concat([_conv_bn(x, 384, (1, 3), f"{name}a"), _conv_bn(x, 384, (3, 1), f"{name}b")], f"{name}_cat")


def _block_e(x, name, pool):
    b1 = _conv_bn(x, 320, 1, f"{name}_branch1x1")
    b3 = _split_1x3_3x1(_conv_bn(x, 384, 1, f"{name}_branch3x3_1"), f"{name}_branch3x3_2")
    bd = _conv_bn(_conv_bn(x, 448, 1, f"{name}_branch3x3dbl_1"), 384, 3, f"{name}_branch3x3dbl_2")
    bd = _split_1x3_3x1(bd, f"{name}_branch3x3dbl_3")
    bp = _conv_bn(_pool(x, pool, f"{name}_{pool}pool"), 192, 1, f"{name}_branch_pool")
    return _concat([b1, b3, bd, bp], name)


def fid_inception(name="fid_inception"):
    """Builds pytorch-fid's FID Inception-v3 up to the final average pool.

    Returns:
        A ``keras.Model`` mapping NHWC RGB in [-1, 1] (any size >= 75x75; FID uses 299x299)
        to pool features [N, 2048].
    """
    x = inputs = keras.Input((None, None, 3), name="image")
    x = _conv_bn(x, 32, 3, "Conv2d_1a_3x3", strides=2, padding="valid")
    x = _conv_bn(x, 32, 3, "Conv2d_2a_3x3", padding="valid")
    x = _conv_bn(x, 64, 3, "Conv2d_2b_3x3")
    x = keras.layers.MaxPooling2D(3, 2, name="maxpool1")(x)
    x = _conv_bn(x, 80, 1, "Conv2d_3b_1x1")
    x = _conv_bn(x, 192, 3, "Conv2d_4a_3x3", padding="valid")
    x = keras.layers.MaxPooling2D(3, 2, name="maxpool2")(x)
    for block, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
        x = _block_a(x, block, pool_features)
    x = _block_b(x, "Mixed_6a")
    for block, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = _block_c(x, block, c7)
    x = _block_d(x, "Mixed_7a")
    x = _block_e(x, "Mixed_7b", "avg")
    x = _block_e(x, "Mixed_7c", "max")
    pooled = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    return keras.Model(inputs, pooled, name=name)
