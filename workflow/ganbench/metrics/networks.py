"""The evaluator networks: which network scores a dataset (:class:`Evaluator`: the MNIST family's
committed classifiers, Inception-v3 from a local weight file), where it runs, and how images are
fed to it (uint8 NHWC arrays -> NCHW tensors in batches)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .inception_net import InceptionWeightsError, load_inception_net
from .inception_weights import find_inception_weights
from .mnist_net import evaluator_info, load_mnist_net

BATCH = 250            # images per network forward (the small networks)
INCEPTION_BATCH = 100  # images per Inception-v3 forward (299x299 activations: ~2.3 GB peak on a CPU)


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


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_nchw(images_nhwc: np.ndarray) -> torch.Tensor:
    """uint8 NHWC array -> uint8 NCHW tensor with canonical contiguous strides."""
    arr = np.ascontiguousarray(images_nhwc)
    if not arr.flags.writeable:  # e.g. a memory-mapped npz: torch wants writable memory to wrap
        arr = arr.copy()
    src = torch.from_numpy(arr).permute(0, 3, 1, 2)
    # a fresh contiguous copy: the same pixels give the same features whatever the input's layout
    out = torch.empty(tuple(src.shape), dtype=src.dtype)
    return out.copy_(src)


def batches(x: torch.Tensor, device: torch.device, size: int = BATCH):
    """Consecutive slices of ``x`` ([N, ...] -> [<= size, ...]), each moved to ``device``."""
    for i in range(0, x.shape[0], size):
        yield x[i : i + size].to(device)


@torch.no_grad()
def extract(net, images: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(features [N, F], logits [N, K]) of uint8 NCHW ``images``, batch by batch."""
    feats, logits = [], []
    for xb in batches(images, device):
        f, l = net.forward_all(xb)
        feats.append(f)
        logits.append(l)
    return torch.cat(feats), torch.cat(logits)
