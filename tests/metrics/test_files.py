"""Listing, pairing and reading image files for the metrics (files written by the test with OpenCV)."""
import cv2
import numpy as np
import pytest

from metaf2n_tf.errors import InputError
from metaf2n_tf.data.images import read_rgb
from metaf2n_tf.metrics.files import list_images, pair_images


def write(path, image):
    assert cv2.imwrite(str(path), image)


def test_pairing_by_name_lists_mismatches(tmp_path):
    res, gt = tmp_path / "res", tmp_path / "gt"
    res.mkdir(), gt.mkdir()
    img = np.zeros((4, 4, 3), np.uint8)
    for name in ("a.png", "b.png", "only_res.png"):
        write(res / name, img)
    for name in ("a.png", "b.jpg", "only_gt.png"):
        write(gt / name, img)
    (res / "notes.txt").write_text("not an image")
    pairs, res_only, gt_only = pair_images(str(res), str(gt))
    got = [(n, r.split("/")[-1], g.split("/")[-1]) for n, r, g in pairs]
    assert got == [("a", "a.png", "a.png"), ("b", "b.png", "b.jpg")]
    assert res_only == ["only_res"] and gt_only == ["only_gt"]
    assert [p.split("/")[-1] for p in list_images(str(res))] == ["a.png", "b.png", "only_res.png"]


def test_duplicate_names_and_missing_folder(tmp_path):
    write(tmp_path / "x.png", np.zeros((2, 2, 3), np.uint8))
    write(tmp_path / "x.bmp", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(InputError, match="two images named 'x'"):
        pair_images(str(tmp_path), str(tmp_path))
    with pytest.raises(InputError, match="folder not found"):
        list_images(str(tmp_path / "nope"))


def test_read_rgb_channel_order_grey_alpha_and_errors(tmp_path):
    """The metrics read through data.images.read_rgb: 8-bit files as before (the metric figures stay the same)."""
    bgr = np.zeros((3, 5, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    write(tmp_path / "blue.png", bgr)
    assert read_rgb(str(tmp_path / "blue.png"))[0, 0].tolist() == [0, 0, 200]
    write(tmp_path / "grey.png", np.full((3, 5), 77, np.uint8))
    assert read_rgb(str(tmp_path / "grey.png")).tolist() == np.full((3, 5, 3), 77).tolist()
    write(tmp_path / "alpha.png", np.dstack([bgr, np.full((3, 5), 9, np.uint8)]))
    assert read_rgb(str(tmp_path / "alpha.png"))[0, 0].tolist() == [0, 0, 200]
    write(tmp_path / "deep.png", np.full((3, 5, 3), 200 * 257, np.uint16))  # 16 bit: round(v / 257)
    assert read_rgb(str(tmp_path / "deep.png"))[0, 0].tolist() == [200, 200, 200]
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(InputError, match="junk.png: not a readable image"):
        read_rgb(str(tmp_path / "junk.png"))


def test_folder_named_like_an_image_is_not_listed(tmp_path):
    write(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint8))
    (tmp_path / "b.png").mkdir()
    assert [p.split("/")[-1] for p in list_images(str(tmp_path))] == ["a.png"]
