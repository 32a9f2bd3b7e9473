"""LPIPS v0.1, AlexNet, "net-lin" (Zhang et al. 2018) as a frozen, differentiable Keras model.

Distance between images x0, x1 (values in [0, 1], mapped to [-1, 1] inside):

1. scaling layer: x' = (x - shift) / scale per RGB channel;
2. AlexNet features after ReLU 1..5 (torchvision ``alexnet().features`` taps 1, 4, 7, 9, 11);
3. unit normalisation over channels: f / (||f|| + 1e-10);
4. d_l = lin_l((f0_l - f1_l)^2), a 1x1 convolution C_l -> 1 without bias; mean over H, W;
5. LPIPS = sum_l d_l, one value per image.

Layer names follow the PyTorch keys (``features_3`` <-> ``features.3.*``, ``lin2_model_1`` <->
``lin2.model.1.weight``); ``metaf2n_tf.weights.torchvision`` reads and assigns them (``load_lpips``).
"""
import keras

INPUT_SHIFT = (-0.030, -0.088, -0.188)
INPUT_SCALE = (0.458, 0.448, 0.450)
# Added to the squared norm so the gradient stays finite where a feature vector is all zero;
# differs from lpips' f / (||f|| + 1e-10) by at most 1e-10 / ||f|| relative.
_NORM_EPS = 1e-20


def alexnet_features(name="alexnet"):
    """AlexNet convolutional trunk returning the five ReLU taps LPIPS compares.

    PyTorch pads symmetrically: the stride-4 11x11 convolution gets explicit 2-pixel zero padding;
    the stride-1 convolutions use 'same' (identical for odd kernels); the 3/2 max pools pad nothing.

    Returns:
        A ``keras.Model`` mapping scaled NHWC images to [relu1, ..., relu5] (64, 192, 384, 256, 256 channels).
    """
    x = inputs = keras.Input((None, None, 3), name="scaled")
    x = keras.layers.ZeroPadding2D(2, name="pad0")(x)
    relu1 = keras.layers.Conv2D(64, 11, strides=4, activation="relu", name="features_0")(x)
    x = keras.layers.MaxPooling2D(3, 2, name="features_2")(relu1)
    relu2 = keras.layers.Conv2D(192, 5, padding="same", activation="relu", name="features_3")(x)
    x = keras.layers.MaxPooling2D(3, 2, name="features_5")(relu2)
    relu3 = keras.layers.Conv2D(384, 3, padding="same", activation="relu", name="features_6")(x)
    relu4 = keras.layers.Conv2D(256, 3, padding="same", activation="relu", name="features_8")(relu3)
    relu5 = keras.layers.Conv2D(256, 3, padding="same", activation="relu", name="features_10")(relu4)
    return keras.Model(inputs, [relu1, relu2, relu3, relu4, relu5], name=name)


def _unit_normalize(f):
    return f * keras.ops.rsqrt(keras.ops.sum(f * f, axis=-1, keepdims=True) + _NORM_EPS)


def _scale(x):
    """[0, 1] -> [-1, 1] -> LPIPS scaling layer."""
    return (x * 2.0 - 1.0 - keras.ops.convert_to_tensor(INPUT_SHIFT)) / keras.ops.convert_to_tensor(INPUT_SCALE)


def lpips_model(name="lpips"):
    """Builds LPIPS v0.1 (AlexNet, net-lin), frozen, for use as a metric or a training loss.

    The weights start as Keras' random initialisation; ``metaf2n_tf.weights.torchvision.load_lpips``
    (or ``set_lpips_weights``) fills them from torchvision AlexNet and the LPIPS linear heads.

    Args:
        name: model name.

    Returns:
        A ``keras.Model`` taking ``[img0, img1]``, two float NHWC RGB batches with values in [0, 1]
        (the same range the training tensors use; the metric divides uint8 by 255), and returning the
        per-image distance, shape [N]. All weights are non-trainable; gradients flow to the inputs,
        so it works inside ``tf.function`` and ``GradientTape`` as a loss.
    """
    img0 = keras.Input((None, None, 3), name="img0")
    img1 = keras.Input((None, None, 3), name="img1")
    trunk = alexnet_features()
    feats0, feats1 = trunk(_scale(img0)), trunk(_scale(img1))
    total = 0.0
    for k, (f0, f1) in enumerate(zip(feats0, feats1)):
        diff = keras.ops.square(_unit_normalize(f0) - _unit_normalize(f1))
        head = keras.layers.Conv2D(1, 1, use_bias=False, name=f"lin{k}_model_1")(diff)
        total = total + keras.ops.mean(head, axis=(1, 2, 3))
    model = keras.Model([img0, img1], total, name=name)
    model.trainable = False
    return model
