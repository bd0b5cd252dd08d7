"""How much gradient reaches G's first layer, measured the same way for every impl.

The notebook's claim "a leaky ReLU lets gradients flow" is about the gradient that reaches
G's first layer through ReLU units that are off. At every logged step the loop hands this
module the run's canonical weights (``engine.export_state()``), and it computes, in float64
numpy on a fixed probe batch of noise (drawn once from the ``probe`` stream):

* ``g_grad_norm``: the Frobenius norm of the gradient of G's loss (the run's ``g_loss``, batch
  mean, logits form) with respect to G's first-layer kernel ``G/fc1/kernel``;
* ``g_dead_frac``: the share of G's hidden units whose pre-activation is <= 0 for every probe
  sample: with ReLU no gradient passes them (dead units); with a leaky ReLU the slope
  ``leaky_slope`` still does.

BasicGAN only (``G z -> hidden -> image``, ``D image -> hidden -> logit``, runkit.params); the
DCGAN has no hidden MLP layer, and both values are NaN for it, as for ``probe_size: 0``.
Being framework-neutral, the measure cannot differ between impls by construction; a test
checks it against PyTorch's autograd.
"""
from __future__ import annotations

import math

import numpy as np

from . import data as rdata


def _act(pre: np.ndarray, arch: dict) -> tuple[np.ndarray, np.ndarray]:
    """(activation, its derivative) of the hidden layers."""
    slope = arch["leaky_slope"] if arch["hidden_activation"] == "leaky_relu" else 0.0
    on = pre > 0
    return np.where(on, pre, slope * pre), np.where(on, 1.0, slope)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def g_first_layer_gradient(state: dict, spec: dict, z: np.ndarray) -> tuple[float, float]:
    """(||dL_G / dW1||_F, share of G's hidden units off for every row of ``z``) at ``state``."""
    arch = spec["arch"]
    w = {k: np.asarray(state[k], np.float64) for k in
         ("G/fc1/kernel", "G/fc1/bias", "G/fc2/kernel", "G/fc2/bias",
          "D/fc1/kernel", "D/fc1/bias", "D/fc2/kernel", "D/fc2/bias")}
    z = np.asarray(z, np.float64)
    pre1 = z @ w["G/fc1/kernel"] + w["G/fc1/bias"]
    h1, dh1_dpre = _act(pre1, arch)
    a2 = h1 @ w["G/fc2/kernel"] + w["G/fc2/bias"]
    if arch["output"] == "tanh":
        x = np.tanh(a2)
        dx_da2 = 1.0 - x * x
    else:
        x = _sigmoid(a2)
        dx_da2 = x * (1.0 - x)
    pre_d = x @ w["D/fc1/kernel"] + w["D/fc1/bias"]
    hd, dhd_dpre = _act(pre_d, arch)
    logit = (hd @ w["D/fc2/kernel"] + w["D/fc2/bias"])[:, 0]
    n = len(z)
    # nonsaturating: L = mean softplus(-logit), dL/dlogit = -sigmoid(-logit) / n
    # minimax:       L = -mean softplus(logit), dL/dlogit = -sigmoid(logit) / n
    sign = -1.0 if spec["g_loss"] == "nonsaturating" else 1.0
    d_logit = -_sigmoid(sign * logit) / n
    d_pre_d = (d_logit[:, None] @ w["D/fc2/kernel"].T) * dhd_dpre
    d_a2 = (d_pre_d @ w["D/fc1/kernel"].T) * dx_da2
    d_pre1 = (d_a2 @ w["G/fc2/kernel"].T) * dh1_dpre
    grad_w1 = z.T @ d_pre1
    dead = float(np.mean(np.all(pre1 <= 0, axis=0)))
    return float(np.sqrt(np.sum(grad_w1 * grad_w1))), dead


class GradientFlow:
    """The fixed probe noise of a run and :func:`g_first_layer_gradient` at each logged step."""

    def __init__(self, spec: dict, rng: np.random.Generator):
        self.spec = spec
        n = spec.get("probe_size", 0)
        self.z = (rdata.sample_noise(rng, spec["prior"], (n, spec["z_dim"]))
                  if spec["model"] == "basic" and n > 0 else None)

    def measure(self, engine) -> tuple[float, float]:
        if self.z is None:
            return math.nan, math.nan
        return g_first_layer_gradient(engine.export_state(), self.spec, self.z)
