"""Scoring a set of samples: every metric of metrics.json for images as the evaluator takes them
(:func:`score_images`), computed in one evaluator network's feature space
(:func:`network_scores`), plus the MNIST family's optional Inception-v3 extras."""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .images import (
    INCEPTION_ONLY,
    MNIST_FAMILY,
    EvaluationError,
    check_scored_images,
    load_real_test_images,
    reference_view,
    to_rgb,
)
from .inception_net import InceptionWeightsError
from .mnist_net import EvaluatorFeatures, ForwardMemo
from .networks import Evaluator, batches, dataset_evaluator, default_device, inception_evaluator, to_nchw
from .prdc import (
    COVERED_MIN_SHARE,
    DIVERSITY_N,
    KNN_K,
    PRDC_MAX,
    class_stats,
    mean_pairwise_distance,
    prdc,
    subset_indices,
)
from .reference import fid_metric, quiet_torchmetrics, reference_stats

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
IS_SPLITS = 10

METRIC_NAMES = (
    "fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall", "density",
    "coverage", "classes_covered", "class_kl", "diversity", "fid_inception",
    "is_inception_mean", "is_inception_std",
)
INCEPTION_METRICS = ("fid_inception", "is_inception_mean", "is_inception_std")
CLASS_METRICS = ("classes_covered", "class_kl")
NO_CLASSES = "CelebA has no classes"


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch's global RNG (used by torchmetrics' KID/IS) without leaking the state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# --------------------------------------------------------------------------- one network's scores


def network_scores(evaluator: Evaluator, images: np.ndarray, real: np.ndarray, view: str,
                   cache_dir: str | Path | None, seed: int, dataset: str) -> tuple[dict, torch.Tensor, dict]:
    """Score ``images`` against ``real`` (both uint8 NHWC, as the network takes them) in the
    evaluator's feature space: ({fid, kid_*, is_*, precision, recall, density, coverage,
    diversity}, the samples' logits, the sample counts used).

    FID, KID and IS are torchmetrics' with the network as custom feature module; each batch
    goes through the network once (a shared :class:`ForwardMemo`), and the k-NN metrics and the
    diversity reuse those features. The real side comes from :func:`reference_stats`.
    """
    ref = reference_stats(evaluator, real, cache_dir, view, dataset)
    n, n_real = images.shape[0], real.shape[0]
    memo = ForwardMemo(evaluator.net)  # one forward per batch, shared by FID, KID, IS and the k-NN metrics
    subset_size = min(KID_SUBSET_SIZE, n, n_real)
    fid, kid, isc = _torchmetrics_against(ref, evaluator, memo, subset_size)
    feats, logits = _feed_samples(images, evaluator, memo, (fid, kid, isc))  # [N, F], [N, K]
    values = _compute_seeded(fid, kid, isc, seed, evaluator.device)
    m, knn_values = _knn_scores(ref, feats, n_real, seed, evaluator.device)
    values.update(knn_values)
    counts = {"prdc_n": int(m), "kid_subset_size": int(subset_size), "diversity_n": int(min(n, DIVERSITY_N))}
    return values, logits, counts


def _torchmetrics_against(ref: dict[str, torch.Tensor], evaluator: Evaluator, memo: ForwardMemo,
                          subset_size: int):
    """torchmetrics' FID, KID and IS with the evaluator (through ``memo``) as feature module,
    their real side already loaded from the reference statistics: (fid, kid, isc)."""
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    device, net = evaluator.device, evaluator.net
    with quiet_torchmetrics():
        fid = fid_metric(EvaluatorFeatures(net, "features", memo)).to(device)
        kid = KernelInceptionDistance(feature=EvaluatorFeatures(net, "features", memo), subsets=KID_SUBSETS,
                                      subset_size=subset_size, reset_real_features=False).to(device)
        isc = InceptionScore(feature=EvaluatorFeatures(net, "logits", memo), splits=IS_SPLITS).to(device)
    # Real side from the cache (torchmetrics' own state layout), fake side through the network.
    fid.real_features_sum = ref["fid_sum"].clone()
    fid.real_features_cov_sum = ref["fid_cov_sum"].clone()
    fid.real_features_num_samples = ref["fid_n"].clone()
    kid.real_features = [ref["features"]]
    return fid, kid, isc


def _feed_samples(images: np.ndarray, evaluator: Evaluator, memo: ForwardMemo,
                  metrics: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Update FID, KID and IS with the samples (uint8 NHWC) batch by batch; their (features [N, F],
    logits [N, K]) from the same forwards."""
    fid, kid, isc = metrics
    feat_batches, logit_batches = [], []
    for xb in batches(to_nchw(images), evaluator.device, evaluator.batch):  # uint8 [B, C, H, W]
        fid.update(xb, real=False)
        kid.update(xb, real=False)
        isc.update(xb)
        f, l = memo(xb)  # the forward the three updates ran, not another one
        feat_batches.append(f)
        logit_batches.append(l)
    return torch.cat(feat_batches), torch.cat(logit_batches)


def _compute_seeded(fid, kid, isc, seed: int, device: torch.device) -> dict[str, float]:
    """{fid, kid_mean, kid_std, is_mean, is_std}; each computed from the same seed (KID's subsets
    and IS's split order are random), so one metric's draws never shift another's."""
    with seeded(seed, device):
        fid_value = float(fid.compute())
    with seeded(seed, device):
        kid_mean, kid_std = (float(v) for v in kid.compute())
    with seeded(seed, device):
        is_mean, is_std = (float(v) for v in isc.compute())
    return {"fid": fid_value, "kid_mean": kid_mean, "kid_std": kid_std, "is_mean": is_mean, "is_std": is_std}


def _knn_scores(ref: dict[str, torch.Tensor], feats: torch.Tensor, n_real: int, seed: int,
                device: torch.device) -> tuple[int, dict[str, float]]:
    """(samples per side m, {precision, recall, density, coverage, diversity}) of the samples'
    features [N, F] against the reference's."""
    n = feats.shape[0]
    # k-NN metrics on equally many real and fake samples (<= PRDC_MAX each).
    m = min(n, n_real, PRDC_MAX)
    fake_idx = torch.from_numpy(subset_indices(n, m, seed, 0)).to(device)
    if m == n_real and ref["knn_r2"].numel() == n_real:  # the whole reference: its cached radii
        real_feats, real_r2 = ref["features"], ref["knn_r2"]
    else:
        real_idx = torch.from_numpy(subset_indices(n_real, m, seed, 1)).to(device)
        real_feats, real_r2 = ref["features"][real_idx], None
    pr = prdc(real_feats, feats[fake_idx], KNN_K, real_r2)

    div_idx = torch.from_numpy(subset_indices(n, DIVERSITY_N, seed, 3)).to(device)
    diversity = mean_pairwise_distance(feats[div_idx]) / float(ref["pairdist_mean"])
    return m, {**pr, "diversity": diversity}


# --------------------------------------------------------------------------- Inception-v3 extras


def inception_metrics(images: np.ndarray, real: np.ndarray, weights: str | Path | None,
                      cache_dir: str | Path | None, seed: int, device: torch.device, view: str = "plain",
                      dataset: str = "mnist"):
    """The MNIST family's optional Inception-v3 FID / IS (grayscale repeated to RGB):
    ({metric: value}, {metric: extractor}, {metric: skip reason}); never an error."""
    try:
        evaluator = inception_evaluator(weights, device)
    except InceptionWeightsError as exc:
        return inception_skipped("inception-v3-tf", str(exc))
    try:
        values, _, _ = network_scores(evaluator, to_rgb(images), to_rgb(real), view, cache_dir, seed, dataset)
    except Exception as exc:  # noqa: BLE001 - e.g. out of memory: the small network's numbers still stand
        return inception_skipped(evaluator.name, f"Inception-v3 ({evaluator.name}) failed: "
                                                 f"{type(exc).__name__}: {exc}".replace("\n", " "))
    named = {"fid_inception": values["fid"], "is_inception_mean": values["is_mean"],
             "is_inception_std": values["is_std"]}
    return named, dict.fromkeys(INCEPTION_METRICS, evaluator.name), {}


def inception_skipped(name: str, reason: str):
    return (dict.fromkeys(INCEPTION_METRICS), dict.fromkeys(INCEPTION_METRICS, name),
            dict.fromkeys(INCEPTION_METRICS, reason))


def device_settings(device: torch.device, inception_device: torch.device | None) -> dict:
    """Where the networks ran: settings.device (the dataset's evaluator), settings.inception_device
    (Inception-v3; None when it did not run) and, for a GPU, its name."""
    out = {"device": str(device), "inception_device": None if inception_device is None else str(inception_device)}
    for d in {device, inception_device} - {None}:
        if d.type == "cuda" and torch.cuda.is_available():
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
            out["gpu"] = f"{torch.cuda.get_device_name(d)} (CUDA_VISIBLE_DEVICES={visible})"
    return out


# --------------------------------------------------------------------------- metrics.json


@dataclass
class _Scored:
    """What one dataset's scoring path found, before it is laid out as metrics.json."""

    evaluator: Evaluator        # the network behind the main metrics
    values: dict                # metric name -> value (or None), every one of METRIC_NAMES
    counts: dict                # sample counts used (network_scores)
    extractor: dict             # metric name -> "<network>:<sha8>"
    skipped: dict               # metric name -> why it is null
    hist: list[float] | None    # predicted-class shares; None without classes
    devices: dict               # device_settings


def score_images(
    images: np.ndarray,
    data_path: str | Path,
    cache_dir: str | Path | None,
    seed: int = 0,
    image_size: int = 28,
    inception_weights: str | Path | None = None,
    dataset: str = "mnist",
    device: str | torch.device | None = None,
    inception: bool = True,
    inception_device: str | torch.device | None = None,
) -> dict:
    """Score samples as the evaluator takes them; returns the metrics.json dict.

    MNIST family: uint8 [N, 28, 28, 1] (or [N, 28, 28]), already at 28x28 (see
    :func:`to_mnist_resolution`); ``image_size`` is the resolution they were generated at,
    which picks the real reference view (:func:`reference_view`). The dataset's network runs
    on ``device``; the optional Inception-v3 extras (``inception=True``) on ``inception_device``.

    CelebA: uint8 [N, S, S, 3], S = ``image_size`` (32 or 64), scored with Inception-v3 from
    ``inception_weights`` (else $GANBENCH_INCEPTION_WEIGHTS, else the torch hub cache) on
    ``inception_device`` (default ``device``); no weight file is an error.

    ``cache_dir=None`` computes the reference without caching.
    """
    t0 = time.time()
    images = check_scored_images(images, image_size, dataset)
    device = torch.device(device) if device is not None else default_device()
    inc_device = torch.device(inception_device) if inception_device is not None else device
    real, view = reference_view(load_real_test_images(data_path, dataset), int(image_size), dataset)
    if dataset in INCEPTION_ONLY:
        scored = _score_inception_only(images, real, view, cache_dir, seed, dataset, inception_weights, inc_device)
    else:
        scored = _score_mnist_family(images, real, view, cache_dir, seed, dataset, device, inception,
                                     inception_weights, inc_device)
    return _metrics_json(scored, images.shape[0], real.shape[0], dataset, view, image_size, seed, t0)


def _score_inception_only(images, real, view, cache_dir, seed, dataset, inception_weights,
                          inc_device) -> _Scored:
    """CelebA: every metric from Inception-v3, whose weight file is required; no classes."""
    try:
        evaluator = inception_evaluator(inception_weights, inc_device)
    except InceptionWeightsError as exc:
        raise EvaluationError(f"{dataset} is scored with Inception-v3: {exc}") from exc
    values, _, counts = network_scores(evaluator, images, real, view, cache_dir, seed, dataset)
    values.update(dict.fromkeys(CLASS_METRICS + INCEPTION_METRICS))
    skipped = {**dict.fromkeys(CLASS_METRICS, NO_CLASSES),
               **dict.fromkeys(INCEPTION_METRICS, f"{dataset} is scored with Inception-v3 throughout: "
                                                  "see fid, is_mean, is_std")}
    return _Scored(evaluator, values, counts, dict.fromkeys(METRIC_NAMES, evaluator.name), skipped,
                   None, device_settings(evaluator.device, evaluator.device))


def _score_mnist_family(images, real, view, cache_dir, seed, dataset, device, inception, inception_weights,
                        inc_device) -> _Scored:
    """MNIST family: the dataset's network, its class statistics, and the optional Inception-v3
    extras (``inception``; null with the reason when they cannot or should not run)."""
    evaluator = dataset_evaluator(dataset, device)
    values, logits, counts = network_scores(evaluator, images, real, view, cache_dir, seed, dataset)
    hist, values["classes_covered"], values["class_kl"] = class_stats(logits)
    if inception:
        inc_values, inc_extractors, skipped = inception_metrics(
            images, real, inception_weights, cache_dir, seed, inc_device, view, dataset)
    else:
        inc_values, inc_extractors, skipped = inception_skipped(
            "inception-v3-tf", "not computed for learning-curve points")
    values.update(inc_values)
    extractor = {name: inc_extractors.get(name, evaluator.name) for name in METRIC_NAMES}
    devices = device_settings(evaluator.device, inc_device if inception and not skipped else None)
    return _Scored(evaluator, values, counts, extractor, skipped, hist, devices)


def _metrics_json(scored: _Scored, n: int, n_real: int, dataset: str, view: str, image_size: int, seed: int,
                  t0: float) -> dict:
    """The metrics.json dict (key order included) of one score_images call started at ``t0``."""
    counts = scored.counts
    return {
        "metrics": {name: scored.values[name] for name in METRIC_NAMES},
        "extractor": scored.extractor,
        "skipped": scored.skipped,
        "class_hist": scored.hist,
        "n_samples": int(n),
        "n_real": int(n_real),
        "evaluator_sha256": scored.evaluator.sha,
        "settings": {
            "dataset": dataset, "reference": f"{dataset} test split ({view})", "image_size": int(image_size),
            "seed": int(seed), **scored.devices, "knn_k": KNN_K, "prdc_n": counts["prdc_n"],
            "kid_subsets": KID_SUBSETS, "kid_subset_size": counts["kid_subset_size"],
            "is_splits": IS_SPLITS, "diversity_n": counts["diversity_n"],
            "covered_min_share": COVERED_MIN_SHARE if dataset in MNIST_FAMILY else None,
        },
        "seconds": round(time.time() - t0, 3),
    }
