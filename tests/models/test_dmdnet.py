"""DMDNet vs a NumPy reference written from the upstream architecture (NCHW, PyTorch state-dict layouts).

The reference slices crops and assigns them back with explicit indices, evaluates every spectral norm
from the stored ``u``/``v`` of the state dict, and computes bilinear resizes, the dictionary read-out
and AdaIN element by element; the port uses resampling matrices, einsums and Keras layers instead.
Its blocks are first pinned to hand-computed values; then the Keras model, loaded from a ``.pth`` the
test writes, is compared end to end (generic and specific) on a narrow configuration (ngf 8, 5 entries)
at the real face size, 512.
"""
import math

import numpy as np
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf.models import dmdnet as d
from metaf2n_tf.weights.dmdnet import load_dmdnet, torch_shapes
from tests import pth_writer

TINY = {"ngf": 8, "entries": 5}
PARTS = ("le", "re", "mo")
SCALES = (256, 128, 64)
STRIDE = {256: 2, 128: 4, 64: 8}
# Boxes of a real aligned face (upstream's test example 00005), [x1, y1, x2, y2]: eyes, nose, mouth.
BOXES = np.array([[151, 188, 232, 269], [277, 182, 363, 268], [229, 273, 297, 341], [202, 316, 318, 433]])


# ---------------------------------------------------------------- the upstream state dict, from its modules

def sn_modules(ngf=64):
    """{upstream conv prefix: (in, out, stride, dilation)} of all 249 spectrally normalised convs."""
    ch = {256: ngf, 128: 2 * ngf, 64: 4 * ngf}
    convs = {}

    def pair(prefix, cin, cout, stride=1, dil=(1, 1), first=0):
        convs[f"{prefix}.{first}"] = (cin, cout, stride, dil[0])
        convs[f"{prefix}.{first + 2}"] = (cout, cout, 1, dil[1])

    for enc in ("E_lq", "E_hq"):
        cin = 3
        for i, (scale, dil) in enumerate(zip(SCALES, ((5, 3), (3, 1), (1, 1)))):
            pair(f"{enc}.conv{2 * i + 1}", cin, ch[scale], stride=2)
            pair(f"{enc}.res{2 * i + 1}.Res", ch[scale], ch[scale], dil=dil)
            pair(f"{enc}.conv{2 * i + 2}", ch[scale], ch[scale])
            pair(f"{enc}.res{2 * i + 2}.Res", ch[scale], ch[scale], dil=dil)
            cin = ch[scale]
        for scale in SCALES:
            for part in PARTS:
                pair(f"{enc}.{part.upper()}_{scale}_Q.Query", ch[scale], ch[scale] // 4)
    for scale in SCALES:
        c = ch[scale]
        for part in PARTS:
            p = f"{part.upper()}_{scale}"
            pair(f"{p}_KV.Key", c, c // 4)
            pair(f"{p}_KV.Value", c, c)
            pair(f"{p}_Attention", c, c)
            for i in (1, 2, 3):
                pair(f"{p}_Mask.conv{i}", c, c // 3)
            pair(f"{p}_Mask.convCat", 3 * (c // 3), c)
    for i, dil in enumerate((4, 3, 2, 1), 1):
        pair(f"MSDilate.conv{i}", 4 * ngf, 4 * ngf, dil=(dil, dil))
    convs["MSDilate.convi"] = (16 * ngf, 4 * ngf, 1, 1)
    for name, cin, cout in (("up1", 4 * ngf, 2 * ngf), ("up2", 2 * ngf, ngf), ("up3", ngf, ngf)):
        pair(f"{name}.conv1", cin, cout)
        pair(f"{name}.convup", cout, cout, first=1)
        pair(f"{name}.ScaleModel1", cin, cout)
        pair(f"{name}.ShiftModel1", cin, cout)
    convs["up4.0"] = (ngf, ngf, 1, 1)
    pair("up4.2.Model", ngf, ngf)
    pair("up4.3.Model", ngf, ngf)
    convs["up4.4"] = (ngf, 3, 1, 1)
    return convs


def dictionary_shapes(ngf=64, entries=128):
    """{upstream buffer: shape} of the 18 generic dictionaries (eyes 40/20/10, mouth 55/27/13 at 512)."""
    ch = {256: ngf, 128: 2 * ngf, 64: 4 * ngf}
    size = {"le": {256: 40, 128: 20, 64: 10}, "re": {256: 40, 128: 20, 64: 10}, "mo": {256: 55, 128: 27, 64: 13}}
    shapes = {}
    for scale in SCALES:
        for part in PARTS:
            s = size[part][scale]
            shapes[f"{part}_{scale}_mem_key"] = (entries, ch[scale] // 4, s, s)
            shapes[f"{part}_{scale}_mem_value"] = (entries, ch[scale], s, s)
    return shapes


def state_shapes(ngf=64, entries=128):
    shapes = dict(dictionary_shapes(ngf, entries))
    for prefix, (cin, cout, _, _) in sn_modules(ngf).items():
        shapes[f"{prefix}.weight_orig"] = (cout, cin, 3, 3)
        shapes[f"{prefix}.bias"] = (cout,)
        shapes[f"{prefix}.weight_u"] = (cout,)
        shapes[f"{prefix}.weight_v"] = (cin * 9,)
    return shapes


def _unit(v):
    return v / np.linalg.norm(v)


# u shrunk (sigma / gain) for a face that is not flat grey, and for a visible specific-dictionary effect.
GAINS = {"up4.4": 8.0, "_Mask.convCat.2": 6.0}


def random_state_dict(ngf, entries, seed=0):
    """A random state dict: u/v near the top singular pair (perturbed, so the stored values matter)."""
    rng = np.random.default_rng(seed)
    sd = {}
    for name, shape in dictionary_shapes(ngf, entries).items():
        scale = math.sqrt(4.0 / np.prod(shape[1:])) if name.endswith("_key") else 1.0
        sd[name] = (scale * rng.standard_normal(shape)).astype(np.float32)
    for prefix, (cin, cout, _, _) in sn_modules(ngf).items():
        w = rng.standard_normal((cout, cin, 3, 3)) * math.sqrt(2.0 / (cin * 9))
        left, _, right = np.linalg.svd(w.reshape(cout, -1), full_matrices=False)
        u = _unit(left[:, 0] + 0.3 * rng.standard_normal(cout) / math.sqrt(cout))
        v = _unit(right[0] + 0.3 * rng.standard_normal(cin * 9) / math.sqrt(cin * 9))
        u = u / max([gain for suffix, gain in GAINS.items() if prefix.endswith(suffix)], default=1.0)
        sd[f"{prefix}.weight_orig"] = w.astype(np.float32)
        sd[f"{prefix}.bias"] = (0.1 * rng.standard_normal(cout)).astype(np.float32)
        sd[f"{prefix}.weight_u"], sd[f"{prefix}.weight_v"] = u.astype(np.float32), v.astype(np.float32)
    return sd


# ---------------------------------------------------------------- NumPy reference (NCHW, float64)

def ref_sn_weight(sd, prefix):
    w = sd[f"{prefix}.weight_orig"]
    sigma = sd[f"{prefix}.weight_u"] @ (w.reshape(w.shape[0], -1) @ sd[f"{prefix}.weight_v"])
    return w / sigma


def ref_conv(x, w, b, stride=1, dilation=1):
    """PyTorch Conv2d, padding dilation·(k−1)/2, as a sum over taps."""
    k = w.shape[-1]
    pad = dilation * (k - 1) // 2
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (x.shape[2] - dilation * (k - 1) - 1) // stride + 1
    ow = (x.shape[3] - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for a in range(k):
        for c in range(k):
            patch = x[:, :, a * dilation:a * dilation + stride * (oh - 1) + 1:stride,
                      c * dilation:c * dilation + stride * (ow - 1) + 1:stride]
            out += np.einsum("oi,nihw->nohw", w[:, :, a, c], patch, optimize=True)
    return out + b[None, :, None, None]


def ref_lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def ref_sn(sd, prefix, x, stride=1, dilation=1):
    return ref_conv(x, ref_sn_weight(sd, prefix), sd[f"{prefix}.bias"], stride, dilation)


def ref_pair(sd, prefix, x, stride=1, dil=(1, 1), first=0):
    return ref_sn(sd, f"{prefix}.{first + 2}", ref_lrelu(ref_sn(sd, f"{prefix}.{first}", x, stride, dil[0])),
                  1, dil[1])


def ref_resize_axis(x, out_len, axis):
    """PyTorch bilinear (align_corners False) along one axis, sample by sample."""
    in_len = x.shape[axis]
    pieces = []
    for i in range(out_len):
        src = max((i + 0.5) * in_len / out_len - 0.5, 0.0)
        i0 = int(math.floor(src))
        i1 = i0 + 1 if i0 < in_len - 1 else i0
        lam = src - i0
        pieces.append((1 - lam) * np.take(x, i0, axis=axis) + lam * np.take(x, i1, axis=axis))
    return np.stack(pieces, axis=axis)


def ref_resize(x, height, width):
    return ref_resize_axis(ref_resize_axis(x, height, 2), width, 3)


def ref_read(keys, values, query):
    """softmax over entries of (valid conv of query with each key) / sqrt(M), then Σ score · value."""
    sim = np.array([[np.sum(q * k) for k in keys] for q in query])  # [N, M]
    sim = sim / math.sqrt(len(keys))
    score = np.exp(sim - sim.max(axis=1, keepdims=True))
    score /= score.sum(axis=1, keepdims=True)
    return np.einsum("nm,mchw->nchw", score, values)


def ref_adain(content, style):
    def stats(x):
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        return flat.mean(axis=2)[..., None, None], np.sqrt(flat.var(axis=2, ddof=1) + 1e-5)[..., None, None]

    cm, cs = stats(content)
    sm, ss = stats(style)
    return (content - cm) / cs * ss + sm


CROP = {"le": 80, "re": 80, "mo": 110}
ROW = {"le": 0, "re": 1, "mo": 3}


def ref_extract(sd, enc, img, loc):
    """FeatureExtractor: features per scale and the component crops (upstream slices + interpolate)."""
    feats, x = {}, img
    for i, (scale, dil) in enumerate(zip(SCALES, ((5, 3), (3, 1), (1, 1)))):
        x = ref_pair(sd, f"{enc}.conv{2 * i + 1}", x, stride=2)
        x = x + ref_pair(sd, f"{enc}.res{2 * i + 1}.Res", x, dil=dil)
        x = ref_pair(sd, f"{enc}.conv{2 * i + 2}", x)
        x = x + ref_pair(sd, f"{enc}.res{2 * i + 2}.Res", x, dil=dil)
        feats[scale] = x
    crops = {}
    for scale in SCALES:
        for part in PARTS:
            size = CROP[part] // STRIDE[scale]
            pieces = []
            for n in range(len(img)):
                x1, y1, x2, y2 = (int(v) // STRIDE[scale] for v in loc[n, ROW[part]])
                pieces.append(ref_resize(feats[scale][n:n + 1, :, y1:y2, x1:x2], size, size))
            crops[f"{part}{scale}"] = np.concatenate(pieces)
    return feats, crops


def ref_styled_up(sd, prefix, x, style):
    out = ref_lrelu(ref_pair(sd, f"{prefix}.conv1", x))
    out = out * ref_pair(sd, f"{prefix}.ScaleModel1", style) + ref_pair(sd, f"{prefix}.ShiftModel1", style)
    out = ref_resize(out, 2 * out.shape[2], 2 * out.shape[3])
    return ref_pair(sd, f"{prefix}.convup", out, first=1)


def ref_reconstruct(sd, feats, crops, loc, mems):
    pasted = {}
    for scale in SCALES:
        f = feats[scale].copy()
        for part in PARTS:
            name = f"{part}{scale}"
            norm = ref_adain(mems[name], crops[name])
            final = ref_pair(sd, f"{part.upper()}_{scale}_Attention", norm - crops[name]) * norm + crops[name]
            for n in range(len(f)):
                x1, y1, x2, y2 = (int(v) // STRIDE[scale] for v in loc[n, ROW[part]])
                f[n, :, y1:y2, x1:x2] = ref_resize(final[n:n + 1], y2 - y1, x2 - x1)[0]
        pasted[scale] = f
    ms = feats[64]
    ms = ref_sn(sd, "MSDilate.convi", np.concatenate(
        [ref_pair(sd, f"MSDilate.conv{i}", ms, dil=(dl, dl)) for i, dl in enumerate((4, 3, 2, 1), 1)], axis=1)) + ms
    x = ref_styled_up(sd, "up1", ms, pasted[64])
    x = ref_styled_up(sd, "up2", x, pasted[128])
    x = ref_styled_up(sd, "up3", x, pasted[256])
    x = ref_lrelu(ref_sn(sd, "up4.0", x))
    for block in ("up4.2.Model", "up4.3.Model"):
        x = x + ref_pair(sd, block, x)
    return np.tanh(ref_sn(sd, "up4.4", x))


def ref_dmdnet(sd, lq, loc, refs=None, ref_locs=None):
    """Upstream forward: (generic, specific or None); NCHW [-1, 1] faces, boxes in face pixels."""
    feats, crops = ref_extract(sd, "E_lq", lq, loc)
    queries = {name: ref_pair(sd, f"E_lq.{name[:2].upper()}_{name[2:]}_Q.Query", crop) for name, crop in crops.items()}
    generic = {name: ref_read(sd[f"{name[:2]}_{name[2:]}_mem_key"], sd[f"{name[:2]}_{name[2:]}_mem_value"], q)
               for name, q in queries.items()}
    out_g = ref_reconstruct(sd, feats, crops, loc, generic)
    if refs is None:
        return out_g, None
    _, ref_crops = ref_extract(sd, "E_hq", refs, ref_locs)
    blended = {}
    for name, crop in ref_crops.items():
        upper = f"{name[:2].upper()}_{name[2:]}"
        key, value = ref_pair(sd, f"{upper}_KV.Key", crop), ref_pair(sd, f"{upper}_KV.Value", crop)
        read_s = ref_read(key, value, queries[name])
        mask = ref_pair(sd, f"{upper}_Mask.convCat", np.concatenate(
            [ref_pair(sd, f"{upper}_Mask.conv{i}", x) for i, x in zip((1, 2, 3), (crops[name], read_s, generic[name]))],
            axis=1))
        blended[name] = mask * read_s + (1 - mask) * generic[name]
    return out_g, ref_reconstruct(sd, feats, crops, loc, blended)


def nhwc(x):
    return np.transpose(x, (0, 2, 3, 1))


def nchw(x):
    return np.transpose(x, (0, 3, 1, 2))


def smooth_faces(n, seed, size=512):
    """Smooth random [-1, 1] NCHW faces (bilinear growth of 8x8 noise)."""
    small = np.random.default_rng(seed).uniform(-1, 1, (n, 3, 8, 8))
    return ref_resize(small, size, size)


# ---------------------------------------------------------------- the reference against hand values

def test_reference_blocks_hand_computed():
    row = np.arange(10.0).reshape(1, 1, 1, 10)
    np.testing.assert_allclose(ref_resize_axis(row[..., 2:6], 2, 3).ravel(), [2.5, 4.5])
    np.testing.assert_allclose(ref_resize_axis(row[..., 2:6], 8, 3).ravel(),
                               [2, 2.25, 2.75, 3.25, 3.75, 4.25, 4.75, 5])
    # Read-out: similarities (0, ln 3 · sqrt 2) / sqrt 2 -> softmax (1/4, 3/4) -> 0.25·4 + 0.75·8.
    keys = np.array([0.0, math.log(3) * math.sqrt(2)]).reshape(2, 1, 1, 1)
    values = np.array([4.0, 8.0]).reshape(2, 1, 1, 1)
    assert ref_read(keys, values, np.ones((1, 1, 1, 1))).item() == pytest.approx(7.0)
    # AdaIN, unbiased variances 5/3 and 100/3: ratio sqrt(20) around the style mean 15.
    content = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    style = np.array([10.0, 10.0, 20.0, 20.0]).reshape(1, 1, 2, 2)
    np.testing.assert_allclose(ref_adain(content, style).ravel(), 15 + np.array([-1.5, -0.5, 0.5, 1.5]) * 20**0.5,
                               rtol=1e-5)


# ---------------------------------------------------------------- the port's blocks

def test_spectral_norm_uses_the_stored_u_and_v():
    layer = d.SNConv2d(1, 2, kernel_size=1)
    layer.weight_orig.assign(np.array([3.0, 4.0], np.float32).reshape(1, 1, 1, 2))
    layer.bias.assign([0.5, -0.5])
    layer.weight_v.assign([1.0])
    x = np.full((1, 1, 1, 1), 10.0, np.float32)
    layer.weight_u.assign([0.6, 0.8])  # the top singular pair: sigma = 5, the true spectral norm
    np.testing.assert_allclose(layer(x).numpy().ravel(), [6.5, 7.5], rtol=1e-6)
    layer.weight_u.assign([1.0, 0.0])  # stale u: sigma = 3 (a power iteration would find 5 again)
    np.testing.assert_allclose(layer(x).numpy().ravel(), [10.5, 12.8333333], rtol=1e-6)


@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 3)])
def test_spectral_norm_conv_matches_reference(stride, dilation):
    rng = np.random.default_rng(stride * 10 + dilation)
    sd = {"c.weight_orig": rng.standard_normal((4, 3, 3, 3)), "c.bias": rng.standard_normal(4),
          "c.weight_u": _unit(rng.standard_normal(4)), "c.weight_v": _unit(rng.standard_normal(27))}
    layer = d.SNConv2d(3, 4, stride=stride, dilation=dilation)
    layer.weight_orig.assign(sd["c.weight_orig"].transpose(2, 3, 1, 0).astype(np.float32))
    for name in ("bias", "weight_u", "weight_v"):
        getattr(layer, name).assign(sd[f"c.{name}"].astype(np.float32))
    x = rng.standard_normal((2, 3, 12, 12))
    got = layer(nhwc(x).astype(np.float32)).numpy()
    np.testing.assert_allclose(nchw(got), ref_sn(sd, "c", x, stride, dilation), rtol=1e-4, atol=1e-4)


def test_crop_and_paste_hand_values():
    # f[y, x] = 10·y + x: a bilinear resample of a linear ramp is exact away from the clamped borders.
    yy, xx = np.mgrid[0:16, 0:16]
    feature = (10.0 * yy + xx).astype(np.float32)[None, :, :, None]
    box = tuple(tf.constant([v]) for v in (2, 4, 6, 8))  # x 2..5, y 4..7
    crop = d.crop_part(tf.constant(feature), box, 2).numpy()[0, :, :, 0]
    np.testing.assert_allclose(crop, [[47.5, 49.5], [67.5, 69.5]], rtol=1e-6)
    part = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)[None, :, :, None]
    pasted = d.paste_part(tf.zeros((1, 8, 8, 1)), tf.constant(part), tuple(tf.constant([v]) for v in (2, 4, 6, 8)))
    pasted = pasted.numpy()[0, :, :, 0]
    expected = np.zeros((8, 8))
    ramp = np.array([1.0, 1.25, 1.75, 2.0])  # 2 -> 4 samples: src -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    expected[4:8, 2:6] = ramp[None, :] + 2 * (ramp[:, None] - 1)
    np.testing.assert_allclose(pasted, expected, rtol=1e-6)


def test_crop_paste_and_upsampling_match_the_reference_per_sample():
    rng = np.random.default_rng(5)
    feature = rng.standard_normal((2, 3, 20, 24))
    boxes = np.array([[3, 5, 14, 11], [0, 1, 24, 20]])  # x1, y1, x2, y2 per sample (the second: whole map)
    box = tuple(tf.constant(boxes[:, i], tf.int32) for i in range(4))
    got = nchw(d.crop_part(tf.constant(nhwc(feature), tf.float32), box, 7).numpy())
    for n, (x1, y1, x2, y2) in enumerate(boxes):
        np.testing.assert_allclose(got[n], ref_resize(feature[n:n + 1, :, y1:y2, x1:x2], 7, 7)[0], atol=1e-5)
    part = rng.standard_normal((2, 3, 7, 7))
    got = nchw(d.paste_part(tf.constant(nhwc(feature), tf.float32), tf.constant(nhwc(part), tf.float32), box).numpy())
    for n, (x1, y1, x2, y2) in enumerate(boxes):
        expected = feature[n].copy()
        expected[:, y1:y2, x1:x2] = ref_resize(part[n:n + 1], y2 - y1, x2 - x1)[0]
        np.testing.assert_allclose(got[n], expected, atol=1e-5)
    np.testing.assert_allclose(nchw(d.upsample2(nhwc(feature).astype(np.float32)).numpy()),
                               ref_resize(feature, 40, 48), atol=1e-5)


def test_read_out_and_adain_hand_values():
    keys = np.array([0.0, math.log(3) * math.sqrt(2)], np.float32).reshape(2, 1, 1, 1)
    values = np.array([4.0, 8.0], np.float32).reshape(2, 1, 1, 1)
    assert d.read_dictionary(np.ones((1, 1, 1, 1), np.float32), keys, values).numpy().item() == pytest.approx(7.0)
    content = np.array([1.0, 2.0, 3.0, 4.0], np.float32).reshape(1, 2, 2, 1)
    style = np.array([10.0, 10.0, 20.0, 20.0], np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(d.adain(content, style).numpy().ravel(),
                               15 + np.array([-1.5, -0.5, 0.5, 1.5]) * 20**0.5, rtol=1e-5)


def test_read_out_matches_reference_with_many_entries():
    rng = np.random.default_rng(6)
    keys, values = rng.standard_normal((9, 4, 5, 5)) * 0.2, rng.standard_normal((9, 6, 5, 5))
    query = rng.standard_normal((2, 4, 5, 5))
    got = d.read_dictionary(*(nhwc(a).astype(np.float32) for a in (query, keys, values))).numpy()
    np.testing.assert_allclose(nchw(got), ref_read(keys, values, query), rtol=1e-4, atol=1e-5)


def test_builder_rejects_bad_configurations():
    with pytest.raises(ValueError, match="multiple of 4"):
        d.dmdnet(ngf=6)
    with pytest.raises(ValueError, match="part sizes >= 8"):
        d.dmdnet(ngf=4, entries=2, part_sizes=(4, 110))


# ---------------------------------------------------------------- the full-size table, end to end through a .pth

def test_full_size_key_table_matches_upstream():
    shapes = torch_shapes(d.dmdnet())
    assert len(shapes) == 1014 and sum(math.prod(s) for s in shapes.values()) == 150_834_266  # upstream DMDNet's counts (docs/upstream.md)
    assert shapes == state_shapes()
    assert shapes["le_256_mem_key"] == (128, 16, 40, 40) and shapes["mo_64_mem_value"] == (128, 256, 13, 13)
    assert shapes["E_lq.conv1.0.weight_v"] == (27,) and shapes["MSDilate.convi.weight_orig"] == (256, 1024, 3, 3)
    assert sum(k.endswith(".weight_orig") for k in shapes) == 249


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(random tiny state dict, the model loaded from its .pth)."""
    sd = random_state_dict(**TINY, seed=1)
    path = tmp_path_factory.mktemp("dmdnet") / "tiny.pth"
    pth_writer.save(sd, path)
    return sd, load_dmdnet(path)[0]


def test_generic_and_specific_from_pth_match_reference(tiny):
    sd, model = tiny
    sd64 = {k: v.astype(np.float64) for k, v in sd.items()}
    lq = smooth_faces(1, seed=2)
    refs = smooth_faces(2, seed=3)
    ref_locs = np.stack([BOXES, BOXES + [[4, -3, 4, -3]] * 4])  # two references, shifted boxes
    expected_g, expected_s = ref_dmdnet(sd64, lq, BOXES[None], refs, ref_locs)
    memory = model.memorize(nhwc(refs).astype(np.float32), ref_locs.astype(np.int32))
    got_g, got_s = model.restore(nhwc(lq).astype(np.float32), BOXES[None].astype(np.int32), memory)
    effect = expected_s - expected_g
    assert expected_g.std() > 0.3 and np.abs(effect).max() > 3e-3  # a face, and a specific-dictionary effect
    np.testing.assert_allclose(nchw(got_g.numpy()), expected_g, atol=2e-5)
    np.testing.assert_allclose(nchw(got_s.numpy()), expected_s, atol=2e-5)
    np.testing.assert_allclose(nchw(got_s.numpy() - got_g.numpy()), effect, atol=1e-5)
    np.testing.assert_allclose(nchw(model(nhwc(lq).astype(np.float32), BOXES[None]).numpy()), expected_g, atol=2e-5)
