"""The real side of every score: the reference statistics of a dataset's test split in one
evaluator network's feature space (features, logits, torchmetrics' FID state, k-NN radii, mean
pairwise distance), computed once and cached on disk under a name that keys everything they
depend on."""
from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .images import array_sha256
from .mnist_net import EvaluatorFeatures, ForwardMemo
from .networks import Evaluator, batches, to_nchw
from .prdc import DIVERSITY_N, PRDC_MAX, knn_sq_radii, mean_pairwise_distance, subset_indices

CACHE_VERSION = 3  # bump whenever the reference computation changes
REFERENCE_KEYS = ("features", "logits", "fid_sum", "fid_cov_sum", "fid_n", "knn_r2", "pairdist_mean")


@contextlib.contextmanager
def quiet_torchmetrics():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="torchmetrics")
        yield


def fid_metric(extractor):
    """torchmetrics' FID with ``extractor`` as its feature module; its real-side state
    (real_features_sum / _cov_sum / _num_samples) is what the cache stores."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    with quiet_torchmetrics():
        return FrechetInceptionDistance(feature=extractor, reset_real_features=False, normalize=False)


def reference_cache_name(dataset: str, net_name: str, sha: str, view: str, data_sha: str) -> str:
    """Cache file of the reference statistics: keyed by dataset, network + its weights' sha256,
    view and the sha256 of the real images."""
    return f"{dataset}_{net_name}-{sha[:16]}_test-{view}-{data_sha[:16]}_v{CACHE_VERSION}.npz"


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
        cached = _read_cache(path, sha, data_sha, dataset, device)
        if cached is not None:
            return cached
    stats = _compute_reference(evaluator, real)
    if path is not None:
        arrays = {k: v.cpu().numpy() for k, v in stats.items()}
        # the keys the cache is checked against on reading (besides its file name)
        arrays.update(evaluator_sha256=np.array(sha), data_sha256=np.array(data_sha),
                      dataset=np.array(dataset), version=np.array(CACHE_VERSION))
        write_atomically(path, lambda fh: np.savez(fh, **arrays))
    return {k: v.to(device) for k, v in stats.items()}


def _read_cache(path: Path, sha: str, data_sha: str, dataset: str,
                device: torch.device) -> dict[str, torch.Tensor] | None:
    """The cached statistics at ``path`` when it exists and matches every key, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if (str(npz["evaluator_sha256"]) == sha and str(npz["data_sha256"]) == data_sha
                    and str(npz["dataset"]) == dataset
                    and int(npz["version"]) == CACHE_VERSION):
                return {k: torch.from_numpy(npz[k]).to(device) for k in REFERENCE_KEYS}
    except Exception:  # noqa: BLE001 - unreadable cache: rebuild it
        pass
    return None


def _compute_reference(evaluator: Evaluator, real: np.ndarray) -> dict[str, torch.Tensor]:
    """The REFERENCE_KEYS statistics of ``real`` (uint8 NHWC), one network forward per batch."""
    device = evaluator.device
    memo = ForwardMemo(evaluator.net)  # FID's extractor and the features below share each forward
    fid = fid_metric(EvaluatorFeatures(evaluator.net, "features", memo)).to(device)
    feat_batches, logit_batches = [], []
    for xb in batches(to_nchw(real), device, evaluator.batch):
        fid.update(xb, real=True)
        f, l = memo(xb)
        feat_batches.append(f)
        logit_batches.append(l)
    feats, logits = torch.cat(feat_batches), torch.cat(logit_batches)  # [N, F], [N, K]
    sub = subset_indices(real.shape[0], DIVERSITY_N, 0, 2)
    return {
        "features": feats,
        "logits": logits,
        "fid_sum": fid.real_features_sum.clone(),
        "fid_cov_sum": fid.real_features_cov_sum.clone(),
        "fid_n": fid.real_features_num_samples.clone(),
        # radii only for a reference the k-NN metrics use whole (<= PRDC_MAX images)
        "knn_r2": knn_sq_radii(feats) if real.shape[0] <= PRDC_MAX else torch.zeros(0, dtype=torch.float64),
        "pairdist_mean": torch.tensor(mean_pairwise_distance(feats[torch.from_numpy(sub).to(device)]),
                                      dtype=torch.float64),
    }


def write_atomically(path: Path, write) -> None:
    """Create ``path`` by ``write(binary file)`` on a temporary file in the same folder, then a
    rename: readers never see a half-written file."""
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
