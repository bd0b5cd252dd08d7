"""Write, check and read the dataset file ``results/data/<dataset>.npz`` (and CelebA's record).

Its one job is the file itself: build it from the right loader (:mod:`ganbench.data_mnist`,
:mod:`ganbench.data_celeba`), written atomically; the builder's command-line options for a
config (the Snakemake rule's params); and :func:`verify_file`, which every job that reads the
file runs first, against the canonical checksums (MNIST family) or CelebA's record.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np

from ganbench.data_celeba import CELEBA_FIX, load_celeba
from ganbench.data_common import DATASETS, DISPLAY_NAMES, DatasetError, sha256_of
from ganbench.data_mnist import CHECKSUMS, LOADERS
from ganbench.runkit.outputs import atomic_write

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
    # the checksums are of [N, 28, 28] images; the file holds NHWC like CelebA's (a channel axis of 1)
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
        return CHECKSUMS[dataset], f"the canonical {DISPLAY_NAMES[dataset]} checksums (ganbench/data_mnist.py)"
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
            # every bad array is collected first, so one message names them all
            bad = []
            for key in keys:
                if key not in expected:  # a named array with no recorded sha256 need only exist
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
