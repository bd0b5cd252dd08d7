"""A killed ``snakemake`` leaves its locks behind: clear them when their owner is provably dead.

Snakemake locks the working directory (``.snakemake/locks``) and, after SIGKILL, a
power loss or an out-of-memory kill, the next identical command stops with
"Directory cannot be locked ... use --unlock". Snakemake records no owner, so the
Snakefile records one: :func:`record_owner` (from ``onstart``: the main process,
lock held) writes ``.snakemake/ganbench-owner.json`` with the pid, the host, the
boot id and the process start time. :func:`clear_stale_locks` (top of the
Snakefile, main process only) removes the locks only when that owner ran on this
host in this boot and is no longer alive (or its pid now belongs to another
process). Locks with no owner record, from another host, or held by a live
snakemake are left alone: Snakemake's own LockException then stands.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

OWNER = "ganbench-owner.json"


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def record_owner(meta_dir: str | Path = ".snakemake") -> None:
    """Record this (main snakemake) process as the owner of the working directory's locks."""
    pid = os.getpid()
    owner = {"pid": pid, "host": socket.gethostname(), "boot_id": _boot_id(), "start": _start_time(pid)}
    path = Path(meta_dir) / OWNER
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(owner))
    os.replace(tmp, path)


def clear_stale_locks(meta_dir: str | Path = ".snakemake") -> str | None:
    """Remove the locks of a dead recorded owner; returns a message saying so, else None."""
    meta = Path(meta_dir)
    locks = sorted((meta / "locks").glob("*.lock")) if (meta / "locks").is_dir() else []
    if not locks:
        return None
    try:
        owner = json.loads((meta / OWNER).read_text())
        pid = int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record: leave it to Snakemake
    if owner.get("host") != socket.gethostname():
        return None  # another machine's snakemake: cannot tell
    if owner.get("boot_id") != _boot_id():
        return _remove(meta, locks, pid, "by a reboot")
    if _alive(pid) and (owner.get("start") is None or _start_time(pid) == owner.get("start")):
        return None  # a live snakemake holds them
    return _remove(meta, locks, pid, "and is gone")


def _remove(meta: Path, locks: list[Path], pid: int, why: str) -> str:
    for p in locks:
        p.unlink(missing_ok=True)
    (meta / OWNER).unlink(missing_ok=True)
    return (f"[ganbench] removed {len(locks)} stale Snakemake lock(s) in {meta.resolve()}/locks: "
            f"the snakemake (pid {pid}) that held them was killed {why}; unfinished jobs are re-run")
