"""A killed ``snakemake`` leaves its locks behind: clear exactly those whose owner is provably dead.

Snakemake locks the working directory by writing ``.snakemake/locks/<n>.input.lock`` and
``<n>.output.lock`` (one pair per running snakemake, listing its files) and, after SIGKILL,
a power loss or an out-of-memory kill, the next identical command stops with "Directory
cannot be locked ... use --unlock". Snakemake records no owner, so the Snakefile does, with
kernel locks that die with their process (no pid guessing):

* :func:`take_ownership` (top of the Snakefile, main snakemake process, every mode): creates
  ``.snakemake/ganbench-owners/<study>.<pid>.lock`` and holds an exclusive ``flock`` on it for
  the process's whole life, before Snakemake writes any lock of its own.
* :func:`record_locks` (``onstart``: after Snakemake locked, before any job) writes into that
  file which Snakemake lock files are this process's (name, inode, size, mtime).
* :func:`clear_stale_locks` (top of the Snakefile, main process) removes

  - the lock files recorded by an owner file whose ``flock`` is free (its snakemake is dead),
    when they are still the very files it recorded;
  - lock files no owner file claims (a snakemake killed before ``onstart``, or one from before
    this scheme) only when no other snakemake of this project holds its owner lock in this
    directory: a live one may be between taking its locks and recording them.

  Locks of a live snakemake, of any study, are never touched: Snakemake's own LockException
  then stands.
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import socket
from pathlib import Path

OWNERS = "ganbench-owners"
LEGACY_OWNER = "ganbench-owner.json"  # the pid record of earlier versions

_held: dict[str, int] = {}  # owner file -> its locked descriptor, for this process's life


def _identity(path: Path) -> dict | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return {"name": path.name, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write(fd: int, record: dict) -> None:
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def take_ownership(study: str, meta_dir: str | Path = ".snakemake") -> Path:
    """Hold this process's owner lock (see the module doc); returns the owner file."""
    folder = Path(meta_dir) / OWNERS
    folder.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    path = folder / f"{study}.{pid}.lock"
    if str(path) in _held:
        return path
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a fresh file of our own pid: never contended for long
    _held[str(path)] = fd
    _write(fd, {"pid": pid, "host": socket.gethostname(), "study": study, "locks": []})

    def release() -> None:  # a normal exit: Snakemake removed its own locks
        path.unlink(missing_ok=True)
        os.close(_held.pop(str(path)))

    atexit.register(release)
    return path


def record_locks(lock_files, meta_dir: str | Path = ".snakemake") -> None:
    """Record which Snakemake lock files are this process's (call from ``onstart``)."""
    pid = os.getpid()
    for key, fd in _held.items():
        path = Path(key)
        if path.parent != Path(meta_dir) / OWNERS or not path.name.endswith(f".{pid}.lock"):
            continue
        record = json.loads(os.pread(fd, 1 << 20, 0) or b"{}")
        record["locks"] = [i for i in (_identity(Path(f)) for f in lock_files) if i is not None]
        _write(fd, record)


def _try_owner(path: Path) -> tuple[int | None, dict]:
    """(locked descriptor, record) when the owner is dead, (None, record) when it is alive."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None, {}
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        record = {}
        try:
            record = json.loads(os.pread(fd, 1 << 20, 0) or b"{}")
        except ValueError:
            pass
        os.close(fd)
        return None, record
    try:
        record = json.loads(os.pread(fd, 1 << 20, 0) or b"{}")
    except ValueError:
        record = {}
    return fd, record


def clear_stale_locks(meta_dir: str | Path = ".snakemake") -> str | None:
    """Remove the Snakemake locks of dead owners (see the module doc); a message saying so, else None."""
    meta = Path(meta_dir)
    lock_dir = meta / "locks"
    locks = {p.name: p for p in lock_dir.glob("*.lock")} if lock_dir.is_dir() else {}
    mine = set(_held)
    claimed: set[str] = set()
    removed: list[str] = []
    dead: list[str] = []
    live: list[dict] = []
    owners = sorted((meta / OWNERS).glob("*.lock")) if (meta / OWNERS).is_dir() else []
    for owner in owners:
        if str(owner) in mine:
            continue
        fd, record = _try_owner(owner)
        recorded = record.get("locks") or []
        claimed.update(r.get("name", "") for r in recorded)
        if fd is None:
            live.append(record)
            continue
        try:  # a dead owner: its recorded locks go, if they are still the files it wrote
            for r in recorded:
                path = locks.get(r.get("name", ""))
                if path is not None and _identity(path) == r:
                    path.unlink(missing_ok=True)
                    removed.append(path.name)
            if recorded or record.get("pid"):
                dead.append(f"{record.get('pid', '?')} ({record.get('study', '?')})")
            owner.unlink(missing_ok=True)
        finally:
            os.close(fd)
    unclaimed = [p for name, p in locks.items() if name not in claimed and name not in removed]
    if unclaimed and not live:  # no other snakemake of this project runs here: nobody can own them
        for p in unclaimed:
            p.unlink(missing_ok=True)
            removed.append(p.name)
    if not live:
        (meta / LEGACY_OWNER).unlink(missing_ok=True)
    if not removed:
        return None
    who = f"the snakemake(s) that held them (pid {', '.join(dead)}) were killed" if dead else \
        "no running snakemake holds them (its owner was killed before recording them)"
    return (f"[ganbench] removed {len(removed)} stale Snakemake lock(s) in {lock_dir.resolve()}: {who}; "
            "unfinished jobs are re-run")


def live_owners(study: str, meta_dir: str | Path = ".snakemake") -> list[int]:
    """Pids of other live snakemakes of ``study`` in this directory (for a clear message)."""
    pids = []
    folder = Path(meta_dir) / OWNERS
    for owner in sorted(folder.glob(f"{study}.*.lock")) if folder.is_dir() else []:
        if str(owner) in _held:
            continue
        fd, record = _try_owner(owner)
        if fd is not None:
            os.close(fd)
        elif record.get("study") == study and record.get("pid"):
            pids.append(int(record["pid"]))
    return pids
