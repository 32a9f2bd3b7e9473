"""An independent TF1 (tf.compat.v1 graph + Session) re-implementation of MetaF2N's test path.

Written from the original's model and test path as docs/upstream.md states them (RRDBNet, MaskNet,
test-time adaptation), not from metaf2n_tf: variables named as the original
(``MODEL/...`` via tf.compat.v1 variable scopes, ``Mask/conv{i}/kernel``), a GradientDescentOptimizer
step on the MODEL variables only, a Saver checkpoint. Tests compare the package against it.
"""
import numpy as np
import tensorflow as tf

v1 = tf.compat.v1


def random_tensors(num_block=1, seed=0, num_feat=64, grow=32):
    """Random weights under the original's TF1 names (HWIO), scaled so outputs stay in (0, 1)."""
    rng = np.random.default_rng(seed)

    def conv(cin, cout, gain=1.0):
        return (rng.standard_normal((3, 3, cin, cout)) * gain * np.sqrt(1.0 / (9 * cin))).astype(np.float32)

    def bias(cout, scale=0.01):
        return (rng.standard_normal(cout) * scale).astype(np.float32)

    t = {"MODEL/conv_first/weight": conv(3, num_feat), "MODEL/conv_first/bias": bias(num_feat)}
    for b in range(num_block):
        for r in range(1, 4):
            for k in range(1, 6):
                cin, cout = num_feat + grow * (k - 1), grow if k < 5 else num_feat
                t[f"MODEL/body/{b}/rdb{r}/conv{k}/weight"] = conv(cin, cout, 0.5)
                t[f"MODEL/body/{b}/rdb{r}/conv{k}/bias"] = bias(cout)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        t[f"MODEL/{name}/weight"] = conv(num_feat, num_feat, 0.7)
        t[f"MODEL/{name}/bias"] = bias(num_feat)
    t["MODEL/conv_last/weight"] = conv(num_feat, 3, 0.3)
    t["MODEL/conv_last/bias"] = np.full(3, 0.5, np.float32)
    for i in range(1, 9):
        cin, cout = (6 if i == 1 else 64), (1 if i == 8 else 64)
        t[f"Mask/conv{i}/kernel"] = conv(cin, cout, 1.4)
        t[f"Mask/conv{i}/bias"] = np.full(cout, 0.5 if i == 8 else 0.0, np.float32)
    return t


class ReferenceGraph:
    """The original test.py graph: MaskNet W, weighted L1, SGD on MODEL, RRDBNet forward."""

    def __init__(self, tensors, lr=0.01, optimizer="sgd"):
        self.graph = tf.Graph()
        self.num_block = len({k.split("/")[2] for k in tensors if k.startswith("MODEL/body/")})
        with self.graph.as_default():
            self.vars = {n: v1.get_variable(n, initializer=tf.constant(a)) for n, a in sorted(tensors.items())}
            self.inputa = v1.placeholder(tf.float32, [None, None, None, 3])
            self.labela = v1.placeholder(tf.float32, [None, None, None, 3])
            up = v1.image.resize_bicubic(self.inputa, tf.shape(self.labela)[1:3], align_corners=False)
            self.mask = self._masknet(tf.concat([up, self.labela], axis=3))
            self.output = self._rrdbnet(self.inputa)
            self.loss = tf.reduce_mean(self.mask * tf.abs(self.labela - self.output))
            model_vars = [v for n, v in self.vars.items() if n.startswith("MODEL/")]
            opt = v1.train.GradientDescentOptimizer(lr) if optimizer == "sgd" else v1.train.AdamOptimizer(lr)
            self.train_op = opt.minimize(self.loss, var_list=model_vars)
            self.saver = v1.train.Saver(var_list=self.vars)
            self.sess = v1.Session(graph=self.graph)
            self.sess.run(v1.global_variables_initializer())
        self._maml = {}

    def _conv(self, x, name, act=None, params=None):
        params = self.vars if params is None else params
        y = tf.nn.bias_add(tf.nn.conv2d(x, params[name + "/weight" if name.startswith("MODEL") else name + "/kernel"], 1, "SAME"),
                           params[name + "/bias"])
        if act == "lrelu":
            return tf.nn.leaky_relu(y, 0.2)
        if act == "relu":
            return tf.nn.relu(y)
        return y

    def _masknet(self, x):
        for i in range(1, 9):
            x = self._conv(x, f"Mask/conv{i}", "relu")
        return x

    def _rrdbnet(self, x, params=None):
        def conv(x, name, act=None):
            return self._conv(x, name, act, params)

        head = res = conv(x, "MODEL/conv_first")
        for b in range(self.num_block):
            block_in = res
            for r in range(1, 4):
                rdb_in, feats = res, [res]
                for k in range(1, 5):
                    feats.append(conv(tf.concat(feats, 3), f"MODEL/body/{b}/rdb{r}/conv{k}", "lrelu"))
                res = conv(tf.concat(feats, 3), f"MODEL/body/{b}/rdb{r}/conv5") * 0.2 + rdb_in
            res = res * 0.2 + block_in
        res = conv(res, "MODEL/conv_body") + head
        for i in (1, 2):
            res = tf.repeat(tf.repeat(res, 2, axis=1), 2, axis=2)
            res = conv(res, f"MODEL/conv_up{i}", "lrelu")
        return conv(conv(res, "MODEL/conv_hr", "lrelu"), "MODEL/conv_last")

    def maml_task(self, task, lr, mask_weight, first_order=False):
        """The original's train.py task with its GAN and LPIPS terms off, written as a TF1 graph.

        W = MaskNet(bicubic(inputa), labela); theta' = theta - lr * grad mean(W |labela - f(inputa)|) (the
        gradient under stop_gradient for first order); objective = mean|labelb - f_theta'(inputb)|
        + mask_weight * mean((W - 1)^2) / 2. Returns numpy values: ``inner_before``, ``inner_after`` (the face
        loss at theta'), ``outer_before`` (the objective at theta), ``objective`` and the gradients of the
        objective, ``{variable name: array}`` over MODEL and Mask.
        """
        key = (lr, mask_weight, first_order)
        if key not in self._maml:
            with self.graph.as_default():
                ph = {k: v1.placeholder(tf.float32, [None, None, None, 3]) for k in ("inputa", "labela", "inputb", "labelb")}
                up = v1.image.resize_bicubic(ph["inputa"], tf.shape(ph["labela"])[1:3], align_corners=False)
                mask = self._masknet(tf.concat([up, ph["labela"]], axis=3))
                names = sorted(n for n in self.vars if n.startswith("MODEL/"))
                inner = tf.reduce_mean(mask * tf.abs(ph["labela"] - self._rrdbnet(ph["inputa"])))
                grads = tf.gradients(inner, [self.vars[n] for n in names])
                if first_order:
                    grads = [tf.stop_gradient(g) for g in grads]
                fast = {**self.vars, **{n: self.vars[n] - lr * g for n, g in zip(names, grads)}}
                regulariser = mask_weight * tf.reduce_mean(tf.square(mask - 1.0)) / 2.0
                objective = tf.reduce_mean(tf.abs(ph["labelb"] - self._rrdbnet(ph["inputb"], fast))) + regulariser
                before = tf.reduce_mean(tf.abs(ph["labelb"] - self._rrdbnet(ph["inputb"]))) + regulariser
                after = tf.reduce_mean(mask * tf.abs(ph["labela"] - self._rrdbnet(ph["inputa"], fast)))
                all_names = sorted(self.vars)
                outer = dict(zip(all_names, tf.gradients(objective, [self.vars[n] for n in all_names])))
                fetch = {"inner_before": inner, "inner_after": after, "outer_before": before,
                         "objective": objective, "grads": outer}
                self._maml[key] = (ph, fetch)
        ph, fetch = self._maml[key]
        return self.sess.run(fetch, {ph[k]: np.asarray(task[k]) for k in ph})

    def save(self, prefix):
        with self.graph.as_default():
            return self.saver.save(self.sess, prefix, write_meta_graph=False)

    def sr(self, image):
        """image [H, W, 3] float in [0, 1] -> [4H, 4W, 3]."""
        return self.sess.run(self.output, {self.inputa: image[None]})[0]

    def sgd_step(self, lq, hq):
        _, loss = self.sess.run([self.train_op, self.loss], {self.inputa: lq, self.labela: hq})
        return loss

    def face_loss(self, lq, hq):
        return self.sess.run(self.loss, {self.inputa: lq, self.labela: hq})

    def mask_values(self, lq, hq):
        return self.sess.run(self.mask, {self.inputa: lq, self.labela: hq})
