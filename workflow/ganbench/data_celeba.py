"""Build CelebA's arrays from a user's folder of aligned images, and the record that checks them.

Its one job: find the images (``data.celeba_dir``), split them into train and test (CelebA's
partition file, else every 10th by name), preprocess each one as carpedm20's DCGAN-tensorflow did
(RGB, centre crop 108x108, PIL bilinear resize to 64x64) and describe all that, with each array's
sha256, in the record :mod:`ganbench.data_file` writes beside the npz (``celeba.json``). The split
and the preprocessing are spelled out in :mod:`ganbench.data`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ganbench.data_common import DatasetError, sha256_of
from ganbench.runkit.spec import DATASET_GEOMETRY  # (native image size, channels) per dataset

CELEBA_CROP = 108  # carpedm20's DCGAN-tensorflow --crop default for CelebA
CELEBA_SIZE = DATASET_GEOMETRY["celeba"][0]
CELEBA_SUFFIXES = (".jpg", ".jpeg", ".png")
CELEBA_SUBFOLDER = "img_align_celeba"
CELEBA_PARTITION_FILES = ("list_eval_partition.txt", "list_eval_partition.csv")
CELEBA_MIN_IMAGES = 10  # the fewest that still give the index split a test image
CELEBA_TEST_EVERY = 10  # without a partition file: index % 10 == 9 is test
PARTITION_TRAIN, PARTITION_TEST = 0, 2  # list_eval_partition: 0 train, 1 validation (unused), 2 test
CELEBA_FIX = "set data.celeba_dir to the folder holding img_align_celeba/ (or the aligned images themselves)"


def celeba_image_dir(celeba_dir: str | Path) -> Path:
    """The folder holding the images: ``celeba_dir/img_align_celeba/`` (also Kaggle's doubly nested
    ``img_align_celeba/img_align_celeba/``) when present, else ``celeba_dir`` itself."""
    root = Path(celeba_dir).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data.celeba_dir = {str(celeba_dir)!r} is not a directory; {CELEBA_FIX}.")
    folder = root
    for _ in range(2):
        sub = folder / CELEBA_SUBFOLDER
        if sub.is_dir() and not celeba_files(folder):
            folder = sub
    return folder


def celeba_files(folder: Path) -> list[Path]:
    """Image files of ``folder`` (not recursive, hidden files skipped), sorted by name."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in CELEBA_SUFFIXES
                   and not p.name.startswith(".") and p.is_file()), key=lambda p: p.name)


def celeba_partition_file(image_dir: Path, celeba_dir: Path) -> Path | None:
    for folder in dict.fromkeys((image_dir, Path(celeba_dir).expanduser())):
        for name in CELEBA_PARTITION_FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def read_partition(path: Path) -> dict[str, int]:
    """``list_eval_partition.txt`` (``000001.jpg 0`` per line) or Kaggle's ``.csv``
    (``image_id,partition`` header, then ``000001.jpg,0``): file name -> 0, 1 or 2."""
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.replace(",", " ").split()
        if not fields or (number == 1 and fields == ["image_id", "partition"]):
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DatasetError(
                f"partition file {path} is inconsistent: line {number} ({line.strip()!r}) is not "
                "'<image file> <0|1|2>'. Replace it with CelebA's list_eval_partition.txt, or delete it "
                f"to split by file name (every {CELEBA_TEST_EVERY}th image is test).")
        if fields[0] in out:
            raise DatasetError(f"partition file {path} is inconsistent: {fields[0]} is listed twice "
                               f"(line {number}). Replace it with CelebA's list_eval_partition.txt.")
        out[fields[0]] = int(fields[1])
    return out


def celeba_split(files: list[Path], partition_path: Path | None,
                 max_images: int | None) -> tuple[list[Path], list[Path], str]:
    """(train files, test files, how they were split); see :mod:`ganbench.data`'s doc."""
    if partition_path is None:
        chosen = files[:max_images] if max_images else files
        test = [f for i, f in enumerate(chosen) if i % CELEBA_TEST_EVERY == CELEBA_TEST_EVERY - 1]
        train = [f for i, f in enumerate(chosen) if i % CELEBA_TEST_EVERY != CELEBA_TEST_EVERY - 1]
        return train, test, (f"by sorted file name: every {CELEBA_TEST_EVERY}th image "
                             f"(index % {CELEBA_TEST_EVERY} == {CELEBA_TEST_EVERY - 1}) is test")
    partition = read_partition(partition_path)
    unlisted = [f.name for f in files if f.name not in partition]
    if unlisted:
        raise DatasetError(
            f"partition file {partition_path} is inconsistent with the images: {len(unlisted)} of the "
            f"{len(files)} images in {files[0].parent} are not listed in it (e.g. {unlisted[0]}). Use the "
            "list_eval_partition.txt that came with these images, or delete it to split by file name.")
    train = [f for f in files if partition[f.name] == PARTITION_TRAIN]
    test = [f for f in files if partition[f.name] == PARTITION_TEST]
    if max_images:
        n_test = max_images // CELEBA_TEST_EVERY
        train, test = train[: max_images - n_test], test[:n_test]
    for name, split in (("training (0)", train), ("test (2)", test)):
        if not split:
            raise DatasetError(
                f"partition file {partition_path} is inconsistent with the images: none of the "
                f"{len(files)} images in {files[0].parent} is in its {name} partition. Use the "
                "list_eval_partition.txt that came with these images, or delete it to split by file name.")
    return train, test, f"{partition_path.name}: partition 0 = train, 2 = test (1, validation, unused)"


def celeba_crop_box(width: int, height: int, crop: int = CELEBA_CROP) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the centre crop (carpedm20's ``center_crop`` offsets)."""
    top, left = int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0))
    return left, top, left + crop, top + crop


def celeba_image(path: Path, size: int = CELEBA_SIZE, crop: int = CELEBA_CROP) -> np.ndarray:
    """One image file -> uint8 [size, size, 3]: RGB, centre crop ``crop`` x ``crop``, PIL bilinear resize."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DatasetError(f"cannot read image {path} ({type(exc).__name__}: {exc}); the file is "
                           "corrupt or not an image: replace it (re-download CelebA) or delete it.") from None
    width, height = im.size
    if width < crop or height < crop:
        raise DatasetError(f"image {path} is {width}x{height}, smaller than the {crop}x{crop} centre crop; "
                           "data.celeba_dir must hold the aligned CelebA images (178x218, img_align_celeba).")
    return np.asarray(im.crop(celeba_crop_box(width, height, crop)).resize((size, size), Image.BILINEAR),
                      dtype=np.uint8)


def load_celeba(celeba_dir: str | Path, max_images: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """CelebA from a user's folder: ({train_images, test_images} uint8 [N, 64, 64, 3], record for celeba.json)."""
    if max_images is not None and max_images < CELEBA_MIN_IMAGES:
        raise DatasetError(f"data.celeba_max_images = {max_images} is too few: at least {CELEBA_MIN_IMAGES} "
                           "images are needed (a test split included); raise it or set it to null.")
    image_dir = celeba_image_dir(celeba_dir)
    files = celeba_files(image_dir)
    if not files:
        raise DatasetError(f"no images (*.jpg, *.jpeg, *.png) in {image_dir}; {CELEBA_FIX}.")
    if len(files) < CELEBA_MIN_IMAGES:
        raise DatasetError(f"{image_dir} holds only {len(files)} images, too few (at least {CELEBA_MIN_IMAGES}, "
                           f"a test split included); {CELEBA_FIX}.")
    partition_path = celeba_partition_file(image_dir, Path(celeba_dir))
    train, test, split = celeba_split(files, partition_path, max_images)
    # filled in place: no list of images to stack, which would hold each split twice
    arrays = {}
    for key, split_files in (("train_images", train), ("test_images", test)):
        arr = np.empty((len(split_files), CELEBA_SIZE, CELEBA_SIZE, 3), np.uint8)
        for i, path in enumerate(split_files):
            arr[i] = celeba_image(path)
            if (i + 1) % 20000 == 0:  # the full set takes minutes: say it is moving
                print(f"[ganbench] {key}: {i + 1} of {len(split_files)} images", file=sys.stderr, flush=True)
        arrays[key] = arr
    from PIL import __version__ as pillow_version

    # user data has no canonical checksums: the record (with the sha256 verify_file checks against)
    # says what was read and how, so a rebuilt file can be told apart from an altered one
    record = {
        "dataset": "celeba",
        "source": str(image_dir.resolve()),
        "files_found": len(files),
        "max_images": max_images,
        "split": split,
        "partition_file": None if partition_path is None else str(partition_path.resolve()),
        "counts": {key: int(len(arr)) for key, arr in arrays.items()},
        "first_file": {"train_images": train[0].name, "test_images": test[0].name},
        "last_file": {"train_images": train[-1].name, "test_images": test[-1].name},
        "preprocessing": (f"RGB; centre crop {CELEBA_CROP}x{CELEBA_CROP} (top = round((H-{CELEBA_CROP})/2), "
                          f"left = round((W-{CELEBA_CROP})/2)); PIL bilinear resize to "
                          f"{CELEBA_SIZE}x{CELEBA_SIZE} (antialiased when shrinking)"),
        "crop": CELEBA_CROP,
        "size": CELEBA_SIZE,
        "pillow": pillow_version,
        "sha256": {key: sha256_of(arr) for key, arr in arrays.items()},
    }
    return arrays, record
