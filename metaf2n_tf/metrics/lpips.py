"""LPIPS distance of uint8 images with the Keras LPIPS (``load_lpips`` of ``metaf2n_tf.weights.torchvision``)."""
import numpy as np

from metaf2n_tf.errors import InputError
from metaf2n_tf.metrics.psnr import check_pair

# Smallest side AlexNet's two stride-2 max pools accept.
MIN_SIZE = 23


def lpips_distance(model, result, gt):
    """LPIPS between two uint8 HxWx3 RGB images (the original's ``im2tensor``: x / 127.5 - 1)."""
    result, gt = check_pair(result, gt)
    if min(result.shape[:2]) < MIN_SIZE:
        h, w = result.shape[:2]
        raise InputError(f"LPIPS: got a {h}x{w} image, expected at least {MIN_SIZE}x{MIN_SIZE}")
    batch = [np.asarray(image, np.float32)[None] / 255.0 for image in (result, gt)]
    return float(model(batch, training=False)[0])
