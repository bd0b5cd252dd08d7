"""Canonical parameters: names, shapes (Keras layout), initialisers, state files.

One layout for every framework, the Keras/TensorFlow one:

* dense kernel            ``(in, out)``             (torch Linear weight is ``(out, in)``)
* conv kernel             ``(kh, kw, in, out)``     (torch Conv2d weight is ``(out, in, kh, kw)``)
* transposed-conv kernel  ``(kh, kw, out, in)``     (torch ConvTranspose2d weight is ``(in, out, kh, kw)``)
* batch norm              ``gamma, beta, moving_mean, moving_var`` each ``(C,)``

Initial weights are generated here in numpy from the run's ``init`` stream,
in the order of :func:`param_specs` (G first, then D), and every impl loads
them. A state (all parameters plus BN running statistics) is an npz keyed by
these canonical names, so twin tests can move it between processes.

Architectures (knobs in ``spec['arch']``, defaults in runkit.spec.ARCH_DEFAULTS)
-------------
basic: G ``z -> H_G (act) -> 784 (sigmoid|tanh)``, D ``784 -> H_D (act) -> 1 logit``
(H_G = ``g_hidden``, H_D = ``d_hidden``, each ``hidden`` unless set);
act = ReLU or LeakyReLU(leaky_slope) (``hidden_activation``); weights
``weight_init`` (default Xavier-uniform), every bias the constant ``bias_init``.

dcgan (S = image_size, n = log2(S/4) up/down layers, W = base_width, C0 = W*2^(n-1)):
G ``z -> linear 4*4*C0G (NHWC order) -> BN -> ReLU``, then n-1 transposed convs
halving channels with BN + ReLU, then a transposed conv to ``channels`` with a
bias and tanh (C0G = ``g_width_mult`` * C0: G's widths apart from D's). D: conv
``channels -> W`` with bias, LeakyReLU(leaky_slope); n-1 convs doubling channels,
BN, LeakyReLU; flatten (NHWC order) and a linear logit.
All (transposed) convs have stride 2 and the padding of :func:`stride2_padding`.
Weights ``weight_init`` (default N(0, init_std=0.02)); the two dense layers'
``dense_init`` / ``dense_init_std`` where set (else the same); BN gamma 1, beta 0;
running mean 0, running var 1; layers followed by BN have no bias. With
``batch_norm: false`` there is no BN anywhere and every layer has a bias.
Biases start at ``bias_init``. The DCGAN post's variant (its TF-1 code):
``projection_bn: false`` (G's projection has a bias and ReLU, no BN),
``bn_scale: false`` (BN has no gamma: ``tf.contrib.layers.batch_norm``'s
``scale=False``), ``outer_conv_bias: false`` (no bias on G's last transposed
conv or D's first conv).

Initialisers: ``xavier_uniform`` U(-b, b), b = sqrt(6/(fan_in+fan_out))
(TF's xavier_initializer / glorot_uniform); ``normal`` N(0, init_std);
``truncated_normal`` N(0, init_std) with draws beyond 2 std redrawn (TF's
truncated_normal_initializer).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

@dataclass(frozen=True)
class ParamSpec:
    name: str  # canonical name, e.g. "G/deconv1/kernel"
    shape: tuple
    init: str  # weight (arch.weight_init) | bias (arch.bias_init) | zeros | ones
    layer: str  # dense | conv | deconv | bn | bias
    trainable: bool = True

    @property
    def net(self) -> str:
        return self.name.split("/", 1)[0]


def conv_padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) of the stride-2 layers, PyTorch convention.

    Convs pad ``p`` on both sides: k=4 -> 1, k=5 -> 2 (so S -> S/2).
    Transposed convs compute the full ``(S-1)*2 + k`` output and crop ``p``
    before and ``p - output_padding`` after (so S -> 2S): k=4 -> (1, 0),
    k=5 -> (2, 1). TensorFlow's 'SAME' differs for k=5 (pads 1/2), which is
    why neither impl uses it.
    """
    if kernel_size == 4:
        return 1, 0
    if kernel_size == 5:
        return 2, 1
    raise ValueError(f"kernel_size must be 4 or 5, got {kernel_size}")


def stride2_padding(spec: dict) -> tuple[int, int]:
    """(before, after) padding of the stride-2 convs, = the crop of the transposed convs' full output.

    ``symmetric`` (PyTorch convention): k=4 -> (1, 1), k=5 -> (2, 1) for the
    transposed convs and (2, 2) for the convs -- see :func:`conv_padding`.
    ``same`` (TensorFlow 'SAME' at stride 2): ``(k-2)//2`` before and the rest
    after, for both: k=5 -> (1, 2), k=4 -> (1, 1) (equal to symmetric).
    Returns the *transposed-conv crop* for symmetric; use :func:`conv_pads`
    for the convs.
    """
    k = spec["arch"]["kernel_size"]
    if spec["arch"].get("padding", "symmetric") == "same":
        return (k - 2) // 2, k - 2 - (k - 2) // 2
    p, op = conv_padding(k)
    return p, p - op


def conv_pads(spec: dict) -> tuple[int, int]:
    """(before, after) zero padding of D's stride-2 convs (see :func:`stride2_padding`)."""
    k = spec["arch"]["kernel_size"]
    if spec["arch"].get("padding", "symmetric") == "same":
        return (k - 2) // 2, k - 2 - (k - 2) // 2
    p, _ = conv_padding(k)
    return p, p


def dcgan_dims(spec: dict) -> dict:
    """Layer counts and widths of the DCGAN for ``spec``."""
    size = spec["image_size"]
    n = int(round(math.log2(size / 4)))
    if 4 * 2**n != size or n < 1:
        raise ValueError(f"image_size {size} is not 4 * 2^n")
    w = spec["arch"]["base_width"]
    c0 = w * 2 ** (n - 1) * spec["arch"].get("g_width_mult", 1)  # G's projection depth
    g_channels = [c0 // 2**i for i in range(n)] + [spec["channels"]]  # C0 ... W (x g_width_mult), C
    d_channels = [spec["channels"]] + [w * 2**i for i in range(n)]  # C, W ... W*2^(n-1)
    return {"n": n, "c0": c0, "g_channels": g_channels, "d_channels": d_channels, "k": spec["arch"]["kernel_size"]}


def dcgan_layout(spec: dict) -> dict[str, bool]:
    """Which optional DCGAN parts exist: ``bn`` (any BN), ``projection_bn`` (BN after G's
    projection, else its bias), ``bn_scale`` (BN gammas), ``outer_bias`` (biases of G's last
    transposed conv and D's first conv)."""
    a = spec["arch"]
    bn = a.get("batch_norm", True)
    return {"bn": bn, "projection_bn": bn and a.get("projection_bn", True),
            "bn_scale": a.get("bn_scale", True), "outer_bias": a.get("outer_conv_bias", True)}


def _bn(prefix: str, c: int, scale: bool = True) -> list[ParamSpec]:
    return [
        *([ParamSpec(f"{prefix}/gamma", (c,), "ones", "bn")] if scale else []),
        ParamSpec(f"{prefix}/beta", (c,), "zeros", "bn"),
        ParamSpec(f"{prefix}/moving_mean", (c,), "zeros", "bn", trainable=False),
        ParamSpec(f"{prefix}/moving_var", (c,), "ones", "bn", trainable=False),
    ]


def param_specs(spec: dict) -> list[ParamSpec]:
    """Every parameter and BN statistic of G then D, in canonical order."""
    z = spec["z_dim"]
    if spec["model"] == "basic":
        arch = spec["arch"]
        hg, hd = (arch.get(k) or arch["hidden"] for k in ("g_hidden", "d_hidden"))
        d = spec["image_size"] ** 2 * spec["channels"]
        out = []
        for net, dims in (("G", (z, hg, d)), ("D", (d, hd, 1))):
            for i in (1, 2):
                out.append(ParamSpec(f"{net}/fc{i}/kernel", (dims[i - 1], dims[i]), "weight", "dense"))
                out.append(ParamSpec(f"{net}/fc{i}/bias", (dims[i],), "bias", "bias"))
        return out
    dims = dcgan_dims(spec)
    n, c0, k = dims["n"], dims["c0"], dims["k"]
    gc, dc = dims["g_channels"], dims["d_channels"]
    lay = dcgan_layout(spec)
    bn = lay["bn"]

    def norm(prefix: str, layer: str, c: int) -> list[ParamSpec]:
        """BN after a layer, or (batch_norm off) the layer's own bias."""
        return _bn(prefix, c, lay["bn_scale"]) if bn else [ParamSpec(f"{layer}/bias", (c,), "bias", "bias")]

    def bias(layer: str, c: int) -> list[ParamSpec]:
        return [ParamSpec(f"{layer}/bias", (c,), "bias", "bias")] if lay["outer_bias"] else []

    out = [ParamSpec("G/fc/kernel", (z, 16 * c0), "weight", "dense")]
    out += (_bn("G/bn0", c0, lay["bn_scale"]) if lay["projection_bn"]
            else [ParamSpec("G/fc/bias", (16 * c0,), "bias", "bias")])
    for i in range(1, n + 1):
        out.append(ParamSpec(f"G/deconv{i}/kernel", (k, k, gc[i], gc[i - 1]), "weight", "deconv"))
        out += norm(f"G/bn{i}", f"G/deconv{i}", gc[i]) if i < n else bias(f"G/deconv{i}", gc[i])
    out.append(ParamSpec("D/conv0/kernel", (k, k, dc[0], dc[1]), "weight", "conv"))
    out += bias("D/conv0", dc[1])
    for i in range(1, n):
        out.append(ParamSpec(f"D/conv{i}/kernel", (k, k, dc[i], dc[i + 1]), "weight", "conv"))
        out += norm(f"D/bn{i}", f"D/conv{i}", dc[i + 1])
    out.append(ParamSpec("D/fc/kernel", (16 * dc[-1], 1), "weight", "dense"))
    out.append(ParamSpec("D/fc/bias", (1,), "bias", "bias"))
    return out


def xavier_bound(shape: tuple) -> float:
    """Glorot/Xavier-uniform bound sqrt(6 / (fan_in + fan_out)) for a canonical kernel."""
    if len(shape) == 2:
        fan_in, fan_out = shape
    elif len(shape) == 4:  # (kh, kw, a, b): receptive field times channels
        rf = shape[0] * shape[1]
        fan_in, fan_out = shape[2] * rf, shape[3] * rf
    else:
        raise ValueError(f"no fan for shape {shape}")
    return math.sqrt(6.0 / (fan_in + fan_out))


def truncated_normal(rng: np.random.Generator, std: float, shape: tuple) -> np.ndarray:
    """N(0, std) with every draw beyond 2 std redrawn (TF's truncated_normal_initializer)."""
    arr = rng.normal(0.0, std, size=shape)
    bad = np.abs(arr) > 2.0 * std
    while bad.any():
        arr[bad] = rng.normal(0.0, std, size=int(bad.sum()))
        bad = np.abs(arr) > 2.0 * std
    return arr


def init_params(spec: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Initial state (float32, canonical layout) drawn from ``rng`` in canonical order."""
    arch = spec["arch"]
    w_init, std, bias = arch.get("weight_init"), arch.get("init_std", 0.02), arch.get("bias_init", 0.0)
    if w_init is None:
        w_init = "xavier_uniform" if spec["model"] == "basic" else "normal"
    # the dense layers' own initialiser, where the arch sets one (the DCGAN post: N(0, 0.01))
    dense_init, dense_std = arch.get("dense_init") or w_init, arch.get("dense_init_std") or std
    state = {}
    for p in param_specs(spec):
        if p.init == "weight":
            kind, sd = (dense_init, dense_std) if p.layer == "dense" else (w_init, std)
            if kind == "xavier_uniform":
                b = xavier_bound(p.shape)
                arr = rng.uniform(-b, b, size=p.shape)
            elif kind == "normal":
                arr = rng.normal(0.0, sd, size=p.shape)
            elif kind == "truncated_normal":
                arr = truncated_normal(rng, sd, p.shape)
            else:
                raise ValueError(f"unknown weight_init {kind!r}")
        elif p.init == "bias":
            arr = np.full(p.shape, bias)
        elif p.init == "zeros":
            arr = np.zeros(p.shape)
        elif p.init == "ones":
            arr = np.ones(p.shape)
        else:  # pragma: no cover - param_specs only emits the above
            raise ValueError(p.init)
        state[p.name] = arr.astype(np.float32)
    return state


def count_params(spec: dict) -> int:
    """Number of trainable scalars (BN running statistics excluded)."""
    return int(sum(np.prod(p.shape) for p in param_specs(spec) if p.trainable))


def check_state(spec: dict, state: dict) -> None:
    """Raise ValueError unless ``state`` has exactly the canonical names and shapes."""
    specs = {p.name: p for p in param_specs(spec)}
    missing = sorted(set(specs) - set(state))
    extra = sorted(set(state) - set(specs))
    if missing or extra:
        raise ValueError(f"state does not match the model: missing {missing}, unexpected {extra}")
    for name, p in specs.items():
        if tuple(np.shape(state[name])) != tuple(p.shape):
            raise ValueError(f"state[{name!r}] has shape {np.shape(state[name])}, expected {p.shape}")


def save_state(path: str | Path, state: dict) -> None:
    np.savez(path, **{k: np.asarray(v, dtype=np.float32) for k, v in state.items()})


def load_state(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}
