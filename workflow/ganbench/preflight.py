"""Checks made once before any job starts (the Snakefile's ``onstart``).

A results folder Snakemake cannot write makes every job fail only when it writes
its outputs, after minutes of training, with an error buried in its log; on a
cluster, after a wait in the queue. ``check_writable`` says so up front instead.
Likewise ``check_evaluator``: a CelebA study is scored with Inception-v3 only, so
without its weight file (or torch-fidelity) every evaluate job would fail after
its training.
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Iterable


class NotWritable(RuntimeError):
    pass


class MissingEvaluator(RuntimeError):
    """The network the study's dataset is scored with cannot be loaded here."""


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder`` (os.access says yes to root even on a chmod 555 folder)."""
    fd, name = tempfile.mkstemp(prefix=".ganbench-write-check-", dir=folder)
    os.close(fd)
    os.unlink(name)


def check_writable(folders: Iterable[str | os.PathLike], workdir: str | os.PathLike = ".") -> None:
    """Raise NotWritable naming the first folder (or the folder that would hold it) that cannot be written.

    Each folder that exists is probed with a file, and so is every folder below it that the
    study writes into (os.access, cheap); a folder that does not exist yet is checked where it
    would be created.
    """
    workdir = Path(workdir).resolve()
    for folder in folders:
        target = (workdir / folder).resolve()
        where = _nearest_existing(target)
        what = "results folder" if where == target else f"folder that would hold {target}"
        if not where.is_dir():
            raise NotWritable(f"the {what}, {where}, is not a folder; move it away or run the study from "
                              "another folder (snakemake --directory DIR). No job was started.")
        try:
            _probe(where)
        except OSError as exc:
            raise NotWritable(
                f"the {what}, {where}, is not writable ({exc.strerror}). Make it writable "
                f"(chmod -R u+w {where}, or fix its owner), or run the study from a folder you can "
                "write (snakemake --directory DIR). No job was started.") from None
        if where == target:
            for sub, dirs, _files in os.walk(target):
                if not os.access(sub, os.W_OK | os.X_OK):
                    raise NotWritable(
                        f"{sub} (inside the results folder) is not writable. Make it writable "
                        f"(chmod -R u+w {target}) or run the study from another folder "
                        "(snakemake --directory DIR). No job was started.")


def check_evaluator(dataset: str, inception_weights: str | os.PathLike | None = None,
                    hub: str | os.PathLike | None = None) -> None:
    """Raise MissingEvaluator when ``dataset`` is scored with Inception-v3 only (CelebA) and its
    weight file is not found (the config's ``inception_weights``, then $GANBENCH_INCEPTION_WEIGHTS,
    then the torch hub cache) or torch-fidelity is not installed. The MNIST family ships its
    networks: nothing to check (their Inception extras are optional)."""
    from ganbench.metrics.inception_weights import INCEPTION_ONLY_DATASETS, find_inception_weights, where_to_put_weights

    if dataset not in INCEPTION_ONLY_DATASETS:
        return
    path, _ = find_inception_weights(inception_weights, hub)
    if path is None:
        raise MissingEvaluator(
            f"dataset: {dataset} is scored with Inception-v3, and its weight file was not found. "
            f"{where_to_put_weights(inception_weights, hub)} No job was started.")
    if importlib.util.find_spec("torch_fidelity") is None:
        raise MissingEvaluator(
            f"dataset: {dataset} is scored with Inception-v3 (weights {path}), which needs torch-fidelity; "
            "it is not installed: pip install -r requirements.txt (torch-fidelity==0.4.0). No job was started.")
