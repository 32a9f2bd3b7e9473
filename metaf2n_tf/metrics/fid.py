"""Fréchet Inception Distance: InceptionV3 2048-d pool features, Gaussian statistics, Fréchet distance.

Follows pytorch-fid 0.3.0 (the original's metric): every image is resized to 299x299 bilinearly
(half-pixel centres, no antialiasing, as ``F.interpolate(..., align_corners=False)``), mapped to
[-1, 1], and pooled; mu and sigma are the mean and sample covariance of the features of a folder;
FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).
"""
import os

import numpy as np
import tensorflow as tf

from metaf2n_tf.errors import InputError, WeightsError
from metaf2n_tf.models.inception import INPUT_SIZE, fid_inception
from metaf2n_tf.weights.torchvision import read_fid_inception, set_torch_weights


def load_inception(path):
    """Loads the feature extractor: pytorch-fid's ``.pth`` (FID Inception) or Keras' ImageNet ``.h5``.

    The Keras ImageNet InceptionV3 (``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``) is a
    different network with different weights: its FID values are not comparable with the paper's.
    """
    if path and path.endswith(".h5"):
        return _keras_imagenet_inception(path)
    tensors = read_fid_inception(path)
    model = fid_inception()
    set_torch_weights(model, tensors, path, ignore=(r"^fc\.",))
    return model


def _keras_imagenet_inception(path):
    import keras

    if not os.path.isfile(path):
        raise WeightsError(f"{path}: Keras InceptionV3 weights not found; supply them with --inception_weights")
    try:
        return keras.applications.InceptionV3(
            include_top=False, weights=path, input_shape=(INPUT_SIZE, INPUT_SIZE, 3), pooling="avg"
        )
    except (ValueError, OSError) as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise WeightsError(f"{path}: not Keras InceptionV3 'notop' weights ({first_line})") from None


def inception_input(image):
    """uint8 HxWx3 RGB -> [1, 299, 299, 3] float32 in [-1, 1] (bilinear, half-pixel, no antialias)."""
    x = tf.convert_to_tensor(image[None], tf.float32) / 255.0
    x = tf.image.resize(x, (INPUT_SIZE, INPUT_SIZE), method="bilinear", antialias=False)
    return x * 2.0 - 1.0


def pool_features(model, image):
    """The 2048-d pool feature of one uint8 RGB image, float64."""
    return np.asarray(model(inception_input(image), training=False), np.float64)[0]


def gaussian_statistics(features, source="features"):
    """Mean and sample covariance (rows are images) of a feature matrix; needs at least two rows."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise InputError(f"{source}: got {features.shape[0] if features.ndim else 0} image(s), FID needs at least 2")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(sigma):
    """Symmetric square root of a covariance matrix (negative round-off eigenvalues clipped to 0)."""
    values, vectors = np.linalg.eigh((sigma + sigma.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric
    S1^(1/2) S2 S1^(1/2), which has the same spectrum; this stays real and finite for the
    rank-deficient covariances of small folders.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise InputError(f"FID statistics: got shapes {mu1.shape}, {sigma1.shape} and {mu2.shape}, {sigma2.shape}")
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
