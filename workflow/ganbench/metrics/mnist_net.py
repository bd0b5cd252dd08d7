"""The suite's own evaluator networks (one small CNN per dataset) and their loaders.

One architecture (:class:`MnistNet`), one set of committed weights per dataset
(:data:`EVALUATORS`): ``mnist`` -> ``weights/mnist_net.pt`` ("mnist-net"),
``fashion_mnist`` -> ``weights/fashion_mnist_net.pt`` ("fashion-mnist-net").
Each differs only in its weights and the input normalisation (the dataset's
train-set pixel mean/std).

The network is a feature extractor for FID/KID/precision-recall (the 128-d
penultimate activations) and a classifier for the Inception Score and the
mode-coverage metrics (10 logits). Its weights are committed in
``workflow/ganbench/metrics/weights/mnist_net.pt`` (a state_dict) next to their sha256 in
``workflow/ganbench/metrics/weights/mnist_net.sha256``; :func:`load_mnist_net` refuses weights
whose hash does not match. ``workflow/ganbench/metrics/train_mnist_net.py [--dataset D]`` trains them.

Input convention: ``uint8`` tensors ``[N, 1, 28, 28]`` in 0..255 (or floats
already scaled to [0, 1]).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_PATH = WEIGHTS_DIR / "mnist_net.pt"
SHA256_PATH = WEIGHTS_DIR / "mnist_net.sha256"

NUM_FEATURES = 128
NUM_CLASSES = 10
# MNIST train-set pixel statistics (of images scaled to [0, 1]).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
# Fashion-MNIST train-set pixel statistics (of images scaled to [0, 1]).
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530


@dataclass(frozen=True)
class EvaluatorInfo:
    """Where one dataset's evaluator lives and how its inputs are normalised."""

    dataset: str
    name: str          # extractor name prefix in metrics.json, e.g. "mnist-net"
    weights: Path
    sha_path: Path
    mean: float
    std: float
    min_accuracy: float  # test-split accuracy the committed weights must reach


EVALUATORS = {
    "mnist": EvaluatorInfo("mnist", "mnist-net", WEIGHTS_PATH, SHA256_PATH, MNIST_MEAN, MNIST_STD, 0.99),
    "fashion_mnist": EvaluatorInfo(
        "fashion_mnist", "fashion-mnist-net", WEIGHTS_DIR / "fashion_mnist_net.pt",
        WEIGHTS_DIR / "fashion_mnist_net.sha256", FASHION_MNIST_MEAN, FASHION_MNIST_STD, 0.92),
}


def evaluator_info(dataset: str) -> EvaluatorInfo:
    if dataset not in EVALUATORS:
        raise EvaluatorWeightsError(
            f"dataset {dataset!r} has no evaluator network; supported: {', '.join(EVALUATORS)}")
    return EVALUATORS[dataset]


class EvaluatorWeightsError(RuntimeError):
    """The committed evaluator weights are missing or do not match their hash."""


class MnistNet(nn.Module):
    """conv5x5(16)-BN-ReLU-pool, conv5x5(32)-BN-ReLU-pool, fc(128)-ReLU [features], fc(10) [logits]."""

    num_features = NUM_FEATURES
    num_classes = NUM_CLASSES

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        super().__init__()
        # Plain floats (not buffers): the state_dict, hence the weight files, hold only weights.
        self.mean = float(mean)
        self.std = float(std)
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(32 * 7 * 7, NUM_FEATURES)
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(NUM_FEATURES, NUM_CLASSES)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 0..255 (or float 0..1) [N,1,28,28] -> normalised float32.

        The copy into a freshly allocated tensor gives canonical strides whatever the
        input's (e.g. the stride 0 numpy gives a ``[..., None]`` axis): otherwise the
        convolutions can pick another memory-format path and the features differ in
        the last bits for the same pixels.
        """
        out = torch.empty(tuple(x.shape), dtype=torch.float32, device=x.device)
        out.copy_(x)
        if x.dtype == torch.uint8:
            out.div_(255.0)
        return out.sub_(self.mean).div_(self.std)

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [N,128], logits [N,10])."""
        h = self.conv(self.preprocess(x)).flatten(1)
        feats = torch.relu(self.fc1(h))
        logits = self.fc2(self.dropout(feats))
        return feats, logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[1]


class ForwardMemo:
    """The network's (features, logits) for the most recent input batch.

    FID, KID and IS each call their feature module on the same batch object; sharing
    one memo makes that a single forward pass per batch (and lets the evaluator reuse
    the outputs). A hit needs the very same tensor object, unmodified (``_version``).
    """

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self._x: torch.Tensor | None = None
        self._version = -1
        self._out: tuple[torch.Tensor, torch.Tensor] | None = None

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._x is not x or self._version != x._version:
            self._out = self.net.forward_all(x)
            self._x, self._version = x, x._version
        return self._out


class EvaluatorFeatures(nn.Module):
    """torchmetrics custom ``feature`` module over an evaluator network (the MNIST CNN or
    Inception-v3): uint8 images -> features or logits.

    ``output="features"`` gives the 128-d penultimate layer (FID, KID);
    ``output="logits"`` gives the 10 class logits (Inception Score, which
    applies the softmax itself). It never leaves eval mode and has
    ``num_features`` so torchmetrics need not probe it with a random input.
    Any network with ``forward_all``, ``num_features`` and ``num_classes`` serves
    (ganbench.metrics.inception_net.InceptionNet too).
    """

    def __init__(self, net: nn.Module, output: str = "features", memo: ForwardMemo | None = None) -> None:
        super().__init__()
        if output not in ("features", "logits"):
            raise ValueError(f"output must be 'features' or 'logits', got {output!r}")
        if memo is not None and memo.net is not net:
            raise ValueError("memo belongs to a different network")
        self.net = net
        self.output = output
        self.memo = memo
        self.num_features = net.num_features if output == "features" else net.num_classes
        self.eval()

    def train(self, mode: bool = True) -> "EvaluatorFeatures":
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, logits = self.memo(x) if self.memo is not None else self.net.forward_all(x)
        return feats if self.output == "features" else logits


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _retrain_hint(dataset: str) -> str:
    flag = "" if dataset == "mnist" else f" --dataset {dataset}"
    return f"`python -m ganbench.metrics.train_mnist_net{flag}`"


def expected_sha256(sha_path: Path = SHA256_PATH, dataset: str = "mnist") -> str:
    if not sha_path.is_file():
        raise EvaluatorWeightsError(
            f"{sha_path} is missing; it must hold the sha256 of {evaluator_info(dataset).weights.name}. "
            f"Restore it from git or retrain with {_retrain_hint(dataset)}."
        )
    text = sha_path.read_text().split()
    if not text or len(text[0]) != 64:
        raise EvaluatorWeightsError(f"{sha_path} does not hold a sha256 hex digest")
    return text[0].lower()


def load_mnist_net(
    weights: str | Path | None = None,
    sha_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    dataset: str = "mnist",
) -> tuple[MnistNet, str]:
    """Load ``dataset``'s evaluator in eval mode after checking its sha256; returns (net, sha256).

    ``weights`` / ``sha_path`` default to the dataset's committed files (:data:`EVALUATORS`).
    """
    info = evaluator_info(dataset)
    weights = Path(weights) if weights is not None else info.weights
    sha_path = Path(sha_path) if sha_path is not None else info.sha_path
    if not weights.is_file():
        raise EvaluatorWeightsError(
            f"evaluator weights {weights} are missing. Restore them from git or retrain with "
            f"{_retrain_hint(dataset)} (see workflow/ganbench/metrics/README.md)."
        )
    expected = expected_sha256(sha_path, dataset)
    actual = file_sha256(weights)
    if actual != expected:
        raise EvaluatorWeightsError(
            f"evaluator weights {weights} have sha256 {actual[:16]}... but {sha_path} expects "
            f"{expected[:16]}...; the file is corrupt or was replaced without updating the hash. "
            "Restore both from git, or retrain (which rewrites both)."
        )
    net = MnistNet(info.mean, info.std)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, actual
