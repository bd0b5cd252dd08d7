"""Give each training job its own GPU.

Snakemake only counts the ``gpu`` resource (``--resources gpu=2`` caps how many
jobs hold one); it does not say *which* GPU a job gets. Each job therefore
claims a free GPU id by taking an exclusive ``flock`` on a per-GPU lock file
and exports ``CUDA_VISIBLE_DEVICES`` to that id. The kernel drops the lock
when the last process holding it ends: ``launch.py`` passes the lock's file
descriptor to the trainer (``pass_fds``), so the claim lives exactly as long as
the trainer, and a crashed job never leaves a stale claim.

* ``CUDA_VISIBLE_DEVICES`` already set (a scheduler's allocation, or a user's
  choice): jobs claim among those ids only, even when it names one id (two jobs
  with the same preset id run one after the other, never side by side).
* set to the empty string, or no GPUs (``n_gpus`` 0): the job runs on the CPU.

GPUs are counted in one place, :func:`resolve_gpu_count` (``python -m
ganbench.gpu_slots`` prints it): the ``ganbench`` script passes that number as
``--resources gpu=N`` and the Snakefile caps the ``gpu`` resource at it.

The lock folder is machine-wide (``$TMPDIR/ganbench-gpu-locks-<uid>``), namespaced by
``SLURM_JOB_ID`` inside a Slurm job (there each job's ``CUDA_VISIBLE_DEVICES=0`` may be
another physical GPU); ``GANBENCH_GPU_LOCK_DIR`` overrides it.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Mapping

ENV = "CUDA_VISIBLE_DEVICES"
CLUSTER_ENV = "GANBENCH_CLUSTER_GPUS"  # the submitting snakemake's count, read by its cluster jobs


class GpuClaim(str):
    """The value to export as CUDA_VISIBLE_DEVICES ('' = CPU); ``fd`` is the claim's locked file
    descriptor (None on the CPU): pass it to the process that uses the GPU (``pass_fds``)."""

    fd: int | None = None

    def __new__(cls, value: str, fd: int | None = None):
        obj = super().__new__(cls, value)
        obj.fd = fd
        return obj


def default_lock_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Machine-wide, so two Snakemake runs on one host share the claims (see the module doc)."""
    override = env.get("GANBENCH_GPU_LOCK_DIR")
    if override:
        return Path(override)
    job = env.get("SLURM_JOB_ID", "").strip()
    suffix = f"-slurm{job}" if job.isalnum() else ""
    return Path(tempfile.gettempdir()) / f"ganbench-gpu-locks-{os.getuid()}{suffix}"


def count_visible_gpus() -> int | None:
    """GPUs nvidia-smi lists (None when it is absent or fails)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def resolve_gpu_count(gpus: int | str = "auto", device: str = "auto", env: Mapping[str, str] = os.environ,
                      visible: int | None | str = "probe") -> int:
    """How many GPUs the study may use at once, from the config's ``gpus`` and ``device``: a preset
    ``CUDA_VISIBLE_DEVICES`` caps it at the ids it names (nvidia-smi's count too, when it answers);
    ``gpus: auto`` counts with nvidia-smi. ``visible``: nvidia-smi's count (default: ask it)."""
    if device == "cpu":
        return 0
    preset = env.get(ENV)
    if preset is None:
        if gpus != "auto":
            return int(gpus)
        n = count_visible_gpus() if visible == "probe" else visible
        return n or 0
    n = len(candidate_ids(preset, 0))
    if gpus == "auto" and n:
        seen = count_visible_gpus() if visible == "probe" else visible
        if seen is not None:
            n = min(n, seen)
    return n if gpus == "auto" else min(n, int(gpus))


def study_gpu_count(gpus: int | str, device: str, *, local_exec: bool, remote_exec: bool,
                    env: Mapping[str, str] = os.environ, visible: int | None | str = "probe") -> int:
    """The study's GPU count for one snakemake process, the same in a cluster job as where it was
    submitted (else the job asks its scheduler for one thing and its job step for another).

    * local execution: :func:`resolve_gpu_count` (this host's GPUs).
    * submitting to a cluster (``--executor slurm``): this host's GPUs and ``CUDA_VISIBLE_DEVICES``
      are not the nodes'; a number in the config is taken as given (``gpus: auto`` still counts
      this host's, usually none on a login node: pass ``--config gpus=1``).
    * inside a cluster job: the count the submitting snakemake exported in :data:`CLUSTER_ENV`.
    """
    if remote_exec:
        given = env.get(CLUSTER_ENV, "").strip()
        if given.isdigit():
            return int(given)
    elif not local_exec and device != "cpu" and gpus != "auto":
        return int(gpus)
    return resolve_gpu_count(gpus, device, env, visible)


def candidate_ids(preset: str | None, n_gpus: int) -> list[str]:
    if preset is None:
        return [str(i) for i in range(n_gpus)]
    return [part.strip() for part in preset.split(",") if part.strip()]


def _try_lock(lock_dir: Path, gpu_id: str) -> int | None:
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in gpu_id)
    fd = os.open(lock_dir / f"gpu-{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@contextlib.contextmanager
def claim_gpu(
    n_gpus: int,
    lock_dir: Path | None = None,
    env: Mapping[str, str] = os.environ,
    poll_s: float = 0.2,
    timeout_s: float | None = None,
) -> Iterator[GpuClaim]:
    """Yield the value to export as CUDA_VISIBLE_DEVICES ('' = CPU) while holding the claim.

    Blocks (polling) while every GPU is claimed; ``timeout_s`` bounds the wait. The yielded
    :class:`GpuClaim` carries the lock's descriptor (``.fd``) for a child process to inherit.
    """
    preset = env.get(ENV)
    ids = candidate_ids(preset, n_gpus)
    if n_gpus <= 0 or not ids:  # a CPU study (gpus 0, device cpu) or CUDA_VISIBLE_DEVICES=''
        yield GpuClaim("")
        return
    lock_dir = Path(lock_dir or default_lock_dir(env))
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    told = False
    while True:
        for gpu_id in ids:
            fd = _try_lock(lock_dir, gpu_id)
            if fd is not None:
                try:
                    yield GpuClaim(gpu_id, fd)
                finally:
                    os.close(fd)  # the lock goes with the last descriptor (a child may still hold it)
                return
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(
                f"all GPUs {ids} stayed claimed for {timeout_s} s (locks in {lock_dir}); is another "
                "ganbench run using them? Lower --resources gpu= or wait for it to finish."
            )
        if not told:
            print(f"[ganbench] every GPU of {ids} is claimed (locks in {lock_dir}); waiting for one",
                  file=sys.stderr, flush=True)
            told = True
        time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print how many GPUs ganbench jobs may use at once "
                                     "(nvidia-smi's count, capped by a preset CUDA_VISIBLE_DEVICES).")
    parser.add_argument("--gpus", default="auto", help="the config's gpus (auto or a number)")
    parser.add_argument("--device", default="auto", help="the config's device (auto, cpu, cuda)")
    args = parser.parse_args(argv)
    print(resolve_gpu_count(args.gpus if args.gpus == "auto" else int(args.gpus), args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
