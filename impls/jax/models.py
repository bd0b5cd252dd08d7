"""BasicGAN and DCGAN as pure functions over flat dicts of arrays keyed by runkit's canonical names.

The canonical layout is JAX's natural one (dense ``(in, out)``, conv HWIO, NHWC feature maps), so
states load without transposition. ``build(spec)`` returns ``(g_apply, d_apply)``:

    g_apply(g_params, bn_stats, z, train) -> (images, bn_stats)
    d_apply(d_params, bn_stats, x, train) -> (logits [B], bn_stats)

``bn_stats`` holds every BN running statistic (``*/moving_mean``, ``*/moving_var``); a train-mode
forward returns it advanced, an inference-mode forward returns it unchanged. To compute what the
PyTorch twin computes:

* stride-2 convs pad explicitly (runkit.conv_pads: ``symmetric`` 2/2 for k=5, ``same`` = TF 'SAME'
  1/2); transposed convs are the lhs-dilated convolution of the spatially flipped kernel, with the
  crop of the full ``(H-1)*2 + k`` output (runkit.stride2_padding) folded into its padding
  (``k-1-crop`` each side), i.e. PyTorch's ``ConvTranspose2d(padding=p, output_padding=op)``;
* batch norm has PyTorch's semantics: batch mean and biased variance to normalise, ``eps`` inside
  the square root, running statistics ``(1-m) running + m batch`` with the *unbiased* variance.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ganbench.runkit import bn_batch_inference, conv_pads, dcgan_dims, dcgan_layout, stride2_padding

DN = ("NHWC", "HWIO", "NHWC")


def batch_norm(x, params, bn_stats, prefix: str, train: bool, momentum: float, eps: float,
               batch_inference: bool = False):
    """PyTorch-convention BN over the channel axis of NHWC ``x``; returns (y, bn_stats). No gamma
    unless ``params`` has one (arch.bn_scale); with ``batch_inference`` (arch.bn_inference 'batch')
    inference normalises with the batch's own statistics too, leaving ``bn_stats`` unchanged."""
    gamma, beta = params.get(f"{prefix}/gamma", 1.0), params[f"{prefix}/beta"]
    if train or batch_inference:
        mean = jnp.mean(x, axis=(0, 1, 2))
        var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
    if train:
        n = x.shape[0] * x.shape[1] * x.shape[2]
        bn_stats = {**bn_stats,
                 f"{prefix}/moving_mean": bn_stats[f"{prefix}/moving_mean"] * (1.0 - momentum) + mean * momentum,
                 f"{prefix}/moving_var": bn_stats[f"{prefix}/moving_var"] * (1.0 - momentum)
                 + var * (n / (n - 1.0)) * momentum}
    elif not batch_inference:
        mean, var = bn_stats[f"{prefix}/moving_mean"], bn_stats[f"{prefix}/moving_var"]
    inv = lax.rsqrt(var + eps) * gamma
    return x * inv + (beta - mean * inv), bn_stats


def _activation(arch: dict):
    if arch["hidden_activation"] == "leaky_relu":
        slope = arch["leaky_slope"]
        return lambda h: jax.nn.leaky_relu(h, slope)
    return jax.nn.relu


def basic(spec: dict):
    arch = spec["arch"]
    act = _activation(arch)
    out = jax.nn.sigmoid if arch["output"] == "sigmoid" else jnp.tanh

    def g_apply(p, bn_stats, z, train):
        h = act(z @ p["G/fc1/kernel"] + p["G/fc1/bias"])
        return out(h @ p["G/fc2/kernel"] + p["G/fc2/bias"]), bn_stats

    def d_apply(p, bn_stats, x, train):
        h = act(x @ p["D/fc1/kernel"] + p["D/fc1/bias"])
        return (h @ p["D/fc2/kernel"] + p["D/fc2/bias"])[:, 0], bn_stats

    return g_apply, d_apply


def conv_ops(spec: dict) -> dict:
    """The DCGAN's stride-2 convolutions (NHWC): fast matmul forms and the lax reference forms."""
    k = dcgan_dims(spec)["k"]
    crop_before, crop_after = stride2_padding(spec)
    deconv_pad = [(k - 1 - crop_before, k - 1 - crop_after)] * 2
    conv_pad = [conv_pads(spec)] * 2

    # XLA:CPU runs convolutions with lhs dilation (transposed convs, and every strided conv's input
    # gradient) in a naive loop, ~40x slower than PyTorch; as matmuls over strided slices they run
    # on Eigen's GEMM. Same arithmetic (lax_conv / lax_deconv are the reference forms).
    def deconv(x, kernel):  # kernel (kh, kw, out, in): each input pixel adds kernel . x at 2*pos + (kh, kw)
        b, h, w_, cin = x.shape
        cout = kernel.shape[2]
        cols = (x.reshape(-1, cin) @ kernel.transpose(3, 0, 1, 2).reshape(cin, k * k * cout))
        cols = cols.reshape(b, h, w_, k, k, cout)
        full = 2 * h - 1 + k - 1
        out = 0.0
        for i in range(k):
            for j in range(k):
                out = out + lax.pad(cols[:, :, :, i, j, :], 0.0,
                                    [(0, 0, 0), (i, full - i - (2 * h - 1), 1), (j, full - j - (2 * w_ - 1), 1), (0, 0, 0)])
        return out[:, crop_before:crop_before + 2 * h, crop_before:crop_before + 2 * w_, :]

    def conv(x, kernel):  # im2col: the k*k strided slices of the padded input, then one matmul
        b, h, w_, cin = x.shape
        xp = jnp.pad(x, [(0, 0), conv_pad[0], conv_pad[1], (0, 0)])
        ho, wo = h // 2, w_ // 2
        patches = jnp.concatenate([xp[:, i:i + 2 * ho - 1:2, j:j + 2 * wo - 1:2, :]
                                   for i in range(k) for j in range(k)], axis=-1)
        return (patches.reshape(-1, k * k * cin) @ kernel.reshape(k * k * cin, -1)).reshape(b, ho, wo, -1)

    def lax_deconv(x, kernel):  # reference form: kernel flipped, HWIO (in, out), lhs-dilated
        w = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
        return lax.conv_general_dilated(x, w, (1, 1), deconv_pad, lhs_dilation=(2, 2), dimension_numbers=DN)

    def lax_conv(x, kernel):
        return lax.conv_general_dilated(x, kernel, (2, 2), conv_pad, dimension_numbers=DN)

    return {"conv": conv, "deconv": deconv, "lax_conv": lax_conv, "lax_deconv": lax_deconv}


def dcgan(spec: dict):
    a = spec["arch"]
    d = dcgan_dims(spec)
    n, c0 = d["n"], d["c0"]
    lay = dcgan_layout(spec)
    has_bn, mom, eps, slope = lay["bn"], a["bn_momentum"], a["bn_eps"], a["leaky_slope"]
    batch_inference = bn_batch_inference(spec)
    ops = conv_ops(spec)
    conv, deconv = ops["conv"], ops["deconv"]

    def bn_or_bias(h, p, bn_stats, bn: str, bias: str, train):
        """Batch norm where the DCGAN has it, else the layer's own bias."""
        if has_bn:
            return batch_norm(h, p, bn_stats, bn, train, mom, eps, batch_inference)
        return h + p[bias], bn_stats

    def outer_bias(h, p, name):  # G's last transposed conv and D's first conv (unless outer_conv_bias is off)
        return h + p[name] if lay["outer_bias"] else h

    def g_apply(p, bn_stats, z, train):
        h = z @ p["G/fc/kernel"]  # z [N, z_dim] -> [N, 16 * c0]
        if not lay["projection_bn"]:
            h = h + p["G/fc/bias"]
        h = h.reshape(-1, 4, 4, c0)  # NHWC order
        if lay["projection_bn"]:
            h, bn_stats = batch_norm(h, p, bn_stats, "G/bn0", train, mom, eps, batch_inference)
        h = jax.nn.relu(h)
        for i in range(1, n):  # each deconv doubles H and W: 4 -> 8 -> 16 ...
            h, bn_stats = bn_or_bias(deconv(h, p[f"G/deconv{i}/kernel"]), p, bn_stats, f"G/bn{i}", f"G/deconv{i}/bias", train)
            h = jax.nn.relu(h)
        return jnp.tanh(outer_bias(deconv(h, p[f"G/deconv{n}/kernel"]), p, f"G/deconv{n}/bias")), bn_stats

    def d_apply(p, bn_stats, x, train):
        # x [N, S, S, C]; each conv halves H and W down to [N, 4, 4, c_last] (no BN on the first)
        h = jax.nn.leaky_relu(outer_bias(conv(x, p["D/conv0/kernel"]), p, "D/conv0/bias"), slope)
        for i in range(1, n):
            h, bn_stats = bn_or_bias(conv(h, p[f"D/conv{i}/kernel"]), p, bn_stats, f"D/bn{i}", f"D/conv{i}/bias", train)
            h = jax.nn.leaky_relu(h, slope)
        h = h.reshape(h.shape[0], -1)  # NHWC flatten
        return (h @ p["D/fc/kernel"] + p["D/fc/bias"])[:, 0], bn_stats

    return g_apply, d_apply


def build(spec: dict):
    return basic(spec) if spec["model"] == "basic" else dcgan(spec)
