"""Adam as in the Adam paper's Algorithm 1 / torch.optim.Adam (eps added to the
bias-corrected sqrt(v)), run with TensorFlow's fused ``ResourceApplyAdam`` kernel
and fed constants that make it compute PyTorch's update (impls/pytorch/adam.py).

The PyTorch twin computes, in float32 with float32 constants,
``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2`` and
``p -= (lr / bc1) * m / (sqrt(v) / bc2 + eps)`` with ``bc1 = 1 - b1^t`` and
``bc2 = sqrt(1 - b2^t)`` from float64 on the host. The fused kernel computes
``m += (g - m) * (1 - b1)``, ``v += (g^2 - v) * (1 - b2)`` with ``1 - b`` formed
*in float32* from float32 ``b``, then ``p -= alpha * m / (sqrt(v) + eps_hat)``,
``alpha = lr_in * sqrt(1 - b2_power) / (1 - b1_power)``. Both moment updates
decay by the same float32 ``b``; only the weight of the new gradient differs:
``c1 = f32(1 - b1) / (1 - f32(b1))`` and ``c2 = f32(1 - b2) / (1 - f32(b2))``
(``1 - f32(0.999) = 0.00099998713``: c2 = 1 + 1.29e-5), so at every step
``m_torch = c1 m_tf`` and ``v_torch = c2 v_tf`` exactly (up to round-off).
Substituting gives PyTorch's update from the kernel's moments when

    alpha   = lr * bc2 / bc1 * c1 / sqrt(c2)
    eps_hat = eps * bc2 / sqrt(c2)

computed in float64 each step; ``lr_in`` is alpha divided by the factor the
kernel will multiply it by (from the float32 beta powers it receives), so the
kernel's float32 alpha equals the float64 one to round-off. Without the c1/c2
correction every step is ``1/sqrt(c2) - 1 = 6.4e-6`` too large relative to the
float64 reference (tests/test_twins.py::test_adam_matches_float64_reference).
One fused kernel per variable keeps the graph small (fast tracing, few kernel
launches on GPU), like PyTorch's foreach Adam.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def weight_ratio(beta: float) -> float:
    """f32(1 - beta) / (1 - f32(beta)): PyTorch's weight of the new gradient over the fused kernel's."""
    return float(np.float32(1.0 - beta)) / (1.0 - float(np.float32(beta)))


class PaperAdam(tf.Module):
    def __init__(self, variables, lr: float, beta1: float, beta2: float, eps: float, name: str = "adam"):
        super().__init__(name=name)
        self.lr, self.b1, self.b2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.c1, self.c2 = weight_ratio(self.b1), weight_ratio(self.b2)
        self.t = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name="m") for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name="v") for v in variables]

    def _scalars(self):
        t = tf.cast(self.t.assign_add(1), tf.float64)
        b1p = tf.pow(tf.constant(self.b1, tf.float64), t)
        b2p = tf.pow(tf.constant(self.b2, tf.float64), t)
        b1p32, b2p32 = tf.cast(b1p, tf.float32), tf.cast(b2p, tf.float32)
        bc2 = tf.sqrt(1.0 - b2p)
        alpha = self.lr * bc2 / (1.0 - b1p) * (self.c1 / self.c2**0.5)
        # what the kernel multiplies lr by, from the float32 powers it receives
        kernel_factor = tf.sqrt(1.0 - tf.cast(b2p32, tf.float64)) / (1.0 - tf.cast(b1p32, tf.float64))
        lr_in = tf.cast(alpha / kernel_factor, tf.float32)
        eps_hat = tf.cast(self.eps * bc2 / self.c2**0.5, tf.float32)
        return b1p32, b2p32, lr_in, eps_hat

    def apply(self, grads, variables) -> None:
        b1p, b2p, lr_in, eps_hat = self._scalars()
        b1, b2 = tf.constant(self.b1, tf.float32), tf.constant(self.b2, tf.float32)
        for g, var, m, v in zip(grads, variables, self.m, self.v):
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=b1p,
                                         beta2_power=b2p, lr=lr_in, beta1=b1, beta2=b2, epsilon=eps_hat,
                                         grad=g, use_locking=False)
