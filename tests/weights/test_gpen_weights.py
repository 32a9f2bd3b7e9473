"""GPEN weights (.pth -> Keras, the converted .h5), the ``gpen`` restorer and restore_faces.py.

References: the key/shape table and parameter counts of upstream GPEN (docs/upstream.md, "GPEN-BFR
generator"), the state dict written by ``tests.models.test_gpen`` from that description (it loads strictly into upstream
``FullGenerator``), its NumPy forward, NumPy transposes of the stored arrays, and OpenCV resizing.
"""
import math

import cv2
import h5py
import numpy as np
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
import restore_faces
from metaf2n_tf.errors import InputError, WeightsError
from metaf2n_tf.faces.gpen import GPENRestorer
from metaf2n_tf.models.gpen import GPEN_BFR_256, GPEN_BFR_512, gpen
from metaf2n_tf.weights.gpen import arch_from_torch, convert_pth, load_gpen, model_variables, torch_shapes
from tests import pth_writer
from tests.models import test_gpen as ref

TINY = ref.TINY
SIZE = TINY["size"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(path of a random tiny GPEN .pth, its state dict)."""
    sd = ref.random_state_dict(**TINY, seed=7)
    path = tmp_path_factory.mktemp("gpen") / "tiny.pth"
    pth_writer.save(sd, path)
    return path, sd


@pytest.fixture(scope="module")
def restorer(tiny):
    return GPENRestorer(tiny[0])


def reference_restore(face_rgb, sd):
    """Upstream pre/post-processing around the NumPy generator: uint8 RGB face -> uint8 RGB face."""
    x = ((face_rgb.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
    y = ref.ref_gpen(x.astype(np.float64), {k: v.astype(np.float64) for k, v in sd.items()}, SIZE)
    y = y[0].transpose(1, 2, 0).astype(np.float32)
    return (np.clip(y * 0.5 + 0.5, 0, 1) * 255).astype(np.uint8)


def smooth_face(seed, size=SIZE):
    """A smooth random uint8 RGB image (bilinear upsizing of 8x8 noise)."""
    small = np.random.default_rng(seed).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


def assert_close_uint8(got, expected):
    """Equal up to the truncation to uint8: at most 1 level, on under 1 % of the values."""
    levels = np.abs(got.astype(int) - expected.astype(int))
    assert levels.max() <= 1 and (levels > 0).mean() < 0.01


def shapes_of(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


# ---------------------------------------------------------------- key tables and architecture

def test_gpen_bfr_256_key_table_matches_upstream():
    sd = ref.random_state_dict(**GPEN_BFR_256, lazy=True)
    shapes = torch_shapes(gpen(**GPEN_BFR_256))
    assert len(shapes) == 144 and sum(math.prod(s) for s in shapes.values()) == 18_879_298  # upstream's counts (docs/upstream.md)
    assert shapes == shapes_of(sd)
    assert shapes["generator.convs.0.conv.weight"] == (1, 256, 512, 3, 3)  # 2·ch(4) in, ch(8) out
    assert shapes["generator.to_rgbs.5.conv.weight"] == (1, 3, 64, 1, 1)  # 2·ch(256)
    assert shapes["final_linear.0.weight"] == (512, 256 * 16)
    assert arch_from_torch(sd, "sd") == {**GPEN_BFR_256, "style_dim": 512, "n_mlp": 8}


@pytest.mark.slow
def test_gpen_bfr_512_key_table():
    sd = ref.random_state_dict(**GPEN_BFR_512, lazy=True)
    model = gpen(**GPEN_BFR_512)
    shapes = torch_shapes(model)
    assert len(shapes) == 163 and sum(math.prod(s) for s in shapes.values()) == 71_005_559  # upstream's counts (docs/upstream.md)
    assert shapes == shapes_of(sd)
    assert arch_from_torch(sd, "sd") == {**GPEN_BFR_512, "style_dim": 512, "n_mlp": 8}


# ---------------------------------------------------------------- conversion and the .h5 format

def test_h5_holds_keras_layouts_and_loads_like_the_reference(tiny, tmp_path):
    path, sd = tiny
    h5_path = tmp_path / "tiny.h5"
    assert convert_pth(path, h5_path) == {**TINY, "style_dim": 512, "n_mlp": 8}
    with h5py.File(h5_path, "r") as f:
        assert f.attrs["format"] == "metaf2n_tf-gpen-v1" and f.attrs["size"] == SIZE
        assert set(f.keys()) == {k for k in sd if not k.endswith(".kernel")}
        np.testing.assert_array_equal(f["generator.convs.2.conv.weight"][()],
                                      sd["generator.convs.2.conv.weight"][0].transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(f["ecd2.0.1.weight"][()], sd["ecd2.0.1.weight"].transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(f["generator.style.3.weight"][()], sd["generator.style.3.weight"].T)
        np.testing.assert_array_equal(f["generator.input.input"][()], sd["generator.input.input"].transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(f["generator.to_rgbs.1.bias"][()], sd["generator.to_rgbs.1.bias"].ravel())
    model, _ = load_gpen(h5_path)
    variables = {key: var.numpy() for key, _, var in model_variables(model)}  # vs transposes written here
    assert set(variables) == {k for k in sd if not k.endswith(".kernel")}
    np.testing.assert_array_equal(variables["generator.convs.2.conv.weight"],
                                  sd["generator.convs.2.conv.weight"][0].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(variables["ecd0.0.0.weight"], sd["ecd0.0.0.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(variables["generator.style.3.weight"], sd["generator.style.3.weight"].T)
    np.testing.assert_array_equal(variables["generator.to_rgb1.bias"].ravel(), sd["generator.to_rgb1.bias"].ravel())
    x = np.random.default_rng(8).uniform(-1, 1, (1, 3, SIZE, SIZE)).astype(np.float32)
    expected = ref.ref_gpen(x.astype(np.float64), {k: v.astype(np.float64) for k, v in sd.items()}, SIZE)
    got = model(x.transpose(0, 2, 3, 1)).numpy().transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_blur_buffers_are_optional_but_checked(tiny, tmp_path):
    _, sd = tiny
    no_buffers = {k: v for k, v in sd.items() if not k.endswith(".kernel")}
    pth_writer.save(no_buffers, tmp_path / "nobuf.pth")
    load_gpen(tmp_path / "nobuf.pth")
    bad = dict(sd, **{"generator.to_rgbs.1.upsample.kernel": ref.ref_kernel().astype(np.float32)})  # gain 1, not 4
    pth_writer.save(bad, tmp_path / "badbuf.pth")
    with pytest.raises(WeightsError, match=r"buffer 'generator\.to_rgbs\.1\.upsample\.kernel' differs"):
        load_gpen(tmp_path / "badbuf.pth")


def _drop(sd, key):
    return {k: v for k, v in sd.items() if k != key}


@pytest.mark.parametrize("edit,message", [
    (lambda sd: _drop(sd, "generator.convs.3.noise.weight"),
     r"1 key\(s\) missing, first 'generator\.convs\.3\.noise\.weight'"),
    (lambda sd: dict(sd, **{"generator.extra.weight": np.zeros(2, np.float32)}),
     r"1 unexpected key\(s\), first 'generator\.extra\.weight'"),
    (lambda sd: dict(sd, **{"ecd1.0.2.bias": np.zeros(5, np.float32)}),
     r"'ecd1\.0\.2\.bias' has shape \(5,\), expected \(16,\)"),
    (lambda sd: _drop(sd, "generator.input.input"), r"'generator\.input\.input' missing: not a GPEN"),
    (lambda sd: {"conv_first.weight": np.zeros((64, 3, 3, 3), np.float32)}, r"encoder layers ecd0\.\.ecdN expected"),
])
def test_bad_state_dicts_name_the_key_in_one_line(tiny, tmp_path, edit, message):
    path = tmp_path / "bad.pth"
    pth_writer.save(edit(tiny[1]), path)
    with pytest.raises(WeightsError, match=message) as info:
        load_gpen(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_bad_files(tiny, tmp_path):
    with pytest.raises(WeightsError, match="file not found"):
        load_gpen(tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pth"):
        load_gpen(tmp_path / "junk.pth")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(1)
    with pytest.raises(WeightsError, match="not converted GPEN weights"):
        load_gpen(tmp_path / "other.h5")
    convert_pth(tiny[0], tmp_path / "cut.h5")
    with h5py.File(tmp_path / "cut.h5", "a") as f:
        del f["generator.conv1.activate.bias"]
    with pytest.raises(WeightsError, match=r"missing, first 'generator\.conv1\.activate\.bias'"):
        load_gpen(tmp_path / "cut.h5")


# ---------------------------------------------------------------- the restorer

def test_restorer_matches_upstream_processing(tiny, restorer):
    face = smooth_face(1)
    got = restorer.restore_aligned(face)
    assert restorer.size == SIZE and got.dtype == np.uint8 and got.shape == face.shape
    assert_close_uint8(got, reference_restore(face, tiny[1]))
    # flip=True: BGR in, BGR out, the network still sees RGB
    bgr = GPENRestorer(tiny[0], flip=True).restore_aligned(np.ascontiguousarray(face[..., ::-1]))
    np.testing.assert_array_equal(bgr[..., ::-1], got)


def test_restore_batch_is_the_uint8_result_over_255_and_runs_in_tf_data(tiny, restorer):
    faces = np.stack([smooth_face(2), smooth_face(3)])
    expected = np.stack([reference_restore(f, tiny[1]) for f in faces])  # the NumPy generator, upstream's uint8
    batch = restorer.restore_batch(faces.astype(np.float32) / 255.0).numpy() * 255.0
    np.testing.assert_allclose(batch, np.round(batch), atol=1e-3)  # quantised to uint8 levels
    assert_close_uint8(np.round(batch).astype(np.uint8), expected)
    ds = tf.data.Dataset.from_tensor_slices(faces.astype(np.float32) / 255.0).batch(2).map(restorer.restore_batch)
    (out,) = list(ds)
    assert out.shape == (2, SIZE, SIZE, 3)
    assert_close_uint8(np.round(out.numpy() * 255.0).astype(np.uint8), expected)


def test_restorer_rejects_wrong_faces(restorer):
    with pytest.raises(InputError, match=r"got uint8 \(32, 32, 3\), expected uint8 \(64, 64, 3\)"):
        restorer.restore_aligned(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InputError, match="got float32"):
        restorer.restore_aligned(np.zeros((SIZE, SIZE, 3), np.float32))


# ---------------------------------------------------------------- restore_faces.py

def test_restore_faces_script(tiny, tmp_path, capsys):
    path, sd = tiny
    in_dir, out_dir = tmp_path / "aligned", tmp_path / "out"
    in_dir.mkdir()
    face, other = smooth_face(4), smooth_face(5, size=80)
    cv2.imwrite(str(in_dir / "a.png"), face[..., ::-1])
    cv2.imwrite(str(in_dir / "b.png"), other[..., ::-1])
    (in_dir / "notes.png").write_bytes(b"not an image")
    h5_path = tmp_path / "saved.h5"
    rc = restore_faces.main(["--restorer", "gpen", "--weights", str(path), "--input_dir", str(in_dir),
                             "--output_dir", str(out_dir), "--save_weights", str(h5_path), "--gpu", ""])
    err = capsys.readouterr().err
    assert rc == 1 and "notes.png: not a readable image" in err and "wrote 2 face(s)" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.png", "b.png"]
    assert_close_uint8(cv2.imread(str(out_dir / "a.png"))[..., ::-1], reference_restore(face, sd))
    resized = cv2.resize(other, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)  # GPEN's aligned-mode resize
    assert_close_uint8(cv2.imread(str(out_dir / "b.png"))[..., ::-1], reference_restore(resized, sd))
    assert load_gpen(h5_path)[1]["size"] == SIZE


@pytest.mark.parametrize("argv,message", [
    (["--input_dir", "{tmp}", "--output_dir", "{tmp}/o"], "needs --weights"),
    (["--weights", "w.pth", "--output_dir", "{tmp}/o"], "--input_dir is required"),
    (["--weights", "w.pth", "--input_dir", "{tmp}/absent", "--output_dir", "{tmp}/o"], "--input_dir not found"),
    (["--restorer", "codeformer"], "codeformer"),
])
def test_restore_faces_user_errors(tmp_path, capsys, argv, message):
    (tmp_path / "x.png").write_bytes(b"")
    rc = restore_faces.main([a.format(tmp=tmp_path) for a in argv] + ["--gpu", ""])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("restore_faces.py: ") and message in err and "\n" not in err


def test_generate_test_faces_with_the_gpen_restorer(tiny, tmp_path):
    """The faces pipeline's ``restorer_by_name('gpen', weights=...)`` runs this restorer end to end."""
    import generate_test_faces
    from skimage import data

    lq_dir, out = tmp_path / "LQ", tmp_path / "out"
    lq_dir.mkdir()
    lq = cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(lq_dir / "astro.png"), lq[..., ::-1])
    rc = generate_test_faces.main(["--input_dir", str(lq_dir), "--output_dir", str(out), "--restorer", "gpen",
                                   "--gpen_weights", str(tiny[0]), "--gpu", ""])
    assert rc == 0
    face_lq = cv2.imread(str(out / "Face_LQ" / "astro_0.png"))
    face_hq = cv2.imread(str(out / "Face_HQ" / "astro_0.png"))
    assert face_hq.shape == (4 * face_lq.shape[0], 4 * face_lq.shape[1], 3)
