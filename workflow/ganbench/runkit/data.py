"""Data preparation, minibatch order, noise and the uint8 <-> model-range maps.

Training images stay uint8 (so a whole 64x64 MNIST fits on a device as one
tensor); each framework scales a gathered batch on the device with the same
float32 expression (see :data:`SCALE`). The dataset npz holds images at the
dataset's native geometry (:data:`runkit.spec.DATASET_GEOMETRY`: MNIST family
28x28x1, CelebA 64x64x3). Canonical layouts:

* basic: ``[N, S*S*C]`` at the native size, NHWC flattened (MNIST 784, CelebA 12288)
* dcgan: ``[N, S, S, C]`` (NHWC; the PyTorch impl transposes to NCHW itself), S = 32 or 64:
  MNIST 32 = zero-padded by 2, MNIST 64 = PIL bilinear resize; CelebA 64 = as is,
  CelebA 32 = PIL bilinear resize (antialiased), per image, RGB
"""
from __future__ import annotations

import numpy as np

from .spec import DATASET_GEOMETRY

# data range per model output: x_model = x_uint8 * mul + add (float32 on device)
SCALE = {
    "sigmoid": (np.float32(1.0 / 255.0), np.float32(0.0)),  # [0, 1]
    "tanh": (np.float32(2.0 / 255.0), np.float32(-1.0)),  # [-1, 1]
}


def output_kind(spec: dict) -> str:
    """'sigmoid' (data in [0,1]) or 'tanh' (data in [-1,1]) for this run."""
    return spec["arch"]["output"] if spec["model"] == "basic" else "tanh"


def resize_bilinear_uint8(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 [N, H, W, C] (C = 1 or 3) to [N, size, size, C] with PIL bilinear, image by image."""
    from PIL import Image

    images = np.asarray(images)
    channels = images.shape[-1]
    out = np.empty((images.shape[0], size, size, channels), dtype=np.uint8)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[..., 0], mode="L") if channels == 1 else Image.fromarray(img, mode="RGB")
        out[i] = np.asarray(pil.resize((size, size), Image.BILINEAR)).reshape(size, size, channels)
    return out


def prepare_images(images: np.ndarray, spec: dict) -> np.ndarray:
    """The dataset's uint8 [N, S0, S0, C] (S0, C = its native geometry) -> the model's uint8 training
    layout (see module doc)."""
    native, channels = DATASET_GEOMETRY[spec["dataset"]]
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if images.ndim == 3 and channels == 1:
        images = images[..., None]
    if images.shape[1:] != (native, native, channels):
        raise ValueError(f"{spec['dataset']} images must be [N, {native}, {native}, {channels}], "
                         f"got {list(images.shape)}")
    if spec["model"] == "basic":
        return np.ascontiguousarray(images.reshape(images.shape[0], native * native * channels))
    size = spec["image_size"]
    if size not in (32, 64):
        raise ValueError(f"image_size {size} is not supported for dcgan (32 or 64)")
    if size == native:
        return np.ascontiguousarray(images)
    if (native, size) == (28, 32):  # MNIST family: exact, the digit centred in a 2-px zero border
        return np.ascontiguousarray(np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0))))
    return resize_bilinear_uint8(images, size)


class DataFileError(RuntimeError, KeyError):
    """The dataset npz is missing, corrupt or incomplete; the message names it and what to do.
    (A KeyError too, for callers that caught the missing-array KeyError before.)"""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def read_npz_arrays(path, keys: tuple[str, ...], required: bool = True) -> dict[str, np.ndarray]:
    """``keys`` of the dataset npz at ``path``; a missing, truncated or corrupt file raises
    :class:`DataFileError` naming the file and what to do (absent optional keys are skipped)."""
    fix = ("delete it and re-run (snakemake rebuilds results/data/<dataset>.npz; or "
           "`python -m ganbench.data --out <file>`)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing and required:
                raise DataFileError(f"{path}: the dataset file has no {missing} array (has {npz.files}); {fix}")
            return {k: npz[k] for k in keys if k in npz.files}
    except DataFileError:
        raise
    except FileNotFoundError:
        raise DataFileError(f"{path}: the dataset file does not exist; build it with "
                            "`python -m ganbench.data --out <file>` (or let snakemake build it)") from None
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib/pickle errors of a broken file
        raise DataFileError(f"{path}: cannot read the dataset file, it is corrupt or incomplete "
                            f"({type(exc).__name__}: {exc}); {fix}") from None


def load_train_images(path, spec: dict) -> np.ndarray:
    """Read ``train_images`` from the dataset npz and prepare it for ``spec``."""
    images = read_npz_arrays(path, ("train_images",))["train_images"]
    return prepare_images(images, spec)


def scale_np(batch_uint8: np.ndarray, kind: str) -> np.ndarray:
    """numpy reference of the on-device scaling (float32, same expression)."""
    mul, add = SCALE[kind]
    return batch_uint8.astype(np.float32) * mul + add


def to_uint8(images: np.ndarray, kind: str) -> np.ndarray:
    """Model output (sigmoid [0,1] or tanh [-1,1]) -> uint8 with rounding; NaN -> 0."""
    x = np.nan_to_num(np.asarray(images, dtype=np.float64), nan=0.0 if kind == "sigmoid" else -1.0)
    if kind == "sigmoid":
        x = np.clip(x, 0.0, 1.0) * 255.0
    else:
        x = (np.clip(x, -1.0, 1.0) + 1.0) * 127.5
    return np.rint(x).astype(np.uint8)


def to_image_layout(images: np.ndarray, spec: dict) -> np.ndarray:
    """Canonical model output -> [N, S, S, C] (basic: [N, S*S*C] -> [N, S, S, C], e.g. 784 -> 28x28x1)."""
    s, c = spec["image_size"], spec["channels"]
    return np.asarray(images).reshape(-1, s, s, c)


def sample_noise(rng: np.random.Generator, prior: str, shape) -> np.ndarray:
    """Noise as float32: uniform = U(-1,1), random = U[0,1) (np.random.random), normal = N(0,1)."""
    if prior == "uniform":
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    if prior == "random":
        # float32 draws so the half-open [0, 1) survives the cast
        return rng.random(size=shape, dtype=np.float32)
    if prior == "normal":
        return rng.standard_normal(size=shape, dtype=np.float32)
    raise ValueError(f"unknown prior {prior!r} (uniform, random, normal)")


class BatchSampler:
    """Minibatch indices: a fresh permutation of the training set each epoch.

    Each call to :meth:`next` takes the next ``batch_size`` indices of the
    current permutation; an incomplete tail is dropped and a new epoch starts.
    """

    def __init__(self, n: int, batch_size: int, rng: np.random.Generator):
        if batch_size > n:
            raise ValueError(f"batch_size {batch_size} exceeds the {n} training images")
        self.n, self.batch_size, self.rng = n, batch_size, rng
        self.epoch = 0
        self._perm = None
        self._pos = n  # forces a permutation on first use

    def next(self) -> np.ndarray:
        if self._pos + self.batch_size > self.n:
            self._perm = self.rng.permutation(self.n)
            self._pos = 0
            self.epoch += 1
        out = self._perm[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return out


def noise_batches_per_iteration(spec: dict) -> int:
    """1 when D and G steps of an iteration share one noise batch, else d_steps + g_steps."""
    return spec["d_steps"] + spec["g_steps"] if spec["fresh_noise"] else 1


def d_noise_index(spec: dict, j: int) -> int:
    """Which of the iteration's noise batches the j-th D step uses."""
    return j if spec["fresh_noise"] else 0


def g_noise_index(spec: dict, k: int) -> int:
    """Which of the iteration's noise batches the k-th G step uses."""
    return spec["d_steps"] + k if spec["fresh_noise"] else 0


class ChunkPlanner:
    """Host-side inputs for a chunk of iterations: indices and noise, one array each.

    ``plan(k)`` returns ``idx`` int64 ``[k, d_steps, B]`` and ``noise`` float32
    ``[k, n_noise, B, z_dim]``. Numbers are drawn iteration by iteration
    (noise batches in order, then the D steps' minibatches), so the values do
    not depend on how iterations are grouped into chunks.
    """

    def __init__(self, spec: dict, n_train: int, batch_rng: np.random.Generator, noise_rng: np.random.Generator):
        self.spec = spec
        self.sampler = BatchSampler(n_train, spec["batch_size"], batch_rng)
        self.noise_rng = noise_rng
        self.n_noise = noise_batches_per_iteration(spec)

    def plan(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.spec
        b, z = s["batch_size"], s["z_dim"]
        idx = np.empty((k, s["d_steps"], b), dtype=np.int64)
        noise = np.empty((k, self.n_noise, b, z), dtype=np.float32)
        for i in range(k):
            for j in range(self.n_noise):
                noise[i, j] = sample_noise(self.noise_rng, s["prior"], (b, z))
            for j in range(s["d_steps"]):
                idx[i, j] = self.sampler.next()
        return idx, noise
