"""Adam exactly as impls/pytorch/adam.py PaperAdam (the Adam paper's Algorithm 1, eps outside the
bias-corrected sqrt(v)), as pure functions over pytrees of float32 arrays.

    m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
    p += (-lr / (1 - b1^t)) * (m / (sqrt(v) / sqrt(1 - b2^t) + eps))

The step-dependent scalars ``neg_step = -lr / (1 - b1^t)`` and ``bc2_sqrt = sqrt(1 - b2^t)``
are computed in float64 on the host (runkit.adam_scalars, as PyTorch's PaperAdam does) and
enter the traced step as float32 inputs, so one compiled step serves every t. b1, b2, 1-b1,
1-b2 and eps are Python floats, i.e. float32 constants in the graph, as in PyTorch's kernels.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def init(params):
    """Zero moments for every leaf of ``params``."""
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"m": zeros, "v": jax.tree_util.tree_map(jnp.zeros_like, params)}


def update(params, grads, state, hyper: dict, neg_step, bc2_sqrt):
    """One Adam step; returns (params, state). ``hyper``: beta1, beta2, eps (lr is in neg_step)."""
    b1, b2, eps = hyper["beta1"], hyper["beta2"], hyper["eps"]
    m = jax.tree_util.tree_map(lambda m, g: m * b1 + (1.0 - b1) * g, state["m"], grads)
    v = jax.tree_util.tree_map(lambda v, g: v * b2 + (1.0 - b2) * g * g, state["v"], grads)
    params = jax.tree_util.tree_map(
        lambda p, m, v: p + neg_step * (m / (jnp.sqrt(v) / bc2_sqrt + eps)), params, m, v)
    return params, {"m": m, "v": v}
