"""nn.Linear whose matmuls can run on oneDNN on the CPU (the whole-step-captured engine's choice).

PyTorch's CPU ``F.linear`` and its backward call MKL's sgemm. At this suite's sizes
(batch 64-128 x 100-784 x 128) MKL reaches ~100 GFLOP/s on one core of the AMD EPYC
this suite is developed on, oneDNN ~180 (TensorFlow's Eigen kernels ~200), and the
BasicGAN iteration is almost nothing but these matmuls (15 per iteration of 64 x 784 x 128):
with MKL the whole-step-captured BasicGAN ran 1.8x slower than TensorFlow's.

:class:`Linear` keeps nn.Linear's parameters, init and state-dict names. With ``onednn`` on
(:func:`use_onednn`; the engine turns it on for the captured step on the CPU) it computes the
forward ``x W^T + b`` and both backward products (``dy W``, ``dy^T x``) of 2-D float32 CPU
inputs with oneDNN's inner-product primitive (``torch.ops.mkldnn._linear_pointwise``, which
takes the transposed views without copies); otherwise it is plain ``F.linear`` (eager runs
and the twin tests stay on MKL). ``GANBENCH_TORCH_ONEDNN_LINEAR=0`` keeps MKL everywhere.
Eager, the autograd.Function's own overhead eats the gain; captured, it is one graph node.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F


def onednn_enabled() -> bool:
    return (os.environ.get("GANBENCH_TORCH_ONEDNN_LINEAR", "1") != "0" and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


@torch.library.custom_op("ganbench::onednn_mm_t", mutates_args=())
def onednn_mm_t(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """a @ b^T (+ bias) on oneDNN. Its own op: Inductor's lowering of the oneDNN op itself wants
    frozen, pre-packed weights (inference), so a captured training step names this one instead."""
    return torch.ops.mkldnn._linear_pointwise(a, b, bias, "none", [], "")


@onednn_mm_t.register_fake
def _(a, b, bias):
    return a.new_empty((a.shape[0], b.shape[0]))


_LOWERED = False


def _lower_to_onednn() -> None:
    """Have Inductor call the oneDNN op directly for ``ganbench::onednn_mm_t`` (an extern kernel,
    as for any op it does not generate code for) instead of going through this module's Python
    body at every call (~10 us each, 30 calls per BasicGAN iteration). Inductor's lowering API is
    internal; torch is pinned (requirements.txt), and tests/test_compiled_step.py checks the result."""
    global _LOWERED
    if _LOWERED:
        return
    import torch.utils._pytree as pytree
    from torch._inductor import ir
    from torch._inductor.lowering import add_needs_realized_inputs, register_lowering

    op = torch.ops.ganbench.onednn_mm_t.default
    add_needs_realized_inputs(op)

    @register_lowering(op, type_promotion_kind=None)
    def _extern(a, b, bias):
        out = ir.FallbackKernel.create(torch.ops.mkldnn._linear_pointwise.default, a, b, bias, "none", [], "")
        return pytree.tree_map(ir.TensorBox.create, out)

    _LOWERED = True


def use_onednn(*modules: nn.Module) -> bool:
    """Route every :class:`Linear` in ``modules`` through oneDNN (CPU, float32, 2-D inputs) and
    lower the op for Inductor; False (nothing changed) when oneDNN is unavailable or switched off."""
    if not onednn_enabled():
        return False
    _lower_to_onednn()
    for module in modules:
        for m in module.modules():
            if isinstance(m, Linear):
                m.onednn = True
    return True


def _mm_t(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    return onednn_mm_t(a, b, bias)


class OneDnnLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(x, weight, bias):
        return _mm_t(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias = inputs
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dx = _mm_t(dy, weight.t()) if ctx.needs_input_grad[0] else None        # dy W
        dw = _mm_t(dy.t(), x.t()) if ctx.needs_input_grad[1] else None         # dy^T x
        db = dy.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db


class Linear(nn.Linear):
    """nn.Linear on oneDNN for 2-D float32 CPU inputs (see the module doc); F.linear otherwise."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.onednn = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.onednn and x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 2:
            return OneDnnLinearFunction.apply(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)
