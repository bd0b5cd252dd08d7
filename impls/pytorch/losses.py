"""The GAN losses of the PyTorch engines (single-seed and seed group), from D's logits.

Shared by ``engine.Engine`` and ``seed_group.SeedGroupEngine`` through :class:`GanLosses`, which
reads ``self.spec`` and ``self._loss_scale`` (runkit.loss_scale)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


class GanLosses:
    # Losses from logits as softplus terms, BCE(x, y) = y softplus(-x) + (1 - y) softplus(x), written
    # identically in both twins: their gradients (-y sigmoid(-x) + (1 - y) sigmoid(x)) never form
    # 1 - sigmoid(x) by cancellation, which binary_cross_entropy_with_logits' backward does (sigmoid(x) - y)
    # and TensorFlow's does not: a relative difference of ~1e-4 once D is confident.
    # loss_form "probability": the sources' log(D(x)) with D(x) = sigmoid(x) in float32 (log(0) = -inf
    # once sigmoid saturates). loss_reduction "sum": batch_size x the mean (the summed terms).
    def _neg_log_d(self, x):  # -log D(x)
        if self.spec["loss_form"] == "probability":
            return -torch.log(torch.sigmoid(x))
        return F.softplus(-x)

    def _neg_log_1m_d(self, x):  # -log(1 - D(x))
        if self.spec["loss_form"] == "probability":
            return -torch.log(1.0 - torch.sigmoid(x))
        return F.softplus(x)

    def _d_loss(self, logits_real, logits_fake):
        """(loss to minimise, its batch mean for the log)."""
        s = self.spec["label_smoothing"]
        real = s * self._neg_log_d(logits_real)
        if s != 1.0:
            real = real + (1.0 - s) * self._neg_log_1m_d(logits_real)
        mean = real.mean() + self._neg_log_1m_d(logits_fake).mean()
        return mean * self._loss_scale, mean

    def _g_loss(self, logits_fake):
        if self.spec["g_loss"] == "nonsaturating":  # -log D(G(z))
            mean = self._neg_log_d(logits_fake).mean()
        else:  # minimax: log(1 - D(G(z)))
            mean = -self._neg_log_1m_d(logits_fake).mean()
        return mean * self._loss_scale, mean
