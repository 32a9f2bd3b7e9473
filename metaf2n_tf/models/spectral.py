"""The start value of spectral normalisation's power-iteration vectors, shared by the discriminator and DMDNet."""
import keras

_EPS = 1e-12


def unit_normal(shape, dtype=None):
    """Keras initializer: a standard-normal vector divided by its norm (+ 1e-12), over all elements.

    This is how ``torch.nn.utils.spectral_norm`` starts ``u`` and ``v``; loaded weights replace it.
    Draws from Keras' seed generator, so ``keras.utils.set_random_seed`` makes it reproducible.
    """
    v = keras.random.normal(shape, dtype=dtype)
    return v / (keras.ops.sqrt(keras.ops.sum(keras.ops.square(v))) + _EPS)
