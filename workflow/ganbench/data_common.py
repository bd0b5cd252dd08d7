"""What every dataset module shares: the error it raises, the array hash, the dataset names.

Its one job is to sit below :mod:`ganbench.data_mnist`, :mod:`ganbench.data_celeba` and
:mod:`ganbench.data_file` so that none of them imports another for these names.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ganbench.runkit.spec import DATASET_GEOMETRY  # (native image size, channels) per dataset

SPLITS = ("train_images", "train_labels", "test_images", "test_labels")
DATASETS = tuple(DATASET_GEOMETRY)
DISPLAY_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "celeba": "CelebA"}


class DatasetError(RuntimeError):
    """The dataset cannot be built; the message says what to do."""


def sha256_of(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
