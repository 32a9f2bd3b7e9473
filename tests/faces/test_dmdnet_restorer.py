"""The ``dmdnet`` restorer: landmark files, component boxes, restore_faces.py (generic and specific list
lines, with landmark files or detected landmarks) and generate_test_faces.py.

References: boxes computed by hand from landmark sets built for easy arithmetic; the NumPy DMDNet of
``tests.models.test_dmdnet`` for the restored faces and panels (the output rounding is checked against
``cv2.imwrite``'s in ``tests/faces/test_network_range.py``). Detected landmarks are checked against
independent points in ``tests/faces/test_landmarks.py``; here, that the restorer uses them.
"""
import cv2
import h5py
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
import restore_faces
from metaf2n_tf.errors import ConfigError, InputError
from metaf2n_tf.faces import dmdnet as f
from tests import pth_writer
from tests.models import test_dmdnet as ref


def ellipse(center, rx, ry, n, start=0.0):
    t = start + 2 * np.pi * np.arange(n) / n
    return np.stack([center[0] + rx * np.cos(t), center[1] + ry * np.sin(t)], axis=1)


def synthetic_landmarks(shift=(0.0, 0.0)):
    """A plausible 68-point face of the 512 template frame (iBUG order), moved by ``shift``."""
    jaw = np.stack([np.linspace(120, 392, 17), 260 + 140 * np.sin(np.linspace(0, np.pi, 17))], axis=1)
    brows = np.concatenate([ellipse((202, 215), 35, 8, 5), ellipse((310, 215), 35, 8, 5)])
    nose = np.concatenate([np.stack([np.full(4, 256.0), np.linspace(250, 295, 4)], axis=1),
                           np.stack([np.linspace(236, 276, 5), np.full(5, 310.0)], axis=1)])
    eyes = np.concatenate([ellipse((202, 243), 22, 9, 6), ellipse((309, 243), 22, 9, 6)])
    mouth = np.concatenate([ellipse((256, 366), 45, 18, 12), ellipse((256, 366), 30, 8, 8)])
    return np.concatenate([jaw, brows, nose, eyes, mouth]) + np.asarray(shift)


def write_landmarks(path, points):
    path.write_text("".join(f"{x:.3f} {y:.3f}\n" for x, y in points))


def write_rgb(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def read_rgb(path):
    return cv2.imread(str(path))[..., ::-1]


def smooth_face(seed):
    return np.rint((ref.smooth_faces(1, seed)[0].transpose(1, 2, 0) * 0.5 + 0.5) * 255).astype(np.uint8)


# ---------------------------------------------------------------- landmarks and boxes

def hand_landmarks():
    """Landmarks whose boxes are easy by hand (see test_component_boxes_hand_computed)."""
    pts = np.tile([256.0, 256.0], (68, 1))
    pts[36:42] = [100, 200]            # left eye centre (100, 200)
    pts[17:22] = [[90, 180], [95, 185], [100, 190], [105, 185], [110, 185]]  # highest brow point y 180
    pts[42:48] = [400, 200]            # right eye centre (400, 200)
    pts[22:27] = [[390, 170], [400, 190], [405, 190], [410, 190], [415, 190]]  # highest y 170
    pts[29:36] = [[256, 280], [256, 290], [240, 310], [256, 310], [256, 320], [256, 310], [272, 280]]
    pts[48:68] = [[200, 350]] * 10 + [[300, 380]] * 10  # mouth mean (250, 365), widest extent 100
    return pts


def test_component_boxes_hand_computed():
    # Left eye: L1 = 1.3·(200 − 180) = 26, L2 = 26/1.9, box [100 − (L1+L2)/2 + 1, 200 − 26 + 1, 100 + (L1+L2)/2,
    # 200 + L2] = [81.16, 175, 119.84, 213.68]. Right eye: L1 = 39 -> [371.24, 162, 429.76, 220.53].
    # Nose: mean (256, 300); half-width 1.25·16 = 20, below 1.1·20 = 22, above 40 − 22 = 18 -> [237, 283, 276, 322].
    # Mouth: half-side 1.1·max(100/2, 16) = 55 around (250, 365) -> [196, 311, 305, 420].
    expected = [[81, 175, 119, 213], [371, 162, 429, 220], [237, 283, 276, 322], [196, 311, 305, 420]]
    np.testing.assert_array_equal(f.component_boxes(hand_landmarks()), expected)


def test_boxes_clip_points_and_cap_the_mouth():
    pts = hand_landmarks()
    pts[48:68] = [[495, 495]] * 10 + [[520, 530]] * 10  # clipped to 504: mean (499.5, 499.5), extent 9 -> 16
    pts[17] = [90, -40]  # clipped to y 8: left eye L1 = 1.3·192
    boxes = f.component_boxes(pts)
    half = 1.1 * 16
    np.testing.assert_array_equal(boxes[3], [int(499.5 - half + 1), int(499.5 - half + 1), 510, 510])
    assert boxes[0][1] == int(200 - 1.3 * 192 + 1)


def test_check_boxes():
    boxes = f.component_boxes(hand_landmarks())
    f.check_boxes(boxes, 512, 512, "ok")
    with pytest.raises(InputError, match=r"face\.png\.txt: right eye box \[371, 162, 429, 220\] is empty at 1/8 or "
                                         r"outside the 400x400 face"):
        f.check_boxes(boxes, 400, 400, "face.png.txt")
    with pytest.raises(InputError, match=r"mouth box \[196, 311, 305, 420\]"):
        f.check_boxes(boxes, 415, 512, "x")  # the mouth reaches row 420 of a 415 px high face
    thin = boxes.copy()
    thin[1] = [371, 162, 374, 220]  # 3 px wide: nothing left at 1/8
    with pytest.raises(InputError, match="right eye box"):
        f.check_boxes(thin, 512, 512, "x")


@pytest.mark.parametrize("text,message", [
    (None, "landmark file not found"),
    ("1 2\n" * 67, "got 67 lines, expected 68 lines 'x y'"),
    ("1 2 3\n" * 68, "got lines of 3 values, expected 68"),
    ("1 a\n" * 68, "not a landmark file"),
    ("1 nan\n" * 68, "NaN or infinity"),
])
def test_read_landmarks_errors(tmp_path, text, message):
    path = tmp_path / "face.png.txt"
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        f.read_landmarks(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_read_landmarks_upstream_format(tmp_path):
    path = tmp_path / "0.png.txt"
    write_landmarks(path, synthetic_landmarks())
    np.testing.assert_allclose(f.read_landmarks(path), synthetic_landmarks(), atol=5e-4)


# ---------------------------------------------------------------- pre- and post-processing

def test_prepare_face_follows_upstreams_resize_rule():
    small = np.random.default_rng(0).integers(0, 256, (300, 520, 3), dtype=np.uint8)  # one side < 512
    np.testing.assert_array_equal(f.prepare_face(small), cv2.resize(small, (512, 512), interpolation=cv2.INTER_AREA))
    big = np.zeros((640, 512, 3), np.uint8)
    assert f.prepare_face(big) is big
    with pytest.raises(InputError, match="got 516x512"):
        f.prepare_face(np.zeros((512, 516, 3), np.uint8), "x.png")


# ---------------------------------------------------------------- the restorer and restore_faces.py

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(path of a random tiny DMDNet .pth, its float64 state dict, the restorer)."""
    sd = ref.random_state_dict(**ref.TINY, seed=5)
    path = tmp_path_factory.mktemp("dmdnet_r") / "tiny.pth"
    pth_writer.save(sd, path)
    return path, {k: v.astype(np.float64) for k, v in sd.items()}, f.DMDNetRestorer(path)


def reference_restore(sd, face, boxes, refs=()):
    """Upstream pre/post-processing around the NumPy DMDNet: uint8 faces -> (generic, specific) uint8."""
    def net_input(rgb):
        return ((rgb.astype(np.float64) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]

    ref_faces = np.concatenate([net_input(r) for r, _ in refs]) if refs else None
    ref_locs = np.stack([b for _, b in refs]) if refs else None
    outs = ref.ref_dmdnet(sd, net_input(face), boxes[None], ref_faces, ref_locs)
    return [None if o is None else np.rint(np.clip(o[0].transpose(1, 2, 0) * 0.5 + 0.5, 0, 1) * 255)
            for o in outs]


# One case restored by the NumPy DMDNet once (about 25 s of CPU): face 3, its landmarks moved by (3, 2),
# references 30 and 31 with their landmarks moved by (0, 0) and (4, -6).
CASE_SHIFT, REF_SHIFTS = (3, 2), ((0, 0), (4, -6))


@pytest.fixture(scope="module")
def case(tiny):
    """(face, boxes, refs, NumPy generic, NumPy specific)."""
    face, boxes = smooth_face(3), f.component_boxes(synthetic_landmarks(CASE_SHIFT))
    refs = [(smooth_face(30 + i), f.component_boxes(synthetic_landmarks(s))) for i, s in enumerate(REF_SHIFTS)]
    return (face, boxes, refs, *reference_restore(tiny[1], face, boxes, refs))


def assert_close_uint8(got, expected):
    levels = np.abs(got.astype(int) - expected.astype(int))
    assert levels.max() <= 1 and (levels > 0).mean() < 0.01


def test_restore_faces_dmdnet_list(tiny, case, tmp_path, capsys):
    path, _, restorer = tiny
    lq, _, _, expected_g, expected_s = case
    faces, refs_img, refs_lm = tmp_path / "faces", tmp_path / "refs" / "img", tmp_path / "refs" / "ldmk"
    write_rgb(faces / "a.png", lq)
    write_landmarks(faces / "a.png.txt", synthetic_landmarks(CASE_SHIFT))
    write_rgb(faces / "b.v2.png", lq)
    write_landmarks(faces / "b.v2.png.txt", synthetic_landmarks(CASE_SHIFT))
    write_rgb(faces / "c.png", lq)  # no landmark file
    refs_lm.mkdir(parents=True)
    for i, shift in enumerate(REF_SHIFTS):
        write_rgb(refs_img / f"{i}.png", smooth_face(30 + i))
        write_landmarks(refs_lm / f"{i}.png.txt", synthetic_landmarks(shift))
    one_ref = tmp_path / "one_ref"
    write_rgb(one_ref / "0.png", smooth_face(20))
    lines = [f"{faces / 'a.png'}", "", f"{faces / 'b.v2.png'}\t{refs_img}\t{refs_lm}", f"{faces / 'c.png'}",
             f"{faces / 'a.png'}\t{refs_img}", f"{faces / 'a.png'}\t{one_ref}\t{refs_lm}"]
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    rc = restore_faces.main(["--restorer", "dmdnet", "--weights", str(path), "-s", str(tmp_path / "list.txt"),
                             "-d", str(out), "--check", "--save_weights", str(tmp_path / "w.h5"), "--gpu", "",
                             "--landmarks", "file"])
    err = capsys.readouterr().err
    assert rc == 1 and "wrote 2 face(s)" in err and "3 with errors" in err
    assert "c.png.txt: landmark file not found" in err
    assert "line 5: got 2 tab-separated fields, expected 1 (LQ face) or 3" in err
    assert "one_ref: got 1 reference(s), expected at least 2" in err
    assert sorted(p.name for p in out.iterdir()) == ["a_G.png", "b_GS.png"]
    check = read_rgb(faces / "TmpCheckLQLandmarks" / "a.png")
    x, y = (int(v) for v in synthetic_landmarks(CASE_SHIFT)[40])  # a landmark: a green dot over the face
    np.testing.assert_array_equal(check[y, x], [0, 255, 0])
    with h5py.File(tmp_path / "w.h5", "r") as weights:
        assert weights.attrs["format"] == "metaf2n_tf-dmdnet-v1" and len(weights.keys()) == len(tiny[1])

    # The panels: the LQ face, then the NumPy DMDNet's results on the same landmarks.
    a = read_rgb(out / "a_G.png")
    assert a.shape == (512, 1024, 3)
    np.testing.assert_array_equal(a[:, :512], lq)
    assert_close_uint8(a[:, 512:], expected_g)
    b = read_rgb(out / "b_GS.png")
    assert b.shape == (512, 1536, 3)
    np.testing.assert_array_equal(b[:, :512], lq)
    assert_close_uint8(b[:, 512:1024], expected_g)
    assert_close_uint8(b[:, 1024:], expected_s)


def test_restore_faces_dmdnet_detects_missing_landmarks(tiny, aligned_astronaut, tmp_path, capsys):
    """No P.txt, no reference landmark folder: every face's landmarks are detected (``--landmarks auto``)."""
    from metaf2n_tf.faces.landmarks import detect_landmarks

    path, _, restorer = tiny
    face = aligned_astronaut[0]
    mirrored = np.ascontiguousarray(face[:, ::-1])
    faces, refs_img = tmp_path / "faces", tmp_path / "refs"
    write_rgb(faces / "astro.png", face)
    write_rgb(faces / "noise.png", np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8))
    write_rgb(refs_img / "0.png", face)
    write_rgb(refs_img / "1.png", mirrored)
    (tmp_path / "list.txt").write_text(f"{faces / 'noise.png'}\n{faces / 'astro.png'}\t{refs_img}\t{tmp_path / 'no_ldmk'}\n")
    out = tmp_path / "out"
    rc = restore_faces.main(["--restorer", "dmdnet", "--weights", str(path), "-s", str(tmp_path / "list.txt"),
                             "-d", str(out), "--check", "--gpu", ""])
    err = capsys.readouterr().err
    assert rc == 1 and "wrote 1 face(s)" in err and "1 with errors" in err
    assert "noise.png: detected landmarks: no plausible landmarks found" in err
    assert sorted(p.name for p in out.iterdir()) == ["astro_GS.png"]

    points, ref_points = detect_landmarks([face]), detect_landmarks([face, mirrored])
    check = read_rgb(faces / "TmpCheckLQLandmarks" / "astro.png")
    x, y = (int(v) for v in points[0][30])  # the detected nose tip: a green dot
    np.testing.assert_array_equal(check[y, x], [0, 255, 0])
    # That the detected points were used; the restorer's numbers are pinned to the NumPy DMDNet above.
    refs = [(r, f.component_boxes(p)) for r, p in zip((face, mirrored), ref_points)]
    generic, specific = restorer.restore(face, f.component_boxes(points[0]), restorer.specific_dictionary(refs))
    panels = read_rgb(out / "astro_GS.png")
    np.testing.assert_array_equal(panels[:, :512], face)
    np.testing.assert_array_equal(panels[:, 512:1024], generic)
    np.testing.assert_array_equal(panels[:, 1024:], specific)

    # --landmarks file asks for the files and reports the first one missing.
    rc = restore_faces.main(["--restorer", "dmdnet", "--weights", str(path), "-s", str(tmp_path / "list.txt"),
                             "-d", str(out), "--landmarks", "file", "--gpu", ""])
    err = capsys.readouterr().err
    assert rc == 1 and "noise.png.txt: landmark file not found" in err and "astro.png.txt: landmark file not found" in err


@pytest.mark.parametrize("argv,message", [
    (["--restorer", "dmdnet", "-s", "{tmp}/list.txt"], "needs --weights"),
    (["--restorer", "dmdnet", "--weights", "w.pth", "-s", "{tmp}/absent.txt"], "-s/--img_list not found"),
    (["--restorer", "dmdnet", "--weights", "{tmp}/absent.pth", "-s", "{tmp}/list.txt"], "absent.pth: file not found"),
    (["--restorer", "dmdnet", "--weights", "w.pth", "-s", "{tmp}/empty.txt"], "the face list is empty"),
])
def test_restore_faces_dmdnet_user_errors(tmp_path, capsys, argv, message):
    (tmp_path / "list.txt").write_text("x.png\n")
    (tmp_path / "empty.txt").write_text("\n\n")
    rc = restore_faces.main([a.format(tmp=tmp_path) for a in argv] + ["-d", str(tmp_path / "o"), "--gpu", ""])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("restore_faces.py: ") and message in err and "\n" not in err


def test_restorer_specific_matches_reference(tiny, case):
    restorer = tiny[2]
    face, boxes, refs, expected_g, expected_s = case
    generic, specific = restorer.restore(face, boxes, restorer.specific_dictionary(refs))
    assert_close_uint8(generic, expected_g)
    assert_close_uint8(specific, expected_s)
    assert np.abs(expected_s - expected_g).max() >= 1  # the references change the face
    with pytest.raises(InputError, match="got 1 reference"):
        restorer.specific_dictionary(refs[:1])


def test_restore_aligned_detects_or_uses_the_template(tiny, case, aligned_astronaut, tmp_path):
    from metaf2n_tf.faces.landmarks import detect_landmarks

    restorer = tiny[2]
    face = aligned_astronaut[0]
    expected, _ = restorer.restore(face, f.component_boxes(detect_landmarks([face])[0]))  # the boxes used
    np.testing.assert_array_equal(restorer.restore_aligned(face), expected)
    with pytest.raises(InputError, match="aligned face: detected landmarks: no plausible landmarks found"):
        restorer.restore_aligned(np.zeros((512, 512, 3), np.uint8))
    write_landmarks(tmp_path / "template.txt", synthetic_landmarks(CASE_SHIFT))
    aligned = f.DMDNetRestorer(tiny[0], aligned_landmarks=tmp_path / "template.txt")
    assert_close_uint8(aligned.restore_aligned(case[0]), case[3])  # the NumPy generic result
    with pytest.raises(InputError, match=r"got uint8 \(256, 256, 3\), expected uint8 \(512, 512, 3\)"):
        aligned.restore_aligned(np.zeros((256, 256, 3), np.uint8))


def test_generate_test_faces_with_the_dmdnet_restorer(tiny, tmp_path, capsys):
    import generate_test_faces
    from skimage import data

    lq_dir, out = tmp_path / "LQ", tmp_path / "out"
    write_rgb(lq_dir / "astro.png", cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA))
    argv = ["--input_dir", str(lq_dir), "--output_dir", str(out), "--restorer", "dmdnet",
            "--dmdnet_weights", str(tiny[0]), "--gpu", ""]
    assert generate_test_faces.main(argv) == 0  # each face's landmarks detected
    face_lq, face_hq = read_rgb(out / "Face_LQ" / "astro_0.png"), read_rgb(out / "Face_HQ" / "astro_0.png")
    assert face_hq.shape == (4 * face_lq.shape[0], 4 * face_lq.shape[1], 3)
    write_landmarks(tmp_path / "template.txt", synthetic_landmarks())
    assert generate_test_faces.main(argv + ["--dmdnet_landmarks", str(tmp_path / "template.txt")]) == 0
    with_template = read_rgb(out / "Face_HQ" / "astro_0.png")
    assert with_template.shape == face_hq.shape and np.abs(with_template.astype(int) - face_hq).max() > 0
    capsys.readouterr()


def test_landmark_modes(tmp_path):
    write_landmarks(tmp_path / "a.png.txt", synthetic_landmarks())
    assert f.uses_file(tmp_path / "a.png.txt", "auto") and f.uses_file(tmp_path / "a.png.txt", "file")
    assert not f.uses_file(tmp_path / "a.png.txt", "detect") and not f.uses_file(tmp_path / "b.png.txt", "auto")
    assert f.uses_file(tmp_path / "b.png.txt", "file")  # then reading it reports the missing file
    with pytest.raises(ConfigError, match="--landmarks: got 'always', expected one of auto, detect, file"):
        f.uses_file(tmp_path / "a.png.txt", "always")
    [(points, source)] = f.face_landmarks([smooth_face(0)], ["a.png"], [tmp_path / "a.png.txt"], "auto")
    np.testing.assert_allclose(points, synthetic_landmarks(), atol=5e-4)
    assert source == str(tmp_path / "a.png.txt")
