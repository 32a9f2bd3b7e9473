"""DMDNet (Li et al., "Learning Dual Memory Dictionaries for Blind Face Restoration", TPAMI 2022), NHWC.

DMDNet restores an aligned 512² face. An encoder (``E_lq``) extracts features at 1/2, 1/4 and 1/8 of
the face ("256", "128", "64" for a 512 face); the left eye, right eye and mouth are cut out of every
feature map at boxes derived from 68 landmarks and resized to fixed sizes. Each crop queries a
dictionary: the *generic* dictionaries are weights (128 learned key/value pairs per component and
scale); a *specific* dictionary is computed from reference photos of the same person by a second
encoder (``E_hq``) and key/value heads. The read-out (softmax of query·key over the entries, scaled by
1/sqrt(#entries), times the values) is renormalised to the crop's statistics (AdaIN), weighted by an
attention block, pasted back into the feature maps, and a decoder (multi-scale dilated block, three
styled upsampling blocks, two residual blocks, tanh) returns the face. With references, a mask block
blends the specific and generic read-outs before the same steps.

One Keras layer per upstream leaf module: a convolution's layer name is its upstream module path, so
``f"{layer.name}.{variable.name}"`` is its key in the upstream ``.pth`` (``E_lq.res1.Res.0.weight_orig``);
a generic dictionary layer ``le_256_mem`` holds ``key`` and ``value`` (upstream ``le_256_mem_key``,
``le_256_mem_value``). Every convolution is spectrally normalised and evaluated as upstream does in eval
mode: ``weight_orig / (u · (W v))`` with the stored ``u`` and ``v`` (no power iteration). Weight layouts
are Keras' own; ``metaf2n_tf.weights.dmdnet`` converts.

Conventions: faces RGB in [-1, 1] (``(x / 255 - 0.5) / 0.5``), [N, H, W, 3] with H and W multiples of 8
(512 for the released model); ``loc`` [N, 4, 4] integer boxes ``[x1, y1, x2, y2]`` (end exclusive, in
face pixels) of the left eye, right eye, nose and mouth; output RGB in [-1, 1]. Boxes must lie inside
the face and stay non-empty at 1/8 (``metaf2n_tf.faces.dmdnet`` derives and checks them).
"""
import keras
import tensorflow as tf

from metaf2n_tf.models.spectral import unit_normal

LRELU_SLOPE = 0.2
ADAIN_EPS = 1e-5
KEY_SCALE = 4  # key channels = feature channels / 4
PARTS = ("le", "re", "mo")  # left eye, right eye, mouth: the components with dictionaries
LOC_ROWS = {"le": 0, "re": 1, "mo": 3}  # rows of ``loc``; row 2 (nose) is never used by the network
SCALES = (256, 128, 64)  # feature resolutions of a 512 face (upstream names)
STRIDES = {256: 2, 128: 4, 64: 8}
PART_SIZES = (80, 110)  # eye and mouth crop sides in face pixels: crops 40/20/10 and 55/27/13
ENTRIES = 128  # generic dictionary entries per component and scale
NGF = 64


def scale_channels(ngf):
    """Feature channels at each scale: ngf, 2·ngf, 4·ngf for 256, 128, 64."""
    return {256: ngf, 128: 2 * ngf, 64: 4 * ngf}


def crop_size(part, scale, part_sizes=PART_SIZES):
    """Side of a component crop at a scale: ``part_size // stride`` (eyes 40/20/10, mouth 55/27/13)."""
    side = part_sizes[1] if part == "mo" else part_sizes[0]
    return side // STRIDES[scale]


def lrelu(x):
    return tf.nn.leaky_relu(x, alpha=LRELU_SLOPE)


# ---------------------------------------------------------------- distinctive operations

def bilinear_taps(dst, in_len, out_len):
    """Source taps of a bilinear resize from ``in_len`` to ``out_len`` samples (align_corners False).

    PyTorch's rule: src = (dst + 0.5) · in/out − 0.5, clamped at 0; taps floor(src) and the next one
    (clamped to the last sample), weight of the second = src − floor(src). Arguments broadcast
    (float32 tensors); returns (first tap, second tap) as int32 and the second tap's weight.
    """
    src = tf.maximum((dst + 0.5) * (in_len / out_len) - 0.5, 0.0)
    first = tf.floor(src)
    second = tf.minimum(first + 1.0, in_len - 1.0)
    return tf.cast(first, tf.int32), tf.cast(second, tf.int32), src - first


def crop_matrix(start, stop, full, size):
    """[N, size, full] matrices: row i resamples samples ``start:stop`` of a length-``full`` axis at i.

    ``start``, ``stop`` [N] int32 (per sample). Applied to both axes this is upstream's
    ``interpolate(f[..., y1:y2, x1:x2], (size, size), bilinear)`` for every sample at once.
    """
    length = tf.cast(stop - start, tf.float32)[:, None]
    dst = tf.range(size, dtype=tf.float32)[None, :]
    first, second, weight = bilinear_taps(dst, length, float(size))
    start = start[:, None]
    return (tf.one_hot(start + first, full) * (1.0 - weight)[..., None]
            + tf.one_hot(start + second, full) * weight[..., None])


def paste_matrix(start, stop, full, size):
    """[N, full, size] matrices resizing ``size`` samples to ``start:stop`` of a ``full`` axis, and the
    [N, full] mask of that range (rows outside it are zero). The inverse placement of :func:`crop_matrix`."""
    length = tf.cast(stop - start, tf.float32)[:, None]
    offset = tf.range(full)[None, :] - start[:, None]
    first, second, weight = bilinear_taps(tf.cast(offset, tf.float32), float(size), length)
    inside = (offset >= 0) & (offset < stop[:, None] - start[:, None])
    rows = tf.one_hot(first, size) * (1.0 - weight)[..., None] + tf.one_hot(second, size) * weight[..., None]
    return rows * tf.cast(inside, tf.float32)[..., None], inside


def scaled_boxes(loc, part, scale):
    """``loc`` [N, 4, 4] -> the component's box on the feature map of ``scale``: x1, y1, x2, y2 [N] int32.

    Upstream truncates the float boxes to int, then floor-divides each coordinate by the stride.
    """
    box = tf.math.floordiv(tf.cast(loc[:, LOC_ROWS[part], :], tf.int32), STRIDES[scale])
    return box[:, 0], box[:, 1], box[:, 2], box[:, 3]


def crop_part(feature, box, size):
    """Cuts ``box`` out of ``feature`` [N, H, W, C] and resizes it bilinearly to [N, size, size, C]."""
    x1, y1, x2, y2 = box
    shape = tf.shape(feature)
    rows = crop_matrix(y1, y2, shape[1], size)
    cols = crop_matrix(x1, x2, shape[2], size)
    out = tf.einsum("nsh,nhwc->nswc", rows, feature)
    return tf.einsum("ntw,nswc->nstc", cols, out)


def paste_part(feature, part, box):
    """``feature`` with ``part`` [N, S, S, C] resized bilinearly into ``box`` (upstream's slice assignment)."""
    x1, y1, x2, y2 = box
    shape = tf.shape(feature)
    size = part.shape[1]
    rows, rows_in = paste_matrix(y1, y2, shape[1], size)
    cols, cols_in = paste_matrix(x1, x2, shape[2], size)
    pasted = tf.einsum("nwt,nstc->nswc", cols, part)
    pasted = tf.einsum("nhs,nswc->nhwc", rows, pasted)
    inside = (rows_in[:, :, None] & cols_in[:, None, :])[..., None]
    return tf.where(inside, pasted, feature)


def read_dictionary(query, keys, values):
    """Dictionary read-out: ``softmax(<query, key_m> / sqrt(M))`` over the M entries, times the values.

    ``query`` [N, S, S, Ck]; ``keys`` [M, S, S, Ck]; ``values`` [M, S, S, Cv]. The similarity is the
    valid convolution of the query with each key (one number per entry, as the crop and key sizes agree).
    """
    entries = tf.cast(tf.shape(keys)[0], query.dtype)
    similarity = tf.einsum("nhwc,mhwc->nm", query, keys)
    score = tf.nn.softmax(similarity / tf.sqrt(entries), axis=-1)
    return tf.einsum("nm,mhwc->nhwc", score, values)


def mean_std(x):
    """Per sample and channel: spatial mean and sqrt(unbiased variance + 1e-5), [N, 1, 1, C] each."""
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    count = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], x.dtype)
    var = tf.reduce_sum(tf.square(x - mean), axis=[1, 2], keepdims=True) / (count - 1.0)
    return mean, tf.sqrt(var + ADAIN_EPS)


def adain(content, style):
    """Adaptive instance normalisation: ``content`` renormalised to ``style``'s mean and std."""
    content_mean, content_std = mean_std(content)
    style_mean, style_std = mean_std(style)
    return (content - content_mean) / content_std * style_std + style_mean


def upsample2(x):
    """x2 bilinear upsampling (PyTorch ``Upsample(scale_factor=2, mode='bilinear')``, align_corners False)."""
    shape = tf.shape(x)
    return tf.image.resize(x, [2 * shape[1], 2 * shape[2]], method="bilinear")


# ---------------------------------------------------------------- layers

class SNConv2d(keras.layers.Layer):
    """``spectral_norm(Conv2d)`` in eval mode: the kernel is ``weight_orig / sigma`` with the stored u, v.

    sigma = u · (W v), W = ``weight_orig`` as upstream flattens it ([out, in·k·k], in-major). Zero
    padding ``dilation · (k − 1) / 2`` on both sides, as PyTorch pads (explicit, not TF 'SAME').
    Weights: ``weight_orig`` [k, k, in, out] (HWIO), ``bias`` [out]; buffers ``weight_u`` [out],
    ``weight_v`` [in·k·k] (upstream order).
    """

    def __init__(self, in_channels, filters, kernel_size=3, stride=1, dilation=1, **kwargs):
        super().__init__(**kwargs)
        k = kernel_size
        self.filters, self.stride, self.dilation = filters, stride, dilation
        self.padding = dilation * (k - 1) // 2
        self.weight_orig = self.add_weight(name="weight_orig", shape=(k, k, in_channels, filters),
                                           initializer="he_uniform")
        self.bias = self.add_weight(name="bias", shape=(filters,), initializer="zeros")
        self.weight_u = self.add_weight(name="weight_u", shape=(filters,), initializer=unit_normal, trainable=False)
        self.weight_v = self.add_weight(name="weight_v", shape=(in_channels * k * k,), initializer=unit_normal,
                                        trainable=False)
        self.built = True

    def sigma(self):
        """The spectral norm estimate upstream divides by: u · (W v)."""
        matrix = tf.reshape(tf.transpose(self.weight_orig, [3, 2, 0, 1]), [self.filters, -1])
        return tf.tensordot(self.weight_u, tf.linalg.matvec(matrix, self.weight_v), 1)

    def call(self, x):
        p = self.padding
        if p:
            x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        kernel = self.weight_orig / self.sigma()
        return tf.nn.conv2d(x, kernel, self.stride, "VALID", dilations=self.dilation) + self.bias


class ConvPair(keras.layers.Layer):
    """``Sequential(SN conv, LeakyReLU(0.2), SN conv)``: upstream's recurring block.

    The convolutions are ``{prefix}.{first}`` (in -> out, ``stride``) and ``{prefix}.{first + 2}``
    (out -> out); ``dilations`` gives each one's dilation. ``first=1`` is the layout with an
    ``Upsample`` in front (the layer itself does not upsample).
    """

    def __init__(self, prefix, in_channels, out_channels, stride=1, dilations=(1, 1), first=0, **kwargs):
        super().__init__(name=prefix, **kwargs)
        self.conv_a = SNConv2d(in_channels, out_channels, stride=stride, dilation=dilations[0],
                               name=f"{prefix}.{first}")
        self.conv_b = SNConv2d(out_channels, out_channels, dilation=dilations[1], name=f"{prefix}.{first + 2}")
        self.built = True

    def call(self, x):
        return self.conv_b(lrelu(self.conv_a(x)))


class ResidualPair(ConvPair):
    """``x + ConvPair(x)`` (upstream ``DilateResBlock`` / ``UpResBlock``, channels unchanged)."""

    def __init__(self, prefix, channels, dilations=(1, 1), **kwargs):
        super().__init__(prefix, channels, channels, dilations=dilations, **kwargs)

    def call(self, x):
        return x + super().call(x)


class MemoryDictionary(keras.layers.Layer):
    """A generic dictionary (upstream buffers ``{name}_key`` [M, Ck, S, S], ``{name}_value`` [M, Cv, S, S]).

    Stored NHWC: ``key`` [M, S, S, Ck], ``value`` [M, S, S, Cv]; not trainable (buffers upstream).
    """

    def __init__(self, entries, size, key_channels, value_channels, **kwargs):
        super().__init__(**kwargs)
        normal = keras.initializers.RandomNormal(stddev=1.0)
        self.key = self.add_weight(name="key", shape=(entries, size, size, key_channels), initializer=normal,
                                   trainable=False)
        self.value = self.add_weight(name="value", shape=(entries, size, size, value_channels),
                                     initializer=normal, trainable=False)
        self.built = True


class FeatureExtractor(keras.layers.Layer):
    """Upstream ``FeatureExtractor`` (``E_lq``, ``E_hq``): three stages of (conv pair, dilated residual
    pair) x 2, each stage halving the resolution; then the component crops and their query heads."""

    DILATIONS = {256: (5, 3), 128: (3, 1), 64: (1, 1)}

    def __init__(self, prefix, ngf, part_sizes, **kwargs):
        super().__init__(name=prefix, **kwargs)
        channels = scale_channels(ngf)
        self.part_sizes = tuple(part_sizes)
        self.stages = {}
        in_ch = 3
        for i, scale in enumerate(SCALES):
            ch, dil = channels[scale], self.DILATIONS[scale]
            self.stages[scale] = [
                ConvPair(f"{prefix}.conv{2 * i + 1}", in_ch, ch, stride=2),
                ResidualPair(f"{prefix}.res{2 * i + 1}.Res", ch, dil),
                ConvPair(f"{prefix}.conv{2 * i + 2}", ch, ch),
                ResidualPair(f"{prefix}.res{2 * i + 2}.Res", ch, dil),
            ]
            in_ch = ch
        self.queries = {f"{part}{scale}": ConvPair(f"{prefix}.{part.upper()}_{scale}_Q.Query", channels[scale],
                                                   channels[scale] // KEY_SCALE)
                        for scale in SCALES for part in PARTS}
        self.built = True

    def features(self, image):
        """{scale: feature map} at 1/2, 1/4, 1/8 of the image."""
        out, x = {}, image
        for scale in SCALES:
            for layer in self.stages[scale]:
                x = layer(x)
            out[scale] = x
        return out

    def crops(self, features, loc):
        """{"le256": crop, ...}: every component cut at its box and resized to its fixed size."""
        return {f"{part}{scale}": crop_part(features[scale], scaled_boxes(loc, part, scale),
                                            crop_size(part, scale, self.part_sizes))
                for scale in SCALES for part in PARTS}

    def queries_of(self, crops):
        """{"le256": query, ...}: the query head of every crop."""
        return {name: self.queries[name](crop) for name, crop in crops.items()}


class KeyValue(keras.layers.Layer):
    """Key and value heads of the specific dictionary: ``{prefix}.Key`` (C -> C/4), ``{prefix}.Value`` (C -> C)."""

    def __init__(self, prefix, channels, **kwargs):
        super().__init__(name=prefix, **kwargs)
        self.key = ConvPair(f"{prefix}.Key", channels, channels // KEY_SCALE)
        self.value = ConvPair(f"{prefix}.Value", channels, channels)
        self.built = True

    def call(self, x):
        return self.key(x), self.value(x)


class MaskAttention(keras.layers.Layer):
    """Blend mask of specific vs generic read-outs: three C -> C//3 pairs on (crop, specific, generic),
    concatenated, and a 3·(C//3) -> C pair (no squashing: the mask is used as it comes)."""

    def __init__(self, prefix, channels, **kwargs):
        super().__init__(name=prefix, **kwargs)
        third = channels // 3
        self.branches = [ConvPair(f"{prefix}.conv{i}", channels, third) for i in (1, 2, 3)]
        self.merge = ConvPair(f"{prefix}.convCat", 3 * third, channels)
        self.built = True

    def call(self, crop, specific, generic):
        parts = [branch(x) for branch, x in zip(self.branches, (crop, specific, generic))]
        return self.merge(tf.concat(parts, axis=-1))


class MSDilateBlock(keras.layers.Layer):
    """Four dilated conv pairs (dilations 4, 3, 2, 1) in parallel, concatenated, fused by ``convi``, + x."""

    def __init__(self, prefix, channels, dilations=(4, 3, 2, 1), **kwargs):
        super().__init__(name=prefix, **kwargs)
        self.branches = [ConvPair(f"{prefix}.conv{i}", channels, channels, dilations=(d, d))
                         for i, d in enumerate(dilations, 1)]
        self.fuse = SNConv2d(4 * channels, channels, name=f"{prefix}.convi")
        self.built = True

    def call(self, x):
        return self.fuse(tf.concat([branch(x) for branch in self.branches], axis=-1)) + x


class StyledUpBlock(keras.layers.Layer):
    """Decoder block: conv pair and LeakyReLU, then ``· scale(style) + shift(style)`` (both conv pairs of
    the pasted feature map), then x2 bilinear upsampling and a conv pair (``convup``). No noise at inference."""

    def __init__(self, prefix, in_channels, out_channels, **kwargs):
        super().__init__(name=prefix, **kwargs)
        self.conv1 = ConvPair(f"{prefix}.conv1", in_channels, out_channels)
        self.scale = ConvPair(f"{prefix}.ScaleModel1", in_channels, out_channels)
        self.shift = ConvPair(f"{prefix}.ShiftModel1", in_channels, out_channels)
        self.convup = ConvPair(f"{prefix}.convup", out_channels, out_channels, first=1)
        self.built = True

    def call(self, x, style):
        x = lrelu(self.conv1(x)) * self.scale(style) + self.shift(style)
        return self.convup(upsample2(x))


class OutputBlock(keras.layers.Layer):
    """``up4``: SN conv, LeakyReLU, two residual pairs, SN conv to RGB, tanh."""

    def __init__(self, prefix, ngf, **kwargs):
        super().__init__(name=prefix, **kwargs)
        self.conv_in = SNConv2d(ngf, ngf, name=f"{prefix}.0")
        self.res = [ResidualPair(f"{prefix}.{i}.Model", ngf) for i in (2, 3)]
        self.conv_out = SNConv2d(ngf, 3, name=f"{prefix}.4")
        self.built = True

    def call(self, x):
        x = lrelu(self.conv_in(x))
        for block in self.res:
            x = block(x)
        return tf.tanh(self.conv_out(x))


# ---------------------------------------------------------------- the generator

class DMDNet(keras.Model):
    """The DMDNet generator with its generic dictionaries; randomly initialised (load with
    ``metaf2n_tf.weights.dmdnet``).

    ``model(lq, loc)`` is generic restoration. ``model.restore(lq, loc, specific)`` returns (generic,
    specific-or-None); ``model.memorize(refs, ref_locs)`` builds the specific dictionary of references.

    Args:
        ngf: channels at 1/2 resolution (64 released); 2·ngf and 4·ngf at 1/4 and 1/8.
        entries: generic dictionary entries per component and scale (128 released).
        part_sizes: (eye, mouth) crop side in face pixels (80, 110 released).
    """

    def __init__(self, ngf=NGF, entries=ENTRIES, part_sizes=PART_SIZES, name="DMDNet", **kwargs):
        super().__init__(name=name, **kwargs)
        if ngf < KEY_SCALE or ngf % KEY_SCALE:
            raise ValueError(f"ngf must be a positive multiple of {KEY_SCALE}, got {ngf}")
        if entries < 1 or min(s // STRIDES[64] for s in part_sizes) < 1:
            raise ValueError(f"need entries >= 1 and part sizes >= 8, got {entries} and {tuple(part_sizes)}")
        self.ngf, self.entries, self.part_sizes = ngf, entries, tuple(part_sizes)
        channels = scale_channels(ngf)
        self.E_lq = FeatureExtractor("E_lq", ngf, part_sizes)
        self.E_hq = FeatureExtractor("E_hq", ngf, part_sizes)
        self.dictionaries, self.key_values, self.attentions, self.masks = {}, {}, {}, {}
        for scale in SCALES:
            ch = channels[scale]
            for part in PARTS:
                name, upper = f"{part}{scale}", f"{part.upper()}_{scale}"
                self.dictionaries[name] = MemoryDictionary(entries, crop_size(part, scale, part_sizes),
                                                           ch // KEY_SCALE, ch, name=f"{part}_{scale}_mem")
                self.key_values[name] = KeyValue(f"{upper}_KV", ch)
                self.attentions[name] = ConvPair(f"{upper}_Attention", ch, ch)
                self.masks[name] = MaskAttention(f"{upper}_Mask", ch)
        self.ms_dilate = MSDilateBlock("MSDilate", 4 * ngf)
        self.up = [StyledUpBlock("up1", 4 * ngf, 2 * ngf), StyledUpBlock("up2", 2 * ngf, ngf),
                   StyledUpBlock("up3", ngf, ngf)]
        self.up4 = OutputBlock("up4", ngf)
        self.built = True

    def call(self, lq, loc):
        return self.restore(lq, loc)[0]

    def restore(self, lq, loc, specific=None):
        """(generic result, specific result or None) for faces ``lq`` with component boxes ``loc``.

        ``specific``: the dictionary of :meth:`memorize` ({"le256_key": [M, S, S, Ck], "le256_value": ...}).
        """
        features = self.E_lq.features(lq)
        crops = self.E_lq.crops(features, loc)
        queries = self.E_lq.queries_of(crops)
        generic_reads = {name: read_dictionary(queries[name], d.key, d.value) for name, d in self.dictionaries.items()}
        generic = self.reconstruct(features, crops, loc, generic_reads)
        if specific is None:
            return generic, None
        blended = {}
        for name, read_g in generic_reads.items():
            read_s = read_dictionary(queries[name], specific[f"{name}_key"], specific[f"{name}_value"])
            mask = self.masks[name](crops[name], read_s, read_g)
            blended[name] = mask * read_s + (1.0 - mask) * read_g
        return generic, self.reconstruct(features, crops, loc, blended)

    def reconstruct(self, features, crops, loc, reads):
        """AdaIN of each read-out to its crop, attention, paste into the features, decode to RGB."""
        pasted = {}
        for scale in SCALES:
            feature = features[scale]
            for part in PARTS:
                name = f"{part}{scale}"
                normed = adain(reads[name], crops[name])
                final = self.attentions[name](normed - crops[name]) * normed + crops[name]
                feature = paste_part(feature, final, scaled_boxes(loc, part, scale))
            pasted[scale] = feature
        x = self.ms_dilate(features[64])
        for block, scale in zip(self.up, SCALES[::-1]):
            x = block(x, pasted[scale])
        return self.up4(x)

    def memorize(self, refs, ref_locs):
        """The specific dictionary of reference faces ``refs`` [M, H, W, 3] with boxes ``ref_locs`` [M, 4, 4]:
        {"le256_key": [M, S, S, Ck], "le256_value": [M, S, S, C], ...} (upstream ``generate_specific_dictionary``)."""
        crops = self.E_hq.crops(self.E_hq.features(refs), ref_locs)
        out = {}
        for name, crop in crops.items():
            out[f"{name}_key"], out[f"{name}_value"] = self.key_values[name](crop)
        return out


def dmdnet(ngf=NGF, entries=ENTRIES, part_sizes=PART_SIZES, name="DMDNet"):
    """Builds :class:`DMDNet` (random weights). Defaults are the released model: 1014 state entries."""
    return DMDNet(ngf=ngf, entries=entries, part_sizes=part_sizes, name=name)

