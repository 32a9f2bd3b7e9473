"""Image files in and out: always RGB uint8 in memory, whatever the file holds. The one reader of photos.

Every script that reads photos (test.py, generate_test_faces.py, restore_faces.py, calculate_metrics.py,
the enhance path, the training-record writer) reads them with :func:`read_rgb`. What it does with odd files:

- the content decides the format, not the extension (a PNG named ``.jpg`` is read as the PNG it is);
- decompression bombs: the width and height are read from the file's header (PNG ``IHDR``, JPEG ``SOFn``,
  other formats by Pillow's lazy open, which reads only the header) and a file declaring more than
  ``max_pixels`` pixels (default :data:`DEFAULT_MAX_PIXELS`, the scripts' ``--max_pixels``) is refused
  before any pixel is decoded;
- EXIF orientation (phone photos): applied, so the photo is upright, as viewers show it;
- 16-bit: ``round(v / 257)``, the exact inverse of 8 -> 16 bit (``v * 257``), so an 8-bit image saved as
  16-bit reads back unchanged;
- float (e.g. 32-bit TIFF): taken as [0, 1], ``round(clip(v, 0, 1) * 255)``;
- grey: repeated into 3 channels; alpha: dropped; palette: expanded; CMYK JPEG: converted to RGB by the
  JPEG decoder (libjpeg's Adobe CMYK rule);
- animated GIF / APNG / multi-page TIFF: the first frame;
- a missing file, a folder, an empty (0 bytes) or unreadable file, an unsupported pixel type: one
  :class:`InputError` line naming the file.

Pixels are decoded by OpenCV (``IMREAD_UNCHANGED``, so the bit depth is seen) from bytes read in Python,
so paths with spaces or non-ASCII characters work on every OS. Writes are atomic (``metaf2n_tf.atomic``).
"""
import os
import struct
import warnings

import cv2
import numpy as np

from metaf2n_tf import atomic
from metaf2n_tf.errors import InputError, OutputError

# Files a folder listing takes as images (pytorch-fid's list, which FID reads; every reader lists these).
IMAGE_EXTENSIONS = (".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: 10000 x 10000; its RGB uint8 array is 300 MB
_settings = {"max_pixels": DEFAULT_MAX_PIXELS}

# EXIF orientation -> operations on the stored pixels that make the image upright (EXIF 2.3, tag 0x0112):
# 'T' transpose (swap rows and columns), 'H' mirror left-right, 'V' mirror top-bottom, applied in order.
_ORIENTATION_OPS = {1: "", 2: "H", 3: "HV", 4: "V", 5: "T", 6: "TH", 7: "THV", 8: "TV"}
_EXIF_ORIENTATION = 0x0112
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def set_max_pixels(max_pixels):
    """Sets the process-wide ``max_pixels`` of :func:`read_rgb` (the scripts' ``--max_pixels``)."""
    if max_pixels <= 0:
        raise InputError(f"--max_pixels: got {max_pixels}, expected a positive number of pixels")
    _settings["max_pixels"] = int(max_pixels)


def is_image_name(name):
    """True when ``name`` ends with one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def conversion_note(img, path="image"):
    """One line saying how a decoded (cv2 ``IMREAD_UNCHANGED``) array differs from 8-bit RGB, or None.

    ``"a.png: 16-bit grey image, converted to 8-bit RGB"``; an alpha channel adds ``" (alpha dropped)"``.
    """
    channels = 1 if img.ndim == 2 else img.shape[2]
    kinds = [kind for kind, hit in (("16-bit", img.dtype == np.uint16),
                                    ("float", img.dtype in (np.float16, np.float32, np.float64)),
                                    ("grey", channels in (1, 2)), ("alpha", channels in (2, 4))) if hit]
    if not kinds:
        return None
    return f"{path}: {' '.join(kinds)} image, converted to 8-bit RGB{' (alpha dropped)' if 'alpha' in kinds else ''}"


def to_rgb_uint8(img, path="image"):
    """Converts a cv2 ``IMREAD_UNCHANGED`` array (grey, BGR, BGRA; 8 or 16 bit, float) to RGB uint8."""
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float64) / 257.0).astype(np.uint8)
    elif img.dtype in (np.float16, np.float32, np.float64):
        img = np.round(np.clip(np.nan_to_num(img.astype(np.float64)), 0.0, 1.0) * 255.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise InputError(f"{path}: unsupported pixel type {img.dtype}, expected 8 or 16 bit integers or float")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)  # alpha dropped
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    raise InputError(f"{path}: unsupported image shape {img.shape}")


def _png_header(data):
    """(width, height, orientation) of PNG bytes: IHDR, and an eXIf chunk before the pixels if any."""
    width, height = struct.unpack(">II", data[16:24])
    orientation, pos = 1, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"eXIf":
            orientation = _exif_orientation(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    return width, height, orientation


def _jpeg_header(data):
    """(width, height, orientation) of JPEG bytes from the SOFn and APP1 Exif segments; None if no SOFn."""
    pos, orientation = 2, 1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segment = data[pos + 4:pos + 2 + length]
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            orientation = _exif_orientation(segment[6:])
        if marker in _JPEG_SOF and len(segment) >= 5:
            height, width = struct.unpack(">HH", segment[1:5])
            return width, height, orientation
        if marker == 0xDA:  # pixels start: no frame header before them
            return None
        pos += 2 + length
    return None


def _exif_orientation(tiff_bytes):
    """The orientation tag of an EXIF (TIFF-structured) block; 1 when absent or unreadable."""
    from PIL import Image

    try:
        exif = Image.Exif()
        exif.load(bytes(tiff_bytes))
        value = int(exif.get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the orientation
        return 1
    return value if value in _ORIENTATION_OPS else 1


def _other_header(path):
    """(width, height, orientation) by Pillow's lazy open (header only) or tifffile; None if unknown."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1))
                return im.size[0], im.size[1], orientation if orientation in _ORIENTATION_OPS else 1
    except Image.DecompressionBombError as e:
        raise InputError(f"{path}: refused before decoding, it declares too many pixels ({e})") from None
    except Exception:  # noqa: BLE001 - not a format Pillow knows: try TIFF, else let the decoder say
        pass
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return page.imagewidth, page.imagelength, int(getattr(page, "orientation", 1) or 1)
    except Exception:  # noqa: BLE001
        return None


def image_header(path, data):
    """(width, height, EXIF orientation) from the header of the file's bytes, or None when unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return _png_header(data)
    if data[:2] == b"\xff\xd8":
        found = _jpeg_header(data)
        if found is not None:
            return found
    return _other_header(path)


def check_pixels(path, width, height, max_pixels):
    """InputError when width x height exceeds ``max_pixels`` (0 = no limit)."""
    if max_pixels and width * height > max_pixels:
        raise InputError(f"{path}: {width}x{height} = {_megapixels(width * height)} MP, over --max_pixels "
                         f"{max_pixels} ({_megapixels(max_pixels)} MP); refused before decoding")


def _megapixels(pixels):
    """'900.0' for 9e8 pixels, '0.04' for 4e4 (two significant digits below 0.1 MP)."""
    mp = pixels / 1e6
    return f"{mp:.1f}" if mp >= 0.1 else f"{mp:.2g}"


def apply_orientation(img, orientation):
    """The stored pixels turned upright by an EXIF orientation (1..8)."""
    for op in _ORIENTATION_OPS.get(orientation, ""):
        img = np.swapaxes(img, 0, 1) if op == "T" else img[:, ::-1] if op == "H" else img[::-1]
    return np.ascontiguousarray(img)


def read_rgb(path, max_pixels=None, notes=None):
    """Reads an image file as upright RGB uint8 [H, W, 3]; see the module docstring for every conversion.

    Args:
        path: the file.
        max_pixels: refuse files declaring more pixels (before decoding; 0 = no limit); None: the
            process-wide setting (:func:`set_max_pixels`, default :data:`DEFAULT_MAX_PIXELS`).
        notes: a list that gets :func:`conversion_note`'s line when the file was not 8-bit RGB.
    """
    path = os.fspath(path)
    max_pixels = _settings["max_pixels"] if max_pixels is None else max_pixels
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, expected an image file")
    if not os.path.isfile(path):
        raise InputError(f"{path}: file not found")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if data.size == 0:
        raise InputError(f"{path}: empty file (0 bytes), expected an image")
    header = image_header(path, data.tobytes()[:1 << 20] if data.size > 1 << 20 else data.tobytes())
    orientation = 1
    if header is not None:
        width, height, orientation = header
        check_pixels(path, width, height, max_pixels)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise InputError(f"{path}: not a readable image (truncated, corrupt or not an image file)")
    if header is None:  # a format without a header we know: check the decoded size instead
        check_pixels(path, img.shape[1], img.shape[0], max_pixels)
    note = conversion_note(img, path)
    if note is not None and notes is not None:
        notes.append(note)
    return apply_orientation(to_rgb_uint8(img, path), orientation)


def write_rgb(path, img):
    """Writes an RGB uint8 image atomically (temporary name, then rename); the format follows the extension."""
    path = os.fspath(path)
    try:
        ok, buf = cv2.imencode(os.path.splitext(path)[1] or ".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    except cv2.error as e:
        raise OutputError(f"{path}: cannot encode the image ({str(e).strip().splitlines()[-1]})") from None
    if not ok:
        raise OutputError(f"{path}: cannot encode the image")
    atomic.write_bytes(path, buf.tobytes(), "image")


def to_float(img):
    """uint8 [0, 255] -> float32 [0, 1]."""
    return img.astype(np.float32) / 255.0


def to_uint8(x):
    """float [0, 1] -> uint8 by round(clip(x, 0, 1) * 255), the original's output rule."""
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
