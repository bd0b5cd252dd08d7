"""BasicGAN and DCGAN as nn.Modules, plus the map to runkit's canonical layout.

Data layout inside PyTorch is NCHW; the two places where a flat vector meets
a feature map (G's projection, D's flatten) go through NHWC order so that the
canonical (Keras-layout) dense kernels mean the same thing in both frameworks.
Padding (runkit.params.stride2_padding / conv_pads): ``symmetric`` is
PyTorch's own (``padding=p`` for convs, ``padding=p, output_padding=op`` for
transposed convs); ``same`` is TensorFlow's 'SAME', which pads/crops less
before than after for kernel 5: convs get an explicit ``nn.ZeroPad2d``, and
transposed convs crop their full output themselves.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ganbench.runkit import bn_batch_inference, conv_pads, dcgan_dims, dcgan_layout, stride2_padding
from linear import Linear


def hidden_activation(arch: dict) -> nn.Module:
    if arch["hidden_activation"] == "leaky_relu":
        return nn.LeakyReLU(arch["leaky_slope"])
    return nn.ReLU()


class BasicG(nn.Module):
    def __init__(self, z_dim: int, hidden: int, out_dim: int, arch: dict):
        super().__init__()
        self.fc1 = Linear(z_dim, hidden)
        self.act = hidden_activation(arch)
        self.fc2 = Linear(hidden, out_dim)
        self.out = nn.Sigmoid() if arch["output"] == "sigmoid" else nn.Tanh()

    def forward(self, z):
        return self.out(self.fc2(self.act(self.fc1(z))))


class BasicD(nn.Module):
    def __init__(self, in_dim: int, hidden: int, arch: dict):
        super().__init__()
        self.fc1 = Linear(in_dim, hidden)
        self.act = hidden_activation(arch)
        self.fc2 = Linear(hidden, 1)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))).squeeze(1)  # logits [N]


class Deconv(nn.Module):
    """Stride-2 transposed conv whose full output is cropped ``before``/``after`` (S -> 2S)."""

    def __init__(self, c_in: int, c_out: int, k: int, before: int, after: int, bias: bool):
        super().__init__()
        # PyTorch crops `padding` on both sides and gives back `output_padding` at the end
        # (symmetric k=5: 2 before, 1 after); a larger crop after ('same' k=5: 1/2) is done below
        self.conv = nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=before,
                                       output_padding=max(0, before - after), bias=bias)
        self.extra = max(0, after - before)

    @property
    def weight(self):
        return self.conv.weight

    @property
    def bias(self):
        return self.conv.bias

    def forward(self, x):
        y = self.conv(x)
        if self.extra:
            y = y[..., : y.shape[-2] - self.extra, : y.shape[-1] - self.extra]
        return y


class BatchNorm(nn.BatchNorm2d):
    """nn.BatchNorm2d with an optional gamma (``scale``) and, for ``batch_inference``, the batch's
    own statistics in eval mode too (running statistics left as they are)."""

    def __init__(self, c: int, spec: dict):
        a = spec["arch"]
        super().__init__(c, eps=a["bn_eps"], momentum=a["bn_momentum"])
        if not a["bn_scale"]:
            self.weight = None  # TF-1 batch_norm(scale=False): beta only
        self.batch_inference = bn_batch_inference(spec)

    def forward(self, x):
        if self.batch_inference and not self.training:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(x)


def norm_layer(spec: dict, enabled: bool = True):
    """BN of ``c`` channels where the DCGAN has it, else an identity (the layer has a bias instead)."""
    return (lambda c: BatchNorm(c, spec)) if enabled else (lambda c: nn.Identity())


class DCGANG(nn.Module):
    def __init__(self, spec: dict):
        super().__init__()
        d = dcgan_dims(spec)
        lay = dcgan_layout(spec)
        self.c0, n, k = d["c0"], d["n"], d["k"]
        before, after = stride2_padding(spec)
        bn = lay["bn"]
        ch = d["g_channels"]
        self.fc = Linear(spec["z_dim"], 16 * self.c0, bias=not lay["projection_bn"])
        # without batch norm: identity layers and a bias on every layer instead
        norm = norm_layer(spec, bn)
        self.bn0 = norm_layer(spec, lay["projection_bn"])(self.c0)
        self.deconvs = nn.ModuleList(
            Deconv(ch[i], ch[i + 1], k, before, after, bias=lay["outer_bias"] if i == n - 1 else not bn)
            for i in range(n)
        )
        self.bns = nn.ModuleList(norm(ch[i + 1]) for i in range(n - 1))

    def forward(self, z):
        # z [N, z_dim] -> [N, 16 * c0], read in NHWC order -> [N, c0, 4, 4]
        h = self.fc(z).view(-1, 4, 4, self.c0).permute(0, 3, 1, 2)
        h = F.relu(self.bn0(h))
        for deconv, bn in zip(self.deconvs[:-1], self.bns):  # each doubles H and W: 4 -> 8 -> 16 ...
            h = F.relu(bn(deconv(h)))
        return torch.tanh(self.deconvs[-1](h))  # [N, C, S, S] in [-1, 1]


class DCGAND(nn.Module):
    def __init__(self, spec: dict):
        super().__init__()
        d = dcgan_dims(spec)
        lay = dcgan_layout(spec)
        n, k = d["n"], d["k"]
        before, after = conv_pads(spec)
        bn = lay["bn"]
        self.slope = spec["arch"]["leaky_slope"]
        ch = d["d_channels"]
        # symmetric padding is the conv's own; 'same' (asymmetric for k=5) pads explicitly
        self.pad = nn.ZeroPad2d((before, after, before, after)) if before != after else nn.Identity()
        p = before if before == after else 0
        self.convs = nn.ModuleList(
            nn.Conv2d(ch[i], ch[i + 1], k, stride=2, padding=p, bias=lay["outer_bias"] if i == 0 else not bn)
            for i in range(n)
        )
        norm = norm_layer(spec, bn)
        self.bns = nn.ModuleList(norm(ch[i + 1]) for i in range(1, n))
        self.fc = Linear(16 * ch[-1], 1)

    def forward(self, x):
        # x [N, C, S, S]; each conv halves H and W down to [N, c_last, 4, 4] (no BN on the first)
        h = F.leaky_relu(self.convs[0](self.pad(x)), self.slope)
        for conv, bn in zip(self.convs[1:], self.bns):
            h = F.leaky_relu(bn(conv(self.pad(h))), self.slope)
        h = h.permute(0, 2, 3, 1).flatten(1)  # [N, 16 * c_last], flattened in NHWC order
        return self.fc(h).squeeze(1)  # logits [N]


def build(spec: dict) -> tuple[nn.Module, nn.Module]:
    if spec["model"] == "basic":
        a = spec["arch"]
        d = spec["image_size"] ** 2 * spec["channels"]
        return BasicG(spec["z_dim"], a["g_hidden"], d, a), BasicD(d, a["d_hidden"], a)
    return DCGANG(spec), DCGAND(spec)


# ---------------------------------------------------------------- canonical map
_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_var": "running_var"}


def canonical_tensors(spec: dict, G: nn.Module, D: nn.Module) -> dict[str, tuple[torch.Tensor, str]]:
    """canonical name -> (the torch parameter/buffer, layout kind)."""
    out = {}
    if spec["model"] == "basic":
        for net_name, net in (("G", G), ("D", D)):
            for i in (1, 2):
                fc = getattr(net, f"fc{i}")
                out[f"{net_name}/fc{i}/kernel"] = (fc.weight, "dense")
                out[f"{net_name}/fc{i}/bias"] = (fc.bias, "vector")
        return out
    n = dcgan_dims(spec)["n"]

    def bn(prefix, mod):
        for k, attr in _BN.items():
            if getattr(mod, attr) is not None:  # no gamma with bn_scale false
                out[f"{prefix}/{k}"] = (getattr(mod, attr), "vector")

    def bias(name, mod):
        if mod.bias is not None:  # none on the outer convs with outer_conv_bias false
            out[name] = (mod.bias, "vector")

    has_bn = spec["arch"]["batch_norm"]
    out["G/fc/kernel"] = (G.fc.weight, "dense")
    if isinstance(G.bn0, BatchNorm):
        bn("G/bn0", G.bn0)
    else:  # the linear's bias follows the NHWC flatten order of its output, like the kernel's columns
        out["G/fc/bias"] = (G.fc.bias, "vector")
    for i in range(1, n + 1):
        out[f"G/deconv{i}/kernel"] = (G.deconvs[i - 1].weight, "deconv")
        if i < n and has_bn:
            bn(f"G/bn{i}", G.bns[i - 1])
        else:
            bias(f"G/deconv{i}/bias", G.deconvs[i - 1])
    out["D/conv0/kernel"] = (D.convs[0].weight, "conv")
    bias("D/conv0/bias", D.convs[0])
    for i in range(1, n):
        out[f"D/conv{i}/kernel"] = (D.convs[i].weight, "conv")
        if has_bn:
            bn(f"D/bn{i}", D.bns[i - 1])
        else:
            out[f"D/conv{i}/bias"] = (D.convs[i].bias, "vector")
    out["D/fc/kernel"] = (D.fc.weight, "dense")
    out["D/fc/bias"] = (D.fc.bias, "vector")
    return out


def to_torch_layout(arr: np.ndarray, kind: str) -> np.ndarray:
    """Canonical (Keras) layout -> torch layout."""
    if kind == "dense":  # (in, out) -> (out, in)
        return arr.T
    if kind in ("conv", "deconv"):  # (kh,kw,in,out) -> (out,in,kh,kw); (kh,kw,out,in) -> (in,out,kh,kw)
        return arr.transpose(3, 2, 0, 1)
    return arr


def from_torch_layout(arr: np.ndarray, kind: str) -> np.ndarray:
    if kind == "dense":
        return arr.T
    if kind in ("conv", "deconv"):
        return arr.transpose(2, 3, 1, 0)
    return arr
