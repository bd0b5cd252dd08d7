"""Statistics of feature and logit tensors that torchmetrics does not provide: k-NN precision /
recall / density / coverage, mean pairwise distance (diversity), the seeded subsets they use, and
the predicted-class histogram. Pure tensor maths: no network, no files."""
from __future__ import annotations

import math

import numpy as np
import torch

from .mnist_net import NUM_CLASSES

KNN_K = 5              # precision/recall/density/coverage neighbourhood size
PRDC_MAX = 10_000      # samples per side for the k-NN metrics
DIVERSITY_N = 2000     # samples per side for the mean pairwise feature distance
COVERED_MIN_SHARE = 0.01


def _sq_dists(a: torch.Tensor, b: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances [len(a), len(b)] in float64 (a, b already float64)."""
    d = torch.addmm(b_sq.expand(a.shape[0], -1), a, b.T, beta=1.0, alpha=-2.0)
    return d.add_(a_sq[:, None]).clamp_min_(0.0)


def knn_sq_radii(x: torch.Tensor, k: int = KNN_K, chunk: int = 1000) -> torch.Tensor:
    """Squared distance of each row of x to its k-th nearest *other* row (float64)."""
    x = x.double()
    sq = (x * x).sum(1)
    out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
    for i in range(0, x.shape[0], chunk):
        d = _sq_dists(x[i : i + chunk], x, sq[i : i + chunk], sq)  # [c, N]
        rows = torch.arange(d.shape[0], device=x.device)
        d[rows, rows + i] = math.inf  # exclude the point itself
        out[i : i + chunk] = d.kthvalue(k, dim=1).values
    return out


def prdc(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int = KNN_K,
    real_r2: torch.Tensor | None = None,
    chunk: int = 1000,
) -> dict[str, float]:
    """Precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020).

    Same definitions as the reference ``prdc`` package: a point lies in a sample's
    k-NN ball when its distance is strictly smaller than that sample's distance to
    its k-th nearest neighbour (within its own set).
    """
    real, fake = real.double(), fake.double()
    if real_r2 is None:
        real_r2 = knn_sq_radii(real, k, chunk)
    fake_r2 = knn_sq_radii(fake, k, chunk)
    r_sq, f_sq = (real * real).sum(1), (fake * fake).sum(1)
    fake_in_real_balls = torch.zeros(fake.shape[0], dtype=torch.int64, device=fake.device)
    real_covered = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    real_recalled = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    for i in range(0, real.shape[0], chunk):
        d = _sq_dists(real[i : i + chunk], fake, r_sq[i : i + chunk], f_sq)  # [c, M]
        inside = d < real_r2[i : i + chunk, None]
        fake_in_real_balls += inside.sum(0)
        real_covered[i : i + chunk] = inside.any(1)
        real_recalled[i : i + chunk] = (d < fake_r2[None, :]).any(1)
    return {
        "precision": float((fake_in_real_balls > 0).double().mean()),
        "recall": float(real_recalled.double().mean()),
        "density": float(fake_in_real_balls.double().mean() / k),
        "coverage": float(real_covered.double().mean()),
    }


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over all unordered pairs of rows (float64)."""
    return float(torch.nn.functional.pdist(x.double()).mean())  # exact: identical rows give 0


def subset_indices(n: int, m: int, seed: int, salt: int) -> np.ndarray:
    """Sorted seeded subset of m of range(n) (all of it when m >= n)."""
    if m >= n:
        return np.arange(n)
    rng = np.random.default_rng([seed, salt])
    return np.sort(rng.choice(n, size=m, replace=False))


def class_stats(logits: torch.Tensor) -> tuple[list[float], int, float]:
    """(shares of the predicted classes [NUM_CLASSES], classes holding >= COVERED_MIN_SHARE,
    KL(histogram || uniform)) of logits [N, NUM_CLASSES]."""
    pred = logits.argmax(1).cpu()
    counts = torch.bincount(pred, minlength=NUM_CLASSES).double()
    hist = counts / counts.sum()
    covered = int((hist >= COVERED_MIN_SHARE).sum())
    nz = hist[hist > 0]
    kl = float((nz * (nz * NUM_CLASSES).log()).sum())  # KL(hist || uniform)
    return [float(v) for v in hist], covered, max(kl, 0.0)
