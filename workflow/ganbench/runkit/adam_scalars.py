"""Adam's step-dependent scalars, computed once for every framework.

The impls' Adam (the paper's Algorithm 1, eps outside the bias-corrected sqrt(v)) moves a weight by
``neg_step * m / (sqrt(v) / bc2_sqrt + eps)`` with ``neg_step = -lr / (1 - b1^t)`` and
``bc2_sqrt = sqrt(1 - b2^t)``. Both are computed here in float64 on the host and enter a compiled
step as float32 inputs, so one compiled step serves every step count t.
"""
from __future__ import annotations

import numpy as np


def bias_scalars(lr: float, beta1: float, beta2: float, first_step: int, n: int) -> np.ndarray:
    """float64 ``[n, 2]``: (neg_step, bc2_sqrt) for t = first_step .. first_step + n - 1."""
    t = np.arange(first_step, first_step + n, dtype=np.float64)
    return np.stack([-lr / (1.0 - beta1**t), (1.0 - beta2**t) ** 0.5], axis=1)


def chunk_bias_scalars(spec: dict, d_updates_done: int, g_updates_done: int, k: int) -> np.ndarray:
    """float32 ``[k, d_steps + g_steps, 2]``: the scalars of every Adam update of the next ``k``
    iterations, D's updates of an iteration first, then G's (each optimiser counts its own steps)."""
    rows = []
    for net, done, per_iter in (("d", d_updates_done, spec["d_steps"]), ("g", g_updates_done, spec["g_steps"])):
        o = spec["optim"][net]
        rows.append(bias_scalars(o["lr"], o["beta1"], o["beta2"], done + 1, k * per_iter).reshape(k, per_iter, 2))
    return np.concatenate(rows, axis=1).astype(np.float32)
