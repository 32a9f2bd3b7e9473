"""The one photo reader (``read_rgb``) on hostile and odd files, and atomic ``write_rgb``.

Every file is made here. References are independent of the reader: OpenCV's ``IMREAD_COLOR`` (which applies
the EXIF orientation), Pillow's decoding (palette, GIF frames), the arrays the files were written from,
and numpy formulas for the documented conversions.
"""
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from metaf2n_tf.data import images
from metaf2n_tf.data.images import read_rgb, write_rgb
from metaf2n_tf.errors import InputError, OutputError


def smooth(h=16, w=24, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (4, 6, 3)).astype(np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path, side=30000):
    """A PNG of a few hundred bytes whose header declares side x side RGB pixels."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    pixels = png_chunk(b"IDAT", zlib.compress(b"\0" * (side * 3 + 1) * 2))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + pixels + png_chunk(b"IEND", b""))


def bomb_jpeg(path, side=30000):
    """A small real JPEG whose frame header (SOF0) is patched to declare side x side pixels."""
    data = bytearray(cv2.imencode(".jpg", smooth())[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", side, side)
    path.write_bytes(bytes(data))


def one_line(error):
    return len(str(error).splitlines()) == 1


@pytest.mark.parametrize("make", [bomb_png, bomb_jpeg])
def test_decompression_bomb_refused_before_decoding(tmp_path, monkeypatch, make):
    path = tmp_path / "bomb.img"
    make(path)
    assert path.stat().st_size < 2000
    monkeypatch.setattr(images.cv2, "imdecode", lambda *a: pytest.fail("decoded a bomb"))
    with pytest.raises(InputError, match=r"bomb.img: 30000x30000 = 900.0 MP, over --max_pixels") as e:
        read_rgb(path)
    assert one_line(e.value)


def test_max_pixels_limit_and_setting(tmp_path):
    path = tmp_path / "p.bmp"  # BMP: the size comes from Pillow's header-only open
    assert cv2.imwrite(str(path), smooth(20, 30))
    with pytest.raises(InputError, match="30x20 = 0.0006 MP, over --max_pixels 599 "):
        read_rgb(path, max_pixels=599)
    assert read_rgb(path, max_pixels=600).shape == (20, 30, 3)
    try:
        images.set_max_pixels(100)
        with pytest.raises(InputError, match="over --max_pixels 100 "):
            read_rgb(path)
    finally:
        images.set_max_pixels(images.DEFAULT_MAX_PIXELS)
    with pytest.raises(InputError, match="expected a positive"):
        images.set_max_pixels(0)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_opencv_color_read(tmp_path, orientation):
    path = tmp_path / f"phone{orientation}.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(smooth(16, 24)).save(path, exif=exif.tobytes(), quality=95)
    expected = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]  # OpenCV applies the orientation here
    got = read_rgb(path)
    assert got.shape == ((24, 16, 3) if orientation >= 5 else (16, 24, 3))
    np.testing.assert_array_equal(got, expected)


def test_cmyk_jpeg_palette_png_and_animated_gif(tmp_path):
    rgb = smooth()
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    assert np.abs(read_rgb(tmp_path / "cmyk.jpg").astype(int) - rgb).max() <= 12  # JPEG error only
    Image.fromarray(rgb).quantize(16).save(tmp_path / "pal.png")
    with Image.open(tmp_path / "pal.png") as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(read_rgb(tmp_path / "pal.png"), np.asarray(im.convert("RGB")))
    frames = [Image.fromarray(rgb).quantize(32), Image.fromarray(255 - rgb).quantize(32)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(tmp_path / "anim.gif") as im:
        assert im.n_frames == 2
        first = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(read_rgb(tmp_path / "anim.gif"), first)


def test_16_bit_and_float_follow_the_documented_rules(tmp_path):
    rng = np.random.default_rng(2)
    deep = rng.integers(0, 65536, (5, 7, 3)).astype(np.uint16)
    assert cv2.imwrite(str(tmp_path / "deep.png"), deep)
    expected = np.floor(deep[..., ::-1].astype(np.float64) / 257 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(read_rgb(tmp_path / "deep.png"), expected)
    eight = smooth()
    assert cv2.imwrite(str(tmp_path / "as16.png"), eight[..., ::-1].astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_rgb(tmp_path / "as16.png"), eight)  # 8 -> 16 bit -> 8 bit: unchanged
    import tifffile

    values = np.array([[[-0.5, 0.0, 0.2], [0.5, 1.0, 7.0]]], np.float32)
    tifffile.imwrite(tmp_path / "float.tif", values)
    np.testing.assert_array_equal(read_rgb(tmp_path / "float.tif"), [[[0, 0, 51], [128, 255, 255]]])


def test_wrong_extension_reads_by_content(tmp_path):
    rgb = smooth()
    assert cv2.imwrite(str(tmp_path / "real.png"), rgb[..., ::-1])
    os.replace(tmp_path / "real.png", tmp_path / "photo.jpg")
    np.testing.assert_array_equal(read_rgb(tmp_path / "photo.jpg"), rgb)  # lossless: it was read as PNG


@pytest.mark.parametrize("kind, message", [
    ("empty", r"empty file \(0 bytes\)"), ("folder", "is a folder, expected an image file"),
    ("text", "not a readable image"), ("missing", "file not found"), ("truncated", "not a readable image")])
def test_unusable_files_are_one_line_naming_the_file(tmp_path, kind, message):
    path = tmp_path / "x.png"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
    elif kind == "text":
        path.write_text("not an image")
    elif kind == "truncated":
        path.write_bytes(cv2.imencode(".png", smooth())[1].tobytes()[:60])
    with pytest.raises(InputError, match=message) as e:
        read_rgb(path)
    assert str(e.value).startswith(str(path)) and one_line(e.value)


def test_paths_with_spaces_and_non_ascii(tmp_path):
    folder = tmp_path / "my photos été 写真"
    path = folder / "visage à la plage.png"
    rgb = smooth()
    write_rgb(path, rgb)  # creates the folder
    np.testing.assert_array_equal(read_rgb(path), rgb)
    np.testing.assert_array_equal(cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)[..., ::-1], rgb)


def test_write_is_atomic_and_failures_name_the_file(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    write_rgb(path, smooth(seed=1))
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputError, match=r"out.png: cannot write the image \(No space left on device\)") as e:
        write_rgb(path, smooth(seed=2))
    assert one_line(e.value)
    assert path.read_bytes() == before  # the previous result is intact
    assert sorted(os.listdir(tmp_path)) == ["out.png"]  # no temporary file left behind
