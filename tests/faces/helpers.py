"""Helpers shared by the face tests."""
import numpy as np


def block_mean(image, scale=4):
    """Independent x``scale`` downsampling: the mean of each scale x scale block (float64)."""
    h, w = image.shape[0] // scale, image.shape[1] // scale
    return image[: h * scale, : w * scale].reshape(h, scale, w, scale, -1).astype(np.float64).mean(axis=(1, 3))
