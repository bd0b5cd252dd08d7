"""Inception-v3, the FID network, as an evaluator network (CelebA's, and MNIST's optional extras).

:func:`load_inception_net` builds torch-fidelity's ``FeatureExtractorInceptionV3`` (the
network torchmetrics' FID/KID/IS wrap as ``NoTrainInceptionV3``) from a local weight file,
never downloading anything. Its :meth:`InceptionNet.forward_all` gives the 2048-d pool
features (FID, KID, precision/recall, diversity) and the 1008 unbiased logits (Inception
Score) of one batch in a single pass, so every metric shares one forward, as
:class:`ganbench.metrics.mnist_net.ForwardMemo` arranges for the small networks.

Input: uint8 ``[N, 3, H, W]`` at any size. It is resized to 299x299 with torch-fidelity's
TF-1.x-compatible bilinear interpolation (torchmetrics' ``antialias=False``: the resize the
published FIDs use), then mapped to [-1, 1].

A weight file whose state dict holds the key ``ganbench_test_network`` builds instead a
small random-weight stand-in, :class:`TinyInceptionV3`, with the same interface (same
resize, 2048 features, 1008 logits), so tests and CPU smoke studies run the production
scoring path in seconds. :func:`write_test_network` writes one. Its extractor name says so:
``inception-v3-test:<sha8>`` instead of ``inception-v3-tf:<sha8>``.
"""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import torch
from torch import nn

from ganbench.metrics.mnist_net import file_sha256

INPUT_SIZE = 299            # Inception-v3's input resolution
NUM_FEATURES = 2048         # pool3 features
NUM_LOGITS = 1008           # the 2015-12-05 TF graph's outputs (ImageNet classes, padded)
FEATURES = ("2048", "logits_unbiased")  # torch-fidelity's names for the two outputs
TEST_MARKER = "ganbench_test_network"
FC_STD = 1.0  # TinyInceptionV3's logit-layer init
KIND_TF = "inception-v3-tf"
KIND_TEST = "inception-v3-test"


class InceptionWeightsError(RuntimeError):
    """The Inception weight file is missing, unreadable or not an Inception-v3 state dict."""


def torch_fidelity_available() -> bool:
    return importlib.util.find_spec("torch_fidelity") is not None


def _resize_to_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> float32 [N, 3, 299, 299] in [-1, 1], exactly as FeatureExtractorInceptionV3."""
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = interpolate_bilinear_2d_like_tensorflow1x(x.to(torch.float32), size=(INPUT_SIZE, INPUT_SIZE),
                                                  align_corners=False)
    return (x - 128) / 128


class TinyInceptionV3(nn.Module):
    """Small random-weight network shaped like Inception-v3 from the outside (tests, smoke studies).

    Same input handling as torch-fidelity's extractor (uint8, TF-compatible resize to 299,
    [-1, 1]), three stride-2 convolutions, a 1x1 convolution to 2048 channels, ReLU and a
    global average pool (2048 non-negative "pool" features), and a 2048 -> 1008 linear layer
    whose weight alone gives the unbiased logits. About 25 M multiply-adds per image after the
    resize (Inception: 5.7 G), so the resize to 299 is most of its cost. Its numbers mean nothing
    beyond "same images, same features".
    """

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
            nn.AdaptiveAvgPool2d(8),
            nn.Conv2d(32, NUM_FEATURES, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.fc = nn.Linear(NUM_FEATURES, NUM_LOGITS)
        # He init keeps the activations' scale through the ReLUs, so features are O(1) and the
        # logits spread enough for an Inception Score above 1 (torch's default init shrinks both).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.fc.weight, std=FC_STD)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [N, 2048], unbiased logits [N, 1008]), like the extractor with FEATURES."""
        feats = self.convs(_resize_to_input(x)).flatten(1)
        return feats, feats.mm(self.fc.weight.T)


class InceptionNet(nn.Module):
    """An evaluator network: ``forward_all(uint8 [N, 3, H, W]) -> (features [N, 2048], logits [N, 1008])``.

    ``backbone`` is torch-fidelity's ``FeatureExtractorInceptionV3`` built with
    ``features_list=FEATURES`` (or a :class:`TinyInceptionV3`): one call returns both
    outputs. Never leaves eval mode.
    """

    num_features = NUM_FEATURES
    num_classes = NUM_LOGITS

    def __init__(self, backbone: nn.Module, kind: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.kind = kind
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "InceptionNet":
        return super().train(False)

    @torch.no_grad()
    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"Inception-v3 wants uint8 [N, 3, H, W], got {x.dtype} {list(x.shape)}")
        feats, logits = self.backbone(x)
        return feats.to(torch.float32), logits.to(torch.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[1]


def read_test_network_state(path: Path) -> dict | None:
    """The state dict, without the marker, when the file is a test network's (it holds
    :data:`TEST_MARKER`); else None. Read with ``weights_only``: a file that cannot be read so
    is left to torch-fidelity's own loader, which says what is wrong with it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - not a plain tensor dict: not a test network
        return None
    if not isinstance(state, dict) or TEST_MARKER not in state:
        return None
    return {k: v for k, v in state.items() if k != TEST_MARKER}


def load_inception_net(weights: str | Path, device: str | torch.device = "cpu") -> tuple[InceptionNet, str]:
    """(network in eval mode on ``device``, sha256 of the weight file). Nothing is downloaded.

    The network's ``kind`` is ``inception-v3-tf`` (torch-fidelity's Inception-v3) or
    ``inception-v3-test`` (the file holds :data:`TEST_MARKER`).
    """
    path = Path(weights).expanduser()
    if not path.is_file():
        raise InceptionWeightsError(f"Inception weight file {path} does not exist")
    state = read_test_network_state(path)
    if state is not None:
        backbone, kind = TinyInceptionV3(), KIND_TEST
        try:
            backbone.load_state_dict(state)
        except RuntimeError as exc:
            raise InceptionWeightsError(f"{path} is marked as a test network but does not fit it: {exc}") from exc
    else:
        if not torch_fidelity_available():
            raise InceptionWeightsError(
                f"torch-fidelity is not installed (needed for Inception-v3 with weights {path}); "
                "pip install -r requirements.txt")
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        try:  # a path, so torch-fidelity never downloads
            backbone = FeatureExtractorInceptionV3("inception-v3-compat", list(FEATURES),
                                                   feature_extractor_weights_path=str(path))
        except Exception as exc:  # noqa: BLE001 - unreadable file, missing/unexpected keys, wrong shapes
            first = (str(exc).strip().splitlines() or [""])[0]
            raise InceptionWeightsError(
                f"{path} is not the FID Inception-v3 state dict (pt_inception-2015-12-05-6726825d.pth): "
                f"{type(exc).__name__}: {first}") from exc
        kind = KIND_TF
    net = InceptionNet(backbone, kind).to(device)
    return net, file_sha256(path)


def write_test_network(path: str | Path, seed: int = 0) -> Path:
    """Write a :class:`TinyInceptionV3` state dict with random weights (seeded) and the marker key.

    The bytes depend only on ``seed`` (serialised in memory, so not on the file name), so the
    file's sha256, hence the extractor name and the cache keys, are reproducible.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = TinyInceptionV3()
    state = dict(net.state_dict())
    state[TEST_MARKER] = torch.tensor(seed)
    buf = io.BytesIO()
    torch.save(state, buf)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path
