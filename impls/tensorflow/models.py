"""BasicGAN and DCGAN as tf.Modules with explicit variables in runkit's canonical layout.

The canonical layout *is* the TensorFlow one (dense (in, out), conv HWIO,
transposed conv (kh, kw, out, in)), so states load without transposition.
To compute exactly what the PyTorch twin computes:

* ``arch.padding: same`` is TensorFlow's own ``padding='SAME'`` (pads/crops
  1 before and 2 after for kernel 5, as the TensorFlow sources did);
  ``symmetric`` (PyTorch's convention) pads convs explicitly (``p`` each
  side) and crops the full 'VALID' output ``(H-1)*2 + k`` of transposed convs
  ``p`` before and ``p - output_padding`` after, i.e. PyTorch's
  ``ConvTranspose2d(padding=p, output_padding=op)``;
* batch norm is written out (:class:`BatchNorm`): batch statistics with the
  biased variance for normalising, running statistics updated in PyTorch's
  convention ``running = (1-m) running + m batch`` with the *unbiased* batch
  variance, and ``eps`` added inside the square root. Keras' layer would use
  momentum ``1 - m``, eps default 1e-3 and the biased variance for the
  running estimate, so it is not used.
"""
from __future__ import annotations

import tensorflow as tf

from ganbench.runkit import bn_batch_inference, conv_pads, dcgan_dims, dcgan_layout, param_specs, stride2_padding


class CanonicalModule(tf.Module):
    """A tf.Module whose variables are named and created from runkit.param_specs."""

    def __init__(self, spec: dict, net: str):
        super().__init__(name=net)
        self.vars = {}
        for p in param_specs(spec):
            if p.net == net:
                self.vars[p.name] = tf.Variable(tf.zeros(p.shape, tf.float32), trainable=p.trainable,
                                                name=p.name.replace("/", "_"))
        self.train_vars = [v for v in self.vars.values() if v.trainable]  # canonical order

    def v(self, name):
        return self.vars[f"{self.name}/{name}"]

    def has(self, name) -> bool:
        return f"{self.name}/{name}" in self.vars


class BatchNorm:
    """PyTorch-convention batch norm over the channel axis of NHWC input (see module doc); no gamma
    with ``arch.bn_scale: false``; the batch's own statistics outside training too with
    ``arch.bn_inference: batch`` (running statistics then left as they are)."""

    def __init__(self, mod: CanonicalModule, prefix: str, spec: dict):
        self.gamma = mod.v(f"{prefix}/gamma") if mod.has(f"{prefix}/gamma") else None
        self.beta = mod.v(f"{prefix}/beta")
        self.mean, self.var = mod.v(f"{prefix}/moving_mean"), mod.v(f"{prefix}/moving_var")
        self.m, self.eps = spec["arch"]["bn_momentum"], spec["arch"]["bn_eps"]
        self.batch_inference = bn_batch_inference(spec)

    def __call__(self, x, training: bool):
        if not training:
            if self.batch_inference:
                mean, var = tf.nn.moments(x, axes=[0, 1, 2])
                return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, self.eps)
            return tf.nn.batch_normalization(x, self.mean, self.var, self.beta, self.gamma, self.eps)
        mean, var = tf.nn.moments(x, axes=[0, 1, 2])
        n = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
        m = self.m
        self.mean.assign(self.mean * (1.0 - m) + mean * m)
        self.var.assign(self.var * (1.0 - m) + var * (n / (n - 1.0)) * m)
        return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, self.eps)


def hidden_activation(arch: dict):
    if arch["hidden_activation"] == "leaky_relu":
        slope = arch["leaky_slope"]
        return lambda x: tf.nn.leaky_relu(x, alpha=slope)
    return tf.nn.relu


class BasicG(CanonicalModule):
    def __init__(self, spec):
        super().__init__(spec, "G")
        self.output = spec["arch"]["output"]
        self.act = hidden_activation(spec["arch"])

    def __call__(self, z, training=True):
        h = self.act(tf.matmul(z, self.v("fc1/kernel")) + self.v("fc1/bias"))
        h = tf.matmul(h, self.v("fc2/kernel")) + self.v("fc2/bias")
        return tf.sigmoid(h) if self.output == "sigmoid" else tf.tanh(h)


class BasicD(CanonicalModule):
    def __init__(self, spec):
        super().__init__(spec, "D")
        self.act = hidden_activation(spec["arch"])

    def __call__(self, x, training=True):
        h = self.act(tf.matmul(x, self.v("fc1/kernel")) + self.v("fc1/bias"))
        return tf.squeeze(tf.matmul(h, self.v("fc2/kernel")) + self.v("fc2/bias"), axis=1)


class DCGANG(CanonicalModule):
    def __init__(self, spec):
        super().__init__(spec, "G")
        d = dcgan_dims(spec)
        a = spec["arch"]
        self.n, self.c0, self.k = d["n"], d["c0"], d["k"]
        self.same = a["padding"] == "same"
        self.crop, _ = stride2_padding(spec)
        self.ch = d["g_channels"]
        self.projection_bn = dcgan_layout(spec)["projection_bn"]
        # bn0 (after the projection) unless projection_bn is off; bn1 .. bn{n-1} unless batch_norm is off
        self.bn = {i: BatchNorm(self, f"bn{i}", spec) for i in range(self.n) if self.has(f"bn{i}/beta")}

    def _deconv(self, x, i):
        kernel = self.v(f"deconv{i}/kernel")
        b, h = tf.shape(x)[0], x.shape[1]
        if self.same:
            y = tf.nn.conv2d_transpose(x, kernel, output_shape=tf.stack([b, 2 * h, 2 * h, self.ch[i]]),
                                       strides=2, padding="SAME")
        else:
            full = (h - 1) * 2 + self.k
            y = tf.nn.conv2d_transpose(x, kernel, output_shape=tf.stack([b, full, full, self.ch[i]]),
                                       strides=2, padding="VALID")
            y = y[:, self.crop:self.crop + 2 * h, self.crop:self.crop + 2 * h, :]
        if self.has(f"deconv{i}/bias"):  # the last one (unless outer_conv_bias is off), or every one without BN
            y = y + self.v(f"deconv{i}/bias")
        return y

    def _norm(self, h, i, training):
        return self.bn[i](h, training) if i in self.bn else h

    def __call__(self, z, training=True):
        h = tf.matmul(z, self.v("fc/kernel"))  # z [N, z_dim] -> [N, 16 * c0]
        if not self.projection_bn:
            h = h + self.v("fc/bias")
        h = tf.nn.relu(self._norm(tf.reshape(h, [-1, 4, 4, self.c0]), 0, training))  # [N, 4, 4, c0]
        for i in range(1, self.n):  # each deconv doubles H and W: 4 -> 8 -> 16 ...
            h = tf.nn.relu(self._norm(self._deconv(h, i), i, training))
        return tf.tanh(self._deconv(h, self.n))  # [N, S, S, C] in [-1, 1]


class DCGAND(CanonicalModule):
    def __init__(self, spec):
        super().__init__(spec, "D")
        d = dcgan_dims(spec)
        a = spec["arch"]
        self.n = d["n"]
        before, after = conv_pads(spec)
        self.pad = "SAME" if a["padding"] == "same" else [[0, 0], [before, after], [before, after], [0, 0]]
        self.slope = a["leaky_slope"]
        self.has_bn = a["batch_norm"]
        if self.has_bn:
            self.bn = [None] + [BatchNorm(self, f"bn{i}", spec) for i in range(1, self.n)]

    def _conv(self, x, i):
        return tf.nn.conv2d(x, self.v(f"conv{i}/kernel"), strides=2, padding=self.pad)

    def __call__(self, x, training=True):
        # x [N, S, S, C]; each conv halves H and W down to [N, 4, 4, c_last] (no BN on the first)
        h = self._conv(x, 0)
        if self.has("conv0/bias"):  # unless outer_conv_bias is off
            h = h + self.v("conv0/bias")
        h = tf.nn.leaky_relu(h, self.slope)
        for i in range(1, self.n):
            h = self._conv(h, i)
            h = self.bn[i](h, training) if self.has_bn else h + self.v(f"conv{i}/bias")
            h = tf.nn.leaky_relu(h, self.slope)
        h = tf.reshape(h, [tf.shape(h)[0], -1])  # [N, 16 * c_last], flattened in NHWC order
        return tf.squeeze(tf.matmul(h, self.v("fc/kernel")) + self.v("fc/bias"), axis=1)  # logits [N]


def build(spec: dict):
    if spec["model"] == "basic":
        return BasicG(spec), BasicD(spec)
    return DCGANG(spec), DCGAND(spec)
