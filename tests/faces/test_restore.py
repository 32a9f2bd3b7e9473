import sys
import types

import cv2
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import ConfigError, InputError
from metaf2n_tf.faces import align, restore


class Identity:
    """A network restorer that restores nothing: the aligned face comes back unchanged."""

    size = 512

    def restore_aligned(self, face):
        return face


def test_restorer_by_name_choices_and_errors(tmp_path):
    assert restore.restorer_by_name("none").name == "none"
    assert restore.restorer_by_name("gt", gt_dir=str(tmp_path)).gt_dir == str(tmp_path)
    with pytest.raises(ConfigError, match="needs --gt_dir"):
        restore.restorer_by_name("gt")
    with pytest.raises(ConfigError, match="nowhere: --gt_dir not found"):
        restore.restorer_by_name("gt", gt_dir=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="needs --gpen_weights PATH"):
        restore.restorer_by_name("gpen")
    with pytest.raises(ConfigError, match="needs --dmdnet_weights PATH"):
        restore.restorer_by_name("dmdnet")
    with pytest.raises(ConfigError, match="got 'codeformer', expected one of gt, none, gpen, dmdnet"):
        restore.restorer_by_name("codeformer")
    with pytest.raises(ConfigError, match="got 'gt', expected one of gpen, dmdnet"):
        restore.network_restorer("gt", "w.pth")


def test_gpen_is_built_from_its_module_on_the_weights(monkeypatch):
    fake = types.ModuleType("metaf2n_tf.faces.gpen")

    class GPENRestorer:
        size = 512

        def __init__(self, weights):
            self.weights = weights

    fake.GPENRestorer = GPENRestorer
    monkeypatch.setitem(sys.modules, "metaf2n_tf.faces.gpen", fake)
    got = restore.restorer_by_name("gpen", weights="GPEN-BFR-512.pth")
    assert isinstance(got, GPENRestorer) and got.weights == "GPEN-BFR-512.pth"


@pytest.mark.parametrize("box", [(0, 0, 9, 7), (5, 3, 20, 30), (25, 40, 39, 47), (0, 0, 39, 47)])
def test_bicubic_crop_equals_cropping_the_whole_resized_photo(box):
    photo = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    whole = cv2.resize(photo, (160, 192), interpolation=cv2.INTER_CUBIC)
    crop = align.CropBox(*box)
    np.testing.assert_array_equal(restore.bicubic_crop(photo, crop), whole[crop.slices(4)])


def test_gt_lookup_and_shape_check(tmp_path):
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    cv2.imwrite(str(gt_dir / "a.png"), np.zeros((8, 12, 3), np.uint8))
    cv2.imwrite(str(gt_dir / "b.png"), np.zeros((8, 8, 3), np.uint8))
    restorer = restore.restorer_by_name("gt", gt_dir=str(gt_dir))
    assert restorer.gt_path("lq/a.png") == str(gt_dir / "a.png")
    assert restorer.gt_path("lq/b.jpg") == str(gt_dir / "b.png")  # same stem, other extension
    with pytest.raises(InputError, match="c.png: no ground truth in"):
        restorer.gt_path("lq/c.png")
    assert restorer.read_gt("lq/a.png", (2, 3)).shape == (8, 12, 3)
    with pytest.raises(InputError, match=r"b.png: got 8x8, expected 8x12 \(4x the LQ photo 2x3\)"):
        restorer.read_gt("lq/b.png", (2, 3))


def test_restored_crop_of_an_identity_restorer_is_close_to_bicubic():
    yy, xx = np.mgrid[0:80, 0:90]
    photo = np.dstack([xx * 2, yy * 3, (xx + yy)]).astype(np.uint8)
    alignment = align.estimate_alignment(align.reference_points() / 5 + (10.0, 5.0))
    box = align.CropBox(20, 15, 60, 70)
    got = restore.restored_crop(Identity(), photo, alignment, box)
    assert got.shape == (4 * 56, 4 * 41, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(float) - restore.bicubic_crop(photo, box)).mean() < 1.0


def test_margins_outside_the_aligned_square_are_filled_not_black():
    # A small face in a big box: most of the crop lies outside the aligned square. The original left
    # that black; here the bicubic photo fills it, so a flat grey photo stays flat grey.
    photo = np.full((120, 120, 3), 90, np.uint8)
    alignment = align.estimate_alignment(align.reference_points() / 16 + (50.0, 50.0))
    got = restore.restored_crop(Identity(), photo, alignment, align.CropBox(0, 0, 119, 119))
    assert np.abs(got.astype(int) - 90).max() <= 1


def test_a_restorer_returning_the_wrong_shape_is_reported():
    class Broken(Identity):
        def restore_aligned(self, face):
            return face[:256]

    alignment = align.estimate_alignment(align.reference_points() / 8)
    with pytest.raises(ConfigError, match=r"returned \(256, 512, 3\) uint8, expected \(512, 512, 3\) uint8"):
        restore.restored_crop(Broken(), np.zeros((64, 64, 3), np.uint8), alignment, align.CropBox(0, 0, 9, 9))
