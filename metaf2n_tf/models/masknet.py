"""MaskNet: per-pixel weights W for the face loss, from (upsized LQ face, restored HQ face)."""
import keras
import tensorflow as tf


def masknet(name="Mask"):
    """Eight 3x3 convs (6->64, 64->64 x6, 64->1), ReLU after each, including the last (W >= 0).

    Input: [N, H, W, 6] = concat(legacy-bicubic-upsized LQ, HQ) in [0, 1]; output [N, H, W, 1].
    Layer names ``conv1``..``conv8`` match MetaF2N's ``Mask/conv{i}/kernel|bias``.
    """
    x = inp = keras.Input((None, None, 6), name="lq_up_hq")
    for i in range(1, 9):
        x = keras.layers.Conv2D(
            1 if i == 8 else 64, 3, padding="same", activation="relu", name=f"conv{i}",
            kernel_initializer=keras.initializers.VarianceScaling(), bias_initializer="zeros",
        )(x)
    return keras.Model(inp, x, name=name)


def legacy_bicubic_resize(images, size):
    """TF1 ``resize_bicubic(align_corners=False)``: no half-pixel offset, cubic coefficient -0.75.

    This is what the released MaskNet was trained with; ``tf.image.resize(method='bicubic')`` differs
    (half-pixel centres, Keys -0.5), so the upstream op is named and kept here.
    """
    return tf.raw_ops.ResizeBicubic(images=images, size=size, align_corners=False, half_pixel_centers=False)


def mask_input(lq, hq):
    """Concatenates the LQ face upsized to the HQ size (legacy bicubic) with the HQ face, LQ first."""
    size = tf.shape(hq)[1:3]
    return tf.concat([legacy_bicubic_resize(tf.cast(lq, tf.float32), size), hq], axis=-1)
