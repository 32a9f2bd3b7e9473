"""RRDBNet x4, the SR model of Real-ESRGAN x4plus and MetaF2N, as a Keras functional model.

Layer names are the upstream weight keys with '.' replaced by '_':
``body.3.rdb2.conv5`` (PyTorch) <-> ``MODEL/body/3/rdb2/conv5`` (MetaF2N TF1) <-> layer ``body_3_rdb2_conv5``.
``metaf2n_tf.weights.names`` translates between the three.
"""
import keras


def _conv(filters, name):
    # 3x3, stride 1, 'same' zero padding == PyTorch padding=1.
    return keras.layers.Conv2D(filters, 3, padding="same", name=name)


def _lrelu(name):
    return keras.layers.LeakyReLU(negative_slope=0.2, name=name)


def _rdb(x, prefix, num_grow_ch):
    """Residual dense block: five densely connected convs, output 0.2 * x5 + x."""
    feats = [x]
    for k in range(1, 5):
        inp = feats[0] if k == 1 else keras.layers.Concatenate(name=f"{prefix}_cat{k}")(feats)
        feats.append(_lrelu(f"{prefix}_lrelu{k}")(_conv(num_grow_ch, f"{prefix}_conv{k}")(inp)))
    x5 = _conv(x.shape[-1], f"{prefix}_conv5")(keras.layers.Concatenate(name=f"{prefix}_cat5")(feats))
    return x5 * 0.2 + x


def rrdbnet(num_block=23, num_feat=64, num_grow_ch=32, name="MODEL"):
    """Builds RRDBNet x4 for RGB float input in [0, 1], NHWC, any spatial size.

    Args:
        num_block: number of RRDB blocks (23 in Real-ESRGAN x4plus; 1 for quick tests).
        num_feat: trunk channels.
        num_grow_ch: growth channels inside each residual dense block.
        name: model name; "MODEL" is MetaF2N's variable scope.

    Returns:
        A ``keras.Model`` mapping [N, H, W, 3] to [N, 4H, 4W, 3]; the output is linear (not clamped).
    """
    lq = keras.Input((None, None, 3), name="lq")
    feat = _conv(num_feat, "conv_first")(lq)
    body = feat
    for b in range(num_block):
        rrdb_in = body
        for r in range(1, 4):
            body = _rdb(body, f"body_{b}_rdb{r}", num_grow_ch)
        body = body * 0.2 + rrdb_in
    feat = feat + _conv(num_feat, "conv_body")(body)
    for i in (1, 2):
        feat = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}")(feat)
        feat = _lrelu(f"lrelu_up{i}")(_conv(num_feat, f"conv_up{i}")(feat))
    feat = _lrelu("lrelu_hr")(_conv(num_feat, "conv_hr")(feat))
    out = _conv(3, "conv_last")(feat)
    return keras.Model(lq, out, name=name)
