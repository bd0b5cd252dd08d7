"""Score one run's samples with the suite's framework-neutral evaluator.

    python -m ganbench.metrics.evaluate --run-dir results/<study>/runs/<run_id> \
        --data results/data/mnist.npz --cache-dir results/cache \
        --out results/<study>/runs/<run_id>/metrics.json [--seed 0] [--inception-weights PATH]

Reads ``spec.json`` and ``samples.npz`` (``images``: uint8 [N, H, W, C]) from the run
folder and scores the images against the dataset's test split, all in the feature space
of one *evaluator network* (:class:`Evaluator`):

* MNIST / Fashion-MNIST: the dataset's committed network (``mnist-net`` / ``fashion-mnist-net``,
  ganbench.metrics.mnist_net), on images mapped back to 28x28 (:func:`to_mnist_resolution`); FID, KID,
  Inception Score (its logits), precision/recall (k-NN manifolds, k=5), density/coverage,
  predicted-class histogram, classes covered, KL from uniform and feature diversity -- all
  from ``<network>:<sha8>``. FID / IS with the standard Inception-v3
  (``fid_inception``, ``is_inception_*``) are added when its weight file is present locally;
  otherwise they are null with the reason under ``skipped``.
* CelebA (64x64 RGB): Inception-v3 only (ganbench.metrics.inception_net: 2048-d pool features, 1008
  unbiased logits, ``inception-v3-tf:<sha8>``), at the run's resolution against the test
  split at that resolution; the same metric names, ``classes_covered`` / ``class_kl`` null
  ("CelebA has no classes"). Its weight file is required.

Nothing is ever downloaded. The JSON is written atomically. Any bad input ends the process
with status 2 and a one-line ``error: ...`` on stderr. See workflow/ganbench/metrics/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganbench.metrics.inception_net import InceptionWeightsError, load_inception_net
from ganbench.metrics.inception_weights import INCEPTION_ENV, INCEPTION_HUB_NAMES, find_inception_weights  # noqa: F401
from ganbench.metrics.inception_weights import INCEPTION_ONLY_DATASETS as INCEPTION_ONLY  # scored with Inception-v3 only
from ganbench.metrics.mnist_net import (
    NUM_CLASSES,
    EvaluatorWeightsError,
    ForwardMemo,
    EvaluatorFeatures,
    evaluator_info,
    load_mnist_net,
)

MNIST_FAMILY = ("mnist", "fashion_mnist")  # each has its own network (ganbench.metrics.mnist_net.EVALUATORS)
SUPPORTED_DATASETS = MNIST_FAMILY + INCEPTION_ONLY
# Channels of each dataset's images (ganbench.runkit.spec.DATASET_GEOMETRY; tests/test_inception.py checks).
DATASET_CHANNELS = {"mnist": 1, "fashion_mnist": 1, "celeba": 3}
SUPPORTED_IMAGE_SIZES = (28, 32, 64)       # MNIST family
CELEBA_SIZE = 64                           # the dataset file's resolution
CELEBA_IMAGE_SIZES = (32, 64)
MIN_SAMPLES = 20
CACHE_VERSION = 3  # bump whenever the reference computation changes

BATCH = 250            # images per network forward (the small networks)
INCEPTION_BATCH = 100  # images per Inception-v3 forward (299x299 activations: ~2.3 GB peak on a CPU)
KNN_K = 5              # precision/recall/density/coverage neighbourhood size
PRDC_MAX = 10_000      # samples per side for the k-NN metrics
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
IS_SPLITS = 10
DIVERSITY_N = 2000     # samples per side for the mean pairwise feature distance
COVERED_MIN_SHARE = 0.01

METRIC_NAMES = (
    "fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall", "density",
    "coverage", "classes_covered", "class_kl", "diversity", "fid_inception",
    "is_inception_mean", "is_inception_std",
)
INCEPTION_METRICS = ("fid_inception", "is_inception_mean", "is_inception_std")
CLASS_METRICS = ("classes_covered", "class_kl")
NO_CLASSES = "CelebA has no classes"


class EvaluationError(ValueError):
    """Bad input for the evaluator; the message says what is wrong."""


# --------------------------------------------------------------------------- inputs


def check_dataset(dataset: str) -> None:
    if dataset not in SUPPORTED_DATASETS:
        raise EvaluationError(
            f"dataset {dataset!r} has no evaluator; supported datasets: {', '.join(SUPPORTED_DATASETS)}"
        )


def _as_nhwc_uint8(images: np.ndarray, what: str = "images", dataset: str = "mnist") -> np.ndarray:
    images = np.asarray(images)
    channels = DATASET_CHANNELS[dataset]
    if images.dtype != np.uint8:
        raise EvaluationError(f"{what} must be uint8 0..255, got dtype {images.dtype}")
    if images.ndim == 3 and channels == 1:
        images = images[..., None]
    if images.ndim != 4:
        raise EvaluationError(f"{what} must be [N, H, W, C], got shape {list(images.shape)}")
    if images.shape[-1] != channels:
        kind = "RGB" if channels == 3 else "grayscale"
        raise EvaluationError(f"{what} must have {channels} channel{'s' * (channels > 1)} ({dataset} is {kind}), "
                              f"got shape {list(images.shape)}")
    return images


def _check_size(images: np.ndarray, image_size: int, supported: tuple[int, ...], dataset: str) -> None:
    if image_size not in supported:
        raise EvaluationError(f"image_size {image_size} is not supported for {dataset}; supported: {supported}")
    if images.shape[1:3] != (image_size, image_size):
        raise EvaluationError(
            f"images are {images.shape[1]}x{images.shape[2]} but image_size is {image_size}"
        )


def to_mnist_resolution(images: np.ndarray, image_size: int, dataset: str = "mnist") -> np.ndarray:
    """uint8 [N, S, S, 1] at the model's resolution -> uint8 [N, 28, 28, 1].

    28: unchanged; 32 (MNIST padded by 2 px): centre crop [2:30]; 64 (MNIST resized
    with PIL bilinear): resized back to 28 with PIL bilinear.
    """
    images = _as_nhwc_uint8(images, dataset=dataset)
    _check_size(images, image_size, SUPPORTED_IMAGE_SIZES, dataset)
    if image_size == 28:
        return np.ascontiguousarray(images)
    if image_size == 32:
        return np.ascontiguousarray(images[:, 2:30, 2:30, :])
    return resize_bilinear(images, 28)


def as_scored(images: np.ndarray, image_size: int, dataset: str) -> np.ndarray:
    """A run's samples (uint8 [N, S, S, C], S = its image_size) as its evaluator takes them:
    MNIST family mapped to 28x28 (:func:`to_mnist_resolution`), CelebA as they are."""
    if dataset in MNIST_FAMILY:
        return to_mnist_resolution(images, image_size, dataset)
    images = _as_nhwc_uint8(images, dataset=dataset)
    _check_size(images, image_size, CELEBA_IMAGE_SIZES, dataset)
    return np.ascontiguousarray(images)


def resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 [N, H, W, C] -> [N, size, size, C] with PIL bilinear: the training data's own resize
    (ganbench.runkit.data), so a reference view is exactly what the generator was trained on."""
    from ganbench.runkit.data import resize_bilinear_uint8

    return resize_bilinear_uint8(images, size)


def reference_view(real: np.ndarray, image_size: int, dataset: str = "mnist") -> tuple[np.ndarray, str]:
    """The real test images as a run at ``image_size`` would be scored: (images, view name).

    MNIST family: the 32 px round trip (pad, crop) is exact, so 28 and 32 share the plain test
    set. The 64 px round trip (bilinear up, bilinear down) blurs: a perfect 64 px generator
    maps to blurred digits (FID ~50 against the plain test set), so 64 px runs are scored
    against test images sent through the same round trip, which keeps the real-vs-real
    floor the same at every resolution.

    CelebA: samples are scored at their own resolution, so the reference is the 64x64 test
    split as is (64) or resized to 32 with PIL bilinear as the 32 px training images were.
    """
    if dataset in INCEPTION_ONLY:
        if image_size not in CELEBA_IMAGE_SIZES:
            raise EvaluationError(f"image_size {image_size} is not supported for {dataset}; "
                                  f"supported: {CELEBA_IMAGE_SIZES}")
        return (real, "plain") if image_size == CELEBA_SIZE else (resize_bilinear(real, image_size),
                                                                 f"bilinear{image_size}")
    if image_size in (28, 32):
        return real, "plain"
    if image_size == 64:
        return to_mnist_resolution(resize_bilinear(real, 64), 64, dataset), "bilinear64"
    raise EvaluationError(f"image_size {image_size} is not supported; supported: {SUPPORTED_IMAGE_SIZES}")


def load_real_test_images(data_path: str | Path, dataset: str = "mnist") -> np.ndarray:
    data_path = Path(data_path)
    if not data_path.is_file():
        raise EvaluationError(
            f"dataset file {data_path} does not exist; build it with "
            f"`python -m ganbench.data --dataset {dataset} --out results/data/{dataset}.npz`"
        )
    try:
        with np.load(data_path) as npz:
            if "test_images" not in npz.files:
                raise EvaluationError(f"{data_path} has no 'test_images' (keys: {', '.join(npz.files)})")
            images = npz["test_images"]
    except EvaluationError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken file is bad input
        raise EvaluationError(f"cannot read dataset file {data_path} ({type(exc).__name__}: {exc}); it is "
                              "corrupt or incomplete: delete it and re-run (the dataset rule rebuilds it "
                              "from its checksummed source)") from exc
    images = _as_nhwc_uint8(images, f"{data_path} test_images", dataset)
    size = 28 if dataset in MNIST_FAMILY else CELEBA_SIZE
    if images.shape[1:3] != (size, size):
        raise EvaluationError(f"{data_path} test_images must be {size}x{size} ({dataset}), got {list(images.shape)}")
    check_test_images_belong_to(dataset, images, data_path)
    return images


def check_test_images_belong_to(dataset: str, images: np.ndarray, data_path) -> None:
    """Refuse a data file holding *another* supported dataset's canonical test split (e.g. a
    Fashion-MNIST run scored against results/data/mnist.npz). Other files are not judged here:
    the dataset rule is what checks a file against its own checksums."""
    try:
        from ganbench.data import CHECKSUMS
    except ImportError:  # the evaluator used without workflow/ on the path
        return
    digest = array_sha256(images)
    for other, sums in CHECKSUMS.items():
        if other != dataset and digest == sums.get("test_images"):
            raise EvaluationError(
                f"{data_path} holds the {other} test split but the run's dataset is {dataset}; "
                f"score it against results/data/{dataset}.npz"
            )


# --------------------------------------------------------------------------- helpers


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_nchw(images_nhwc: np.ndarray) -> torch.Tensor:
    """uint8 NHWC array -> uint8 NCHW tensor with canonical contiguous strides."""
    arr = np.ascontiguousarray(images_nhwc)
    if not arr.flags.writeable:  # e.g. a memory-mapped npz: torch wants writable memory to wrap
        arr = arr.copy()
    src = torch.from_numpy(arr).permute(0, 3, 1, 2)
    out = torch.empty(tuple(src.shape), dtype=src.dtype)
    return out.copy_(src)


def array_sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch's global RNG (used by torchmetrics' KID/IS) without leaking the state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def quiet_torchmetrics():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="torchmetrics")
        yield


def batches(x: torch.Tensor, device: torch.device, size: int = BATCH):
    for i in range(0, x.shape[0], size):
        yield x[i : i + size].to(device)


@torch.no_grad()
def extract(net, images: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    feats, logits = [], []
    for xb in batches(images, device):
        f, l = net.forward_all(xb)
        feats.append(f)
        logits.append(l)
    return torch.cat(feats), torch.cat(logits)


def write_atomically(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- k-NN metrics


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
        d = _sq_dists(x[i : i + chunk], x, sq[i : i + chunk], sq)
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
    pred = logits.argmax(1).cpu()
    counts = torch.bincount(pred, minlength=NUM_CLASSES).double()
    hist = counts / counts.sum()
    covered = int((hist >= COVERED_MIN_SHARE).sum())
    nz = hist[hist > 0]
    kl = float((nz * (nz * NUM_CLASSES).log()).sum())  # KL(hist || uniform)
    return [float(v) for v in hist], covered, max(kl, 0.0)


# --------------------------------------------------------------------------- evaluator networks


@dataclass(frozen=True)
class Evaluator:
    """The network samples are scored with, and where it runs.

    ``net.forward_all(uint8 NCHW)`` gives (features, logits) in one pass; ``net.num_features``
    and ``net.num_classes`` size them. ``kind`` + ``sha`` (the weight file's sha256) name the
    feature space: ``<kind>:<sha8>`` in metrics.json, and the reference-statistics cache key.
    """

    net: torch.nn.Module
    sha: str
    kind: str            # mnist-net, fashion-mnist-net, inception-v3-tf, inception-v3-test
    device: torch.device
    batch: int = BATCH

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.sha[:8]}"


def dataset_evaluator(dataset: str, device: torch.device) -> Evaluator:
    """The MNIST family's own committed network (ganbench.metrics.mnist_net)."""
    net, sha = load_mnist_net(device=device, dataset=dataset)
    return Evaluator(net, sha, evaluator_info(dataset).name, device)


def resolve_inception_weights(path: str | Path | None) -> tuple[Path | None, str]:
    """(weights path, '') when usable, else (None, reason); see ganbench.metrics.inception_weights."""
    return find_inception_weights(path, Path(torch.hub.get_dir()))


def inception_evaluator(weights: str | Path | None, device: torch.device) -> Evaluator:
    """Inception-v3 from the local weight file (explicit path > $GANBENCH_INCEPTION_WEIGHTS > torch
    hub cache); InceptionWeightsError saying where to put the file when there is none."""
    path, reason = resolve_inception_weights(weights)
    if path is None:
        raise InceptionWeightsError(reason)
    net, sha = load_inception_net(path, device)
    return Evaluator(net, sha, net.kind, device, INCEPTION_BATCH)


# --------------------------------------------------------------------------- reference statistics


def _fid_metric(extractor):
    from torchmetrics.image.fid import FrechetInceptionDistance

    with quiet_torchmetrics():
        return FrechetInceptionDistance(feature=extractor, reset_real_features=False, normalize=False)


def reference_cache_name(dataset: str, net_name: str, sha: str, view: str, data_sha: str) -> str:
    """Cache file of the reference statistics: keyed by dataset, network + its weights' sha256,
    view and the sha256 of the real images."""
    return f"{dataset}_{net_name}-{sha[:16]}_test-{view}-{data_sha[:16]}_v{CACHE_VERSION}.npz"


REFERENCE_KEYS = ("features", "logits", "fid_sum", "fid_cov_sum", "fid_n", "knn_r2", "pairdist_mean")


def reference_stats(evaluator: Evaluator, real: np.ndarray, cache_dir: str | Path | None,
                    view: str = "plain", dataset: str = "mnist") -> dict[str, torch.Tensor]:
    """Features/logits of the real test set (in its ``view``, as the network takes it),
    torchmetrics' FID state for it, its k-NN radii and mean pairwise distance; cached in
    ``cache_dir`` keyed by the dataset, the network kind and its weights' sha256, the view and
    the sha256 of the real images scored (a different network, dataset or view never reads a
    stale cache)."""
    device, sha = evaluator.device, evaluator.sha
    data_sha = array_sha256(real)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / reference_cache_name(dataset, evaluator.kind, sha, view, data_sha)
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as npz:
                    if (str(npz["evaluator_sha256"]) == sha and str(npz["data_sha256"]) == data_sha
                            and str(npz["dataset"]) == dataset
                            and int(npz["version"]) == CACHE_VERSION):
                        return {k: torch.from_numpy(npz[k]).to(device) for k in REFERENCE_KEYS}
            except Exception:  # noqa: BLE001 - unreadable cache: rebuild it
                pass
    memo = ForwardMemo(evaluator.net)
    fid = _fid_metric(EvaluatorFeatures(evaluator.net, "features", memo)).to(device)
    feat_batches, logit_batches = [], []
    for xb in batches(to_nchw(real), device, evaluator.batch):
        fid.update(xb, real=True)
        f, l = memo(xb)
        feat_batches.append(f)
        logit_batches.append(l)
    feats, logits = torch.cat(feat_batches), torch.cat(logit_batches)
    sub = subset_indices(real.shape[0], DIVERSITY_N, 0, 2)
    stats = {
        "features": feats,
        "logits": logits,
        "fid_sum": fid.real_features_sum.clone(),
        "fid_cov_sum": fid.real_features_cov_sum.clone(),
        "fid_n": fid.real_features_num_samples.clone(),
        "knn_r2": knn_sq_radii(feats) if real.shape[0] <= PRDC_MAX else torch.zeros(0, dtype=torch.float64),
        "pairdist_mean": torch.tensor(mean_pairwise_distance(feats[torch.from_numpy(sub).to(device)]),
                                      dtype=torch.float64),
    }
    if path is not None:
        arrays = {k: v.cpu().numpy() for k, v in stats.items()}
        arrays.update(evaluator_sha256=np.array(sha), data_sha256=np.array(data_sha),
                      dataset=np.array(dataset), version=np.array(CACHE_VERSION))
        write_atomically(path, lambda fh: np.savez(fh, **arrays))
    return {k: v.to(device) for k, v in stats.items()}


# --------------------------------------------------------------------------- scoring


def network_scores(evaluator: Evaluator, images: np.ndarray, real: np.ndarray, view: str,
                   cache_dir: str | Path | None, seed: int, dataset: str) -> tuple[dict, torch.Tensor, dict]:
    """Score ``images`` against ``real`` (both uint8 NHWC, as the network takes them) in the
    evaluator's feature space: ({fid, kid_*, is_*, precision, recall, density, coverage,
    diversity}, the samples' logits, the sample counts used).

    FID, KID and IS are torchmetrics' with the network as custom feature module; each batch
    goes through the network once (a shared :class:`ForwardMemo`), and the k-NN metrics and the
    diversity reuse those features. The real side comes from :func:`reference_stats`.
    """
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    device, net = evaluator.device, evaluator.net
    ref = reference_stats(evaluator, real, cache_dir, view, dataset)
    n, n_real = images.shape[0], real.shape[0]
    memo = ForwardMemo(net)  # one forward per batch, shared by FID, KID, IS and the k-NN metrics
    with quiet_torchmetrics():
        fid = _fid_metric(EvaluatorFeatures(net, "features", memo)).to(device)
        subset_size = min(KID_SUBSET_SIZE, n, n_real)
        kid = KernelInceptionDistance(feature=EvaluatorFeatures(net, "features", memo), subsets=KID_SUBSETS,
                                      subset_size=subset_size, reset_real_features=False).to(device)
        isc = InceptionScore(feature=EvaluatorFeatures(net, "logits", memo), splits=IS_SPLITS).to(device)
    # Real side from the cache (torchmetrics' own state layout), fake side through the network.
    fid.real_features_sum = ref["fid_sum"].clone()
    fid.real_features_cov_sum = ref["fid_cov_sum"].clone()
    fid.real_features_num_samples = ref["fid_n"].clone()
    kid.real_features = [ref["features"]]
    feat_batches, logit_batches = [], []
    for xb in batches(to_nchw(images), device, evaluator.batch):
        fid.update(xb, real=False)
        kid.update(xb, real=False)
        isc.update(xb)
        f, l = memo(xb)
        feat_batches.append(f)
        logit_batches.append(l)
    feats, logits = torch.cat(feat_batches), torch.cat(logit_batches)
    with seeded(seed, device):
        fid_value = float(fid.compute())
    with seeded(seed, device):
        kid_mean, kid_std = (float(v) for v in kid.compute())
    with seeded(seed, device):
        is_mean, is_std = (float(v) for v in isc.compute())

    # k-NN metrics on equally many real and fake samples (<= PRDC_MAX each).
    m = min(n, n_real, PRDC_MAX)
    fake_idx = torch.from_numpy(subset_indices(n, m, seed, 0)).to(device)
    if m == n_real and ref["knn_r2"].numel() == n_real:
        real_feats, real_r2 = ref["features"], ref["knn_r2"]
    else:
        real_idx = torch.from_numpy(subset_indices(n_real, m, seed, 1)).to(device)
        real_feats, real_r2 = ref["features"][real_idx], None
    pr = prdc(real_feats, feats[fake_idx], KNN_K, real_r2)

    div_idx = torch.from_numpy(subset_indices(n, DIVERSITY_N, seed, 3)).to(device)
    diversity = mean_pairwise_distance(feats[div_idx]) / float(ref["pairdist_mean"])
    values = {"fid": fid_value, "kid_mean": kid_mean, "kid_std": kid_std, "is_mean": is_mean, "is_std": is_std,
              **pr, "diversity": diversity}
    counts = {"prdc_n": int(m), "kid_subset_size": int(subset_size), "diversity_n": int(min(n, DIVERSITY_N))}
    return values, logits, counts


def to_rgb(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC grayscale -> RGB (the channel repeated), for Inception-v3."""
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


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
    check_dataset(dataset)
    images = _as_nhwc_uint8(images, dataset=dataset)
    expected = (28, 28) if dataset in MNIST_FAMILY else (image_size, image_size)
    if images.shape[1:3] != expected:
        hint = "map them with to_mnist_resolution" if dataset in MNIST_FAMILY else "image_size must match the samples"
        raise EvaluationError(f"score_images wants {expected[0]}x{expected[1]} {dataset} images, "
                              f"got {list(images.shape)}; {hint}")
    n = images.shape[0]
    if n < MIN_SAMPLES:
        raise EvaluationError(f"need at least {MIN_SAMPLES} samples to score, got {n}")
    device = torch.device(device) if device is not None else default_device()
    inc_device = torch.device(inception_device) if inception_device is not None else device
    real, view = reference_view(load_real_test_images(data_path, dataset), int(image_size), dataset)

    if dataset in INCEPTION_ONLY:
        try:
            evaluator = inception_evaluator(inception_weights, inc_device)
        except InceptionWeightsError as exc:
            raise EvaluationError(f"{dataset} is scored with Inception-v3: {exc}") from exc
        values, _, counts = network_scores(evaluator, images, real, view, cache_dir, seed, dataset)
        values.update(dict.fromkeys(CLASS_METRICS + INCEPTION_METRICS))
        extractor = dict.fromkeys(METRIC_NAMES, evaluator.name)
        skipped = {**dict.fromkeys(CLASS_METRICS, NO_CLASSES),
                   **dict.fromkeys(INCEPTION_METRICS, f"{dataset} is scored with Inception-v3 throughout: "
                                                      "see fid, is_mean, is_std")}
        hist, devices = None, device_settings(evaluator.device, evaluator.device)
    else:
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
    return {
        "metrics": {name: values[name] for name in METRIC_NAMES},
        "extractor": extractor,
        "skipped": skipped,
        "class_hist": hist,
        "n_samples": int(n),
        "n_real": int(real.shape[0]),
        "evaluator_sha256": evaluator.sha,
        "settings": {
            "dataset": dataset, "reference": f"{dataset} test split ({view})", "image_size": int(image_size),
            "seed": int(seed), **devices, "knn_k": KNN_K, "prdc_n": counts["prdc_n"],
            "kid_subsets": KID_SUBSETS, "kid_subset_size": counts["kid_subset_size"],
            "is_splits": IS_SPLITS, "diversity_n": counts["diversity_n"],
            "covered_min_share": COVERED_MIN_SHARE if dataset in MNIST_FAMILY else None,
        },
        "seconds": round(time.time() - t0, 3),
    }


def load_spec(run_dir: str | Path) -> dict:
    """The run's spec.json, checked for what the evaluator needs."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EvaluationError(f"run folder {run_dir} does not exist")
    spec_path = run_dir / "spec.json"
    if not spec_path.is_file():
        raise EvaluationError(f"{spec_path} is missing")
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{spec_path} is not valid JSON: {exc}") from exc
    if not isinstance(spec, dict):
        raise EvaluationError(f"{spec_path} must hold a JSON object")
    missing = [k for k in ("dataset", "image_size") if k not in spec]
    if missing:
        raise EvaluationError(f"{spec_path} lacks {', '.join(missing)}")
    check_dataset(spec["dataset"])
    channels = DATASET_CHANNELS[spec["dataset"]]
    if spec.get("channels", channels) != channels:
        raise EvaluationError(f"{spec_path}: channels = {spec['channels']}, but {spec['dataset']} has {channels}")
    return spec


def load_samples(samples_path: Path, spec: dict, expected: int | None) -> np.ndarray:
    """The samples of a samples npz as the evaluator takes them (:func:`as_scored`), validated;
    the error names the file and the fix."""
    rerun = "delete it and re-run the training job (snakemake re-runs it)"
    if not samples_path.is_file():
        raise EvaluationError(f"{samples_path} is missing; {rerun}")
    try:
        with np.load(samples_path, allow_pickle=False) as npz:
            if "images" not in npz.files:
                raise EvaluationError(
                    f"{samples_path} has no 'images' array (keys: {', '.join(npz.files)}); {rerun}")
            images = npz["images"]
    except EvaluationError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable/corrupt npz is bad input
        raise EvaluationError(f"cannot read {samples_path} ({type(exc).__name__}: {exc}); {rerun}") from exc
    try:
        images = as_scored(images, int(spec["image_size"]), spec.get("dataset", "mnist"))
    except EvaluationError as exc:
        raise EvaluationError(f"{samples_path}: {exc}; {rerun}") from exc
    if isinstance(expected, int) and expected != images.shape[0]:
        raise EvaluationError(f"{samples_path} holds {images.shape[0]} images but the spec asks for "
                              f"{expected}; {rerun}")
    return images


def read_status(run_dir: str | Path) -> dict:
    """status.json of the run ({"status": "ok"} when the folder has none, e.g. hand-made samples)."""
    path = Path(run_dir) / "status.json"
    if not path.is_file():
        return {"status": "ok"}
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{path} is not valid JSON ({exc}); re-run the training job") from exc
    if not isinstance(status, dict) or status.get("status") not in ("ok", "diverged", "failed"):
        raise EvaluationError(f"{path}: status must be 'ok', 'diverged' or 'failed', got {status!r}")
    return status


CURVE_METRICS = ("fid", "classes_covered", "precision", "recall", "coverage", "is_mean")


def curve_files(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of the run's learning-curve samples, curve/samples_<step>.npz, by step."""
    found = []
    for path in (Path(run_dir) / "curve").glob("samples_*.npz"):
        try:
            found.append((int(path.stem.split("_", 1)[1]), path))
        except ValueError:
            continue
    return sorted(found)




def score_curve(run_dir, spec: dict, data_path, cache_dir, seed: int = 0, device=None,
                inception_weights=None, inception_device=None) -> list[dict]:
    """One point per curve sample file: step, fraction of training, n, and CURVE_METRICS.

    Every point of a run uses the same noise and sample count (spec curve_samples), so
    points compare like with like; they are not comparable with the 10k end-of-run scores.
    Points are scored with the run's evaluator network (CelebA: Inception-v3) like the final
    samples, without the MNIST family's optional Inception extras.
    """
    points = []
    for step, path in curve_files(run_dir):
        images = load_samples(path, spec, spec.get("curve_samples"))
        scored = score_images(images, data_path, cache_dir, seed=seed, image_size=int(spec["image_size"]),
                              dataset=spec["dataset"], inception=False, device=device,
                              inception_weights=inception_weights, inception_device=inception_device)
        point = {"step": step, "fraction": step / spec["steps"] if spec.get("steps") else None,
                 "n": int(images.shape[0])}
        point.update({name: scored["metrics"][name] for name in CURVE_METRICS})
        points.append(point)
    return points


def evaluate_run(run_dir, data_path, cache_dir, out, seed: int = 0, inception_weights=None,
                 device=None, inception_device=None) -> dict:
    """Score a finished run into metrics.json; a diverged run gets no quality numbers.

    A diverged run's samples would be images from NaN weights: they are never scored.
    metrics.json then says ``"status": "diverged"`` with the step, and carries only
    the learning-curve points written before the divergence.
    """
    t0 = time.time()
    spec = load_spec(run_dir)
    status = read_status(run_dir)
    curve = score_curve(run_dir, spec, data_path, cache_dir, seed, device=device,
                        inception_weights=inception_weights, inception_device=inception_device)
    if status["status"] in ("diverged", "failed"):  # failed: killed at its wall-time limit (launch.py)
        result = {"status": status["status"], "diverged_step": status.get("step"),
                  "reason": status.get("reason", ""), "metrics": {}, "extractor": {}}
    else:
        images = load_samples(Path(run_dir) / "samples.npz", spec, spec.get("eval_samples"))
        result = {"status": "ok", **score_images(
            images, data_path, cache_dir, seed=seed, image_size=int(spec["image_size"]),
            inception_weights=inception_weights, dataset=spec["dataset"], device=device,
            inception_device=inception_device)}
    result["curve"] = curve
    result["run_id"] = spec.get("run_id", Path(run_dir).name)
    result["seconds"] = round(time.time() - t0, 3)
    text = json.dumps(result, indent=2, allow_nan=True) + "\n"
    write_atomically(Path(out), lambda fh: fh.write(text.encode()))
    return result


@contextlib.contextmanager
def gpu_for_inception(n_gpus: int):
    """Claim one of ``n_gpus`` GPUs (the training jobs' lock-file slots) for Inception-v3 and yield
    its torch device; with 0, hide every GPU and yield the CPU."""
    if n_gpus <= 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        yield torch.device("cpu")
        return
    from ganbench.gpu_slots import claim_gpu

    with claim_gpu(n_gpus) as gpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        yield torch.device("cuda" if gpu and torch.cuda.is_available() else "cpu")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True, type=Path)
    p.add_argument("--data", required=True, type=Path, help="dataset npz (results/data/<dataset>.npz)")
    p.add_argument("--cache-dir", type=Path, default=None, help="reference-statistics cache folder")
    p.add_argument("--out", type=Path, default=None, help="metrics.json (default: RUN_DIR/metrics.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inception-weights", default=None,
                   help=f"Inception-v3 FID weight file (else ${INCEPTION_ENV} or the torch hub cache); "
                        "required for CelebA, optional extras for the MNIST family")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's, i.e. OMP_NUM_THREADS when set)")
    p.add_argument("--gpus", type=int, default=0,
                   help="GPUs the study may claim: Inception-v3 (when its weights are present; all of CelebA's "
                        "scoring) runs on a claimed GPU; the small dataset networks always run on the CPU")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or args.run_dir / "metrics.json"
    use_gpu = args.gpus > 0 and resolve_inception_weights(args.inception_weights)[0] is not None
    with gpu_for_inception(args.gpus if use_gpu else 0) as inception_device:
        try:
            result = evaluate_run(args.run_dir, args.data, args.cache_dir, out, args.seed, args.inception_weights,
                                  device="cpu", inception_device=inception_device)
        except (EvaluationError, EvaluatorWeightsError) as exc:
            print(f"error: {exc}".replace("\n", " "), file=sys.stderr)
            return 2
    m = result["metrics"]
    if result["status"] in ("diverged", "failed"):
        print(f"{result['run_id']}: {result['status']} at step {result['diverged_step']}: no quality score -> {out}")
        return 0
    classes = "n/a" if m["classes_covered"] is None else m["classes_covered"]
    print(f"{result['run_id']}: fid {m['fid']:.3f} is {m['is_mean']:.3f} precision {m['precision']:.3f} "
          f"recall {m['recall']:.3f} classes {classes} ({result['seconds']:.1f}s, {result['extractor']['fid']}) "
          f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
