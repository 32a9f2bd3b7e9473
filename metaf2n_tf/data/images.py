"""Image files in and out: always RGB uint8 in memory, whatever the file holds."""
import os

import cv2
import numpy as np

from metaf2n_tf.errors import InputError


def to_rgb_uint8(img, path="image"):
    """Converts a cv2 ``IMREAD_UNCHANGED`` array (grey, BGR, BGRA; 8 or 16 bit) to RGB uint8."""
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float64) / 257.0).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        img = np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise InputError(f"{path}: unsupported pixel type {img.dtype}, expected 8 or 16 bit")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)  # alpha dropped
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    raise InputError(f"{path}: unsupported image shape {img.shape}")


def read_rgb(path):
    """Reads an image file as RGB uint8 [H, W, 3]; grey, RGBA and 16-bit files are converted."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: file not found")
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None or img.size == 0:
        raise InputError(f"{path}: not a readable image (empty, truncated or not an image file)")
    return to_rgb_uint8(img, path)


def write_rgb(path, img):
    """Writes an RGB uint8 image; the format follows the extension."""
    path = os.fspath(path)
    ok = False
    try:
        ok, buf = cv2.imencode(os.path.splitext(path)[1] or ".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if ok:
            buf.tofile(path)
    except (OSError, cv2.error) as e:
        raise InputError(f"{path}: cannot write ({e})") from None
    if not ok:
        raise InputError(f"{path}: cannot encode image")


def to_float(img):
    """uint8 [0, 255] -> float32 [0, 1]."""
    return img.astype(np.float32) / 255.0


def to_uint8(x):
    """float [0, 1] -> uint8 by round(clip(x, 0, 1) * 255), the original's output rule."""
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
