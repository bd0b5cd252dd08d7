"""The evaluator's inputs: which datasets and image sizes it scores, the checks on image arrays,
and the views images are scored in (28x28 for the MNIST family, the reference test split at a
run's resolution, grayscale as RGB for Inception-v3).

Every array here is uint8 NHWC; nothing here runs a network (no torch).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .inception_weights import INCEPTION_ONLY_DATASETS as INCEPTION_ONLY  # scored with Inception-v3 only

MNIST_FAMILY = ("mnist", "fashion_mnist")  # each has its own network (ganbench.metrics.mnist_net.EVALUATORS)
SUPPORTED_DATASETS = MNIST_FAMILY + INCEPTION_ONLY
# Channels of each dataset's images (ganbench.runkit.spec.DATASET_GEOMETRY; tests/test_inception.py checks).
DATASET_CHANNELS = {"mnist": 1, "fashion_mnist": 1, "celeba": 3}
SUPPORTED_IMAGE_SIZES = (28, 32, 64)       # MNIST family
CELEBA_SIZE = 64                           # the dataset file's resolution
CELEBA_IMAGE_SIZES = (32, 64)
MIN_SAMPLES = 20


class EvaluationError(ValueError):
    """Bad input for the evaluator; the message says what is wrong."""


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
        images = images[..., None]  # [N, H, W] grayscale -> [N, H, W, 1]
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


def check_scored_images(images: np.ndarray, image_size: int, dataset: str) -> np.ndarray:
    """``images`` as score_images takes them (uint8 [N, 28, 28, 1] for the MNIST family, [N, S, S, 3]
    with S = ``image_size`` for CelebA; [N, 28, 28] is accepted), with at least MIN_SAMPLES of them;
    else EvaluationError."""
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
    return images


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


def to_rgb(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC grayscale -> RGB (the channel repeated), for Inception-v3."""
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


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
        # [N, 28, 28, 1] -> [N, 64, 64, 1] -> back to [N, 28, 28, 1], as a 64 px sample is scored
        return to_mnist_resolution(resize_bilinear(real, 64), 64, dataset), "bilinear64"
    raise EvaluationError(f"image_size {image_size} is not supported; supported: {SUPPORTED_IMAGE_SIZES}")


def load_real_test_images(data_path: str | Path, dataset: str = "mnist") -> np.ndarray:
    """The dataset file's ``test_images`` (uint8 [N, 28, 28, 1] MNIST family, [N, 64, 64, 3] CelebA),
    checked; a missing, unreadable or wrong file is an EvaluationError saying how to fix it."""
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


def array_sha256(a: np.ndarray) -> str:
    """sha256 of an array's bytes in C order: names a set of images (data checksums, cache keys)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
