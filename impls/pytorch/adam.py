"""Adam exactly as in the Adam paper's Algorithm 1 / torch.optim.Adam (eps outside the
bias-corrected sqrt(v)); the TensorFlow impl implements the same expression."""
from __future__ import annotations

import torch


class PaperAdam(torch.optim.Optimizer):
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
    p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    Bias corrections are computed in float64 on the host from the step count
    (a Python int, so no device sync); tensor updates use torch._foreach ops.
    """

    def __init__(self, params, lr: float, beta1: float, beta2: float, eps: float):
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            ps = [p for p in group["params"] if p.grad is not None]
            if not ps:
                continue
            lr, b1, b2, eps = group["lr"], group["beta1"], group["beta2"], group["eps"]
            for p in ps:
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["step"] += 1
            t = self.state[ps[0]]["step"]
            paper_adam_update(ps, [p.grad for p in ps], [self.state[p]["exp_avg"] for p in ps],
                              [self.state[p]["exp_avg_sq"] for p in ps], lr, b1, b2, eps, t)
        return None

    def init_state(self) -> None:
        """Create every parameter's state (step 0, zero moments) up front, as the captured step
        needs (its graph reads and writes the moments in place; an unstepped state has step 0)."""
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


@torch.no_grad()
def paper_adam_update(ps, grads, ms, vs, lr: float, b1: float, b2: float, eps: float, t: int) -> None:
    """:meth:`PaperAdam.step`'s update of the tensors ``ps`` at step ``t`` (already counted), in place;
    the seed-group engine calls it on weights stacked over seeds (every op is elementwise)."""
    torch._foreach_mul_(ms, b1)
    torch._foreach_add_(ms, grads, alpha=1.0 - b1)
    torch._foreach_mul_(vs, b2)
    torch._foreach_addcmul_(vs, grads, grads, value=1.0 - b2)
    bc1 = 1.0 - b1**t
    bc2_sqrt = (1.0 - b2**t) ** 0.5
    denom = torch._foreach_sqrt(vs)
    torch._foreach_div_(denom, bc2_sqrt)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(ps, ms, denom, value=-lr / bc1)


@torch.no_grad()
def captured_update(params, grads, ms, vs, beta1: float, beta2: float, eps: float,
                    neg_step: torch.Tensor, bc2_sqrt: torch.Tensor) -> None:
    """PaperAdam's update as plain tensor ops, for a whole-step ``torch.compile`` graph: the same
    expression as :meth:`PaperAdam.step`, with the step-dependent scalars ``neg_step = -lr / bc1``
    and ``bc2_sqrt`` passed in as 0-dim float32 tensors (computed by runkit.chunk_bias_scalars), so
    the graph does not depend on the step count; the caller keeps the step count."""
    torch._foreach_mul_(ms, beta1)
    torch._foreach_add_(ms, grads, alpha=1.0 - beta1)
    torch._foreach_mul_(vs, beta2)
    torch._foreach_addcmul_(vs, grads, grads, value=1.0 - beta2)
    denom = torch._foreach_sqrt(vs)
    torch._foreach_div_(denom, bc2_sqrt)
    torch._foreach_add_(denom, eps)
    upd = torch._foreach_div(ms, denom)
    torch._foreach_mul_(upd, neg_step)
    torch._foreach_add_(params, upd)
