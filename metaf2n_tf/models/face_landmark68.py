"""The face-api.js 68-point face landmark net (``FaceLandmark68Net``) as a Keras model.

The architecture, as face-api.js runs it (``@vladmandic/face-api`` 1.7.15, MIT):

- input: one square RGB face resized to 112x112, values 0..255; it subtracts the mean RGB
  (122.782, 117.001, 104.298) and divides by 255;
- four dense blocks, each halving the side (112 -> 56 -> 28 -> 14 -> 7) and widening to 32, 64, 128,
  256 channels. A dense block has four convolutions ``conv0..conv3``, all 3x3 'same' with bias:
  ``conv0`` has stride 2 (a plain convolution in the first block, a depthwise-separable one in the
  others), ``conv1..3`` are depthwise-separable with stride 1, and each convolution sees the ReLU of
  the sum of all earlier outputs of its block::

      o1 = relu(conv0(x));  o2 = conv1(o1);  o3 = conv2(relu(o1 + o2));  o4 = conv3(relu(o1 + o2 + o3))
      block(x) = relu(o1 + o2 + o3 + o4)

- a 7x7 average pool (stride 2, 'valid': on the 7x7 map, the mean over it), then a dense layer
  256 -> 136: the 68 points as interleaved (x0, y0, x1, y1, ...), each a fraction of the 112 side
  (0 = the left/top edge of the input, 1 = the right/bottom edge). No activation on the output.

Layer names are the manifest's weight scopes with ``/`` as ``_`` (``dense0/conv1`` -> ``dense0_conv1``,
``fc``); ``metaf2n_tf.weights.face_landmark68`` translates the variable names.
"""
import keras
import numpy as np

INPUT_SIZE = 112
MEAN_RGB = (122.782, 117.001, 104.298)
BLOCK_CHANNELS = (32, 64, 128, 256)
POINTS = 68


def _conv(x, channels, stride, name, separable=True):
    layer = keras.layers.SeparableConv2D if separable else keras.layers.Conv2D
    return layer(channels, 3, strides=stride, padding="same", name=name)(x)


def _dense_block(x, channels, name, first=False):
    relu = keras.layers.ReLU
    add = keras.layers.Add
    o1 = relu(name=f"{name}_relu0")(_conv(x, channels, 2, f"{name}_conv0", separable=not first))
    o2 = _conv(o1, channels, 1, f"{name}_conv1")
    o3 = _conv(relu(name=f"{name}_relu1")(add(name=f"{name}_add1")([o1, o2])), channels, 1, f"{name}_conv2")
    o4 = _conv(relu(name=f"{name}_relu2")(add(name=f"{name}_add2")([o1, o2, o3])), channels, 1, f"{name}_conv3")
    return relu(name=f"{name}_out")(add(name=f"{name}_add3")([o1, o2, o3, o4]))


def face_landmark68(name="face_landmark68"):
    """Builds the net (random weights): [N, 112, 112, 3] RGB 0..255 -> [N, 136] interleaved x, y fractions."""
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="face_rgb")
    x = keras.layers.Rescaling(1.0 / 255.0, offset=(-np.asarray(MEAN_RGB) / 255.0).tolist(), name="normalize")(inp)
    for i, channels in enumerate(BLOCK_CHANNELS):
        x = _dense_block(x, channels, f"dense{i}", first=i == 0)
    x = keras.layers.AveragePooling2D(7, strides=2, padding="valid", name="avg_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(2 * POINTS, name="fc")(x)
    return keras.Model(inp, out, name=name)
