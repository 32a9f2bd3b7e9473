"""The page's job in-process: every stage reported in order, bad uploads refused with one clear message."""
import os

import cv2
import numpy as np
import pytest
from skimage import data

import metaf2n_tf  # noqa: F401
from metaf2n_tf.demo import degrade
from metaf2n_tf.errors import InputError
from tests.reference_tf1 import random_tensors

pytest.importorskip("gradio")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from metaf2n_tf import enhance, webapp
    from metaf2n_tf.weights import h5

    root = tmp_path_factory.mktemp("webapp")
    model = h5.write_h5(root / "tiny.h5", random_tensors(num_block=1, seed=3))
    settings = enhance.Settings(max_pixels=20000)
    return webapp.Page(enhance.Enhancer(model), {"none": None}, settings)


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """Files where Gradio keeps uploads (GRADIO_TEMP_DIR), as the page receives them."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    gt = data.astronaut()

    def put(name, rgb=None, raw=None):
        path = tmp_path / "upload" / name
        path.parent.mkdir(exist_ok=True)
        if raw is not None:
            path.write_bytes(raw)
        else:
            assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
        return {"path": str(path), "orig_name": name}

    return {"lq": put("astronaut.png", degrade(gt)), "gt": put("astronaut_gt.png", gt), "put": put}


def test_stages_reported_in_order(page, uploads):
    seen = []
    slider, image, faces, masks, figures, files = page.run(
        uploads["lq"], uploads["gt"], "gt", "adam", 2, True, progress=lambda f, desc=None: seen.append((f, desc)))
    descs = [d for _, d in seen]
    expected = ["detecting faces", "restoring faces", "adapt step 1/2", "adapt step 2/2", "SR tile 1/1",
                "plain SR tile 1/1", "pasting faces", "scoring"]
    assert [d for d in descs if d in expected] == expected
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1
    assert image.shape == (512, 512, 3) and slider[0].shape == image.shape
    assert len(faces) == 1 and faces[0][0].shape == (2 * faces[0][0].shape[0] // 2, faces[0][0].shape[1], 3)
    assert "PSNR-Y" in figures and "NIQE: not available" in figures
    assert [os.path.basename(f) for f in files] == ["astronaut.png", "astronaut.json"]


@pytest.mark.parametrize("case, message", [
    ("none", "no photo"),
    ("gt_missing", "needs the ground truth"),
    ("big", "big.png: 200x200 = 0.04 MP, over --max_pixels 20000 (0.02 MP); refused before decoding"),
    ("text", "notes.png: not a readable image"),
    ("outside", "not an uploaded file"),
    ("restorer", "restorer 'gpen': not available"),
])
def test_bad_uploads_one_clear_message(page, uploads, case, message):
    lq, gt, restorer = uploads["lq"], None, "none"
    if case == "none":
        lq = None
    elif case == "gt_missing":
        restorer = "gt"
    elif case == "big":
        lq = uploads["put"]("big.png", np.zeros((200, 200, 3), np.uint8))
    elif case == "text":
        lq = uploads["put"]("notes.png", raw=b"not an image")
    elif case == "outside":
        lq = {"path": "/etc/hostname", "orig_name": "hostname"}
    elif case == "restorer":
        restorer = "gpen"
    with pytest.raises(InputError) as info:
        page.run(lq, gt, restorer, "auto", None, False)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "/upload/" not in str(info.value)  # named by the user's file name, not the server's copy
