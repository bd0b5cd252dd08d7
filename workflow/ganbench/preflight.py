"""Checks made once before any job starts (the Snakefile's ``onstart``).

A results folder Snakemake cannot write makes every job fail only when it writes
its outputs, after minutes of training, with an error buried in its log; on a
cluster, after a wait in the queue. ``check_writable`` says so up front instead.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable


class NotWritable(RuntimeError):
    pass


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
