"""Checkpoint and resume of a training run (impls/README.md, "Checkpoints").

A checkpoint is one uncompressed npz, ``checkpoint.npz``, written atomically
(:func:`outputs.atomic_write`) at a chunk end. It holds everything the loop
needs to continue *exactly* where it stopped:

* ``model/<name>``  both networks and the BN running statistics (``engine.export_state()``)
* ``opt/<key>``     both optimizers' states (``engine.optimizer_state(native=True)``: moments
                    and step counts, G's own state for D's variables when freeze_d is false)
* ``perm``          the BatchSampler's current epoch permutation
* ``log_csv``       the bytes of log.csv so far
* ``meta``          JSON: spec and dataset sha256, step, the bit_generator state of every
                    numpy stream (batches, noise, grid, probe, curve, eval, init, framework),
                    the sampler's position and epoch, elapsed_s, the timing lists,
                    sha256 of every curve sample / intermediate grid already written.

Where: ``checkpoint_dir(out)``: an explicit ``--checkpoint-dir``, else env
``GANBENCH_CHECKPOINT_DIR``/<run_id>, else, for the pipeline's layout
``results/<study>/runs/<run_id>``, ``results/<study>/checkpoints/<run_id>`` (outside the
rule's declared outputs, so Snakemake never deletes it when a job fails). Any other
``--out`` layout: no checkpoints unless a folder is given.

Tied to the spec: a checkpoint whose spec or dataset sha256 differs, or whose earlier
outputs (curve samples, grids) are no longer on disk unchanged, is discarded with a
message and the run starts from step 0. The folder is removed once the run's outputs
are complete.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import shutil
import sys
from pathlib import Path

import numpy as np

from . import outputs
from .streams import STREAM_NAMES

FORMAT = 2  # 2: log.csv gained g_grad_norm and g_dead_frac (a format-1 checkpoint holds the old header)
FILE = "checkpoint.npz"
STAGED = "checkpoint.next.npz"  # a seed group's member writes here first (two-phase save, runkit.seed_group)
ENV_DIR = "GANBENCH_CHECKPOINT_DIR"


def log(msg: str) -> None:
    print(f"[ganbench] checkpoint: {msg}", file=sys.stderr, flush=True)


def checkpoint_every(spec: dict) -> int:
    """Iterations between checkpoints: spec ``checkpoint_every`` (0 = off), default steps // 4."""
    ce = spec.get("checkpoint_every")
    if ce is None:
        return spec["steps"] // 4
    return int(ce)


def spec_sha256(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_dir(spec: dict, out_dir, explicit=None) -> Path | None:
    """Where this run's checkpoints live (see the module doc), or None (off)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_DIR, "").strip()
    out = Path(out_dir).resolve()
    if env:
        return Path(env) / out.name
    if out.parent.name == "runs":
        return out.parent.parent / "checkpoints" / out.name
    return None


class Checkpointer:
    """Saves and restores the loop's state for one run (see the module doc)."""

    def __init__(self, spec: dict, data_path, out_dir, engine, folder=None):
        self.spec = spec
        self.out = Path(out_dir)
        self.every = checkpoint_every(spec)
        self.dir = checkpoint_dir(spec, out_dir, folder) if self.every > 0 else None
        self.engine = engine
        self.path = self.dir / FILE if self.dir is not None else None
        self.key = None
        if self.path is not None:
            self.key = {"format": FORMAT, "spec_sha256": spec_sha256(spec), "data_sha256": file_sha256(data_path)}
        self.written: dict[str, str] = {}  # out-relative path -> sha256 of outputs written during training
        self.group: list[str] | None = None  # a seed group's member: the checkpoint folders saved together
        self.kill_at = kill_step()

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def due(self, last_saved: int, end: int) -> bool:
        """Save after the chunk ending at ``end``: a multiple of ``every`` was crossed, not the last step."""
        return self.enabled and end < self.spec["steps"] and end // self.every > last_saved // self.every

    def chunk_done(self, start: int, end: int) -> None:
        """The chunk (start, end] and its outputs are complete. Tests only (GANBENCH_TEST_KILL_AT_STEP=N,
        N in the chunk): a hard kill here, no clean-up, the crash a checkpoint is there to survive."""
        if self.kill_at is not None and start < self.kill_at <= end:
            os.kill(os.getpid(), signal.SIGKILL)

    def record_output(self, path: Path) -> None:
        """Remember an output written during training (a checkpoint needs it on disk to resume)."""
        if self.enabled:
            self.written[str(Path(path).relative_to(self.out))] = file_sha256(path)

    # ------------------------------------------------------------ save
    def save(self, step: int, st, planner, log_path: Path, elapsed: float, first_step_s, chunk_times) -> float:
        """Write the checkpoint after ``step``; returns its size in bytes."""
        sampler = planner.sampler
        meta = {
            **self.key,
            "step": int(step),
            "group": self.group,
            "streams": {name: getattr(st, name).bit_generator.state for name in STREAM_NAMES},
            "sampler": {"pos": int(sampler._pos), "epoch": int(sampler.epoch), "has_perm": sampler._perm is not None},
            "elapsed_s": float(elapsed),
            "first_step_s": first_step_s,
            "chunk_times": [[float(dt), int(k)] for dt, k in chunk_times],
            "written": dict(self.written),
        }
        arrays = {f"model/{k}": np.asarray(v) for k, v in self.engine.export_state().items()}
        arrays.update({f"opt/{k}": np.asarray(v) for k, v in self.engine.optimizer_state(native=True).items()})
        if getattr(self.engine, "rng_state", None) is not None:  # optional: engines that use their framework RNG
            arrays["framework_rng"] = np.asarray(self.engine.rng_state())
        arrays["perm"] = sampler._perm if sampler._perm is not None else np.zeros(0, np.int64)
        arrays["log_csv"] = np.frombuffer(Path(log_path).read_bytes(), np.uint8)
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        path = self.path if self.group is None else self.dir / STAGED  # a group member commits later
        for attempt in range(3):  # another run may remove the empty checkpoints/ parent meanwhile (discard)
            try:
                outputs.atomic_write(path, lambda fh: fh.write(data))
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        return len(data)

    def commit(self) -> None:
        """A seed group's member: the staged checkpoint becomes this run's (every member has staged it)."""
        if self.enabled and (self.dir / STAGED).is_file():
            os.replace(self.dir / STAGED, self.path)

    # ------------------------------------------------------------ load
    def load(self) -> dict | None:
        """The checkpoint's contents if it exists and belongs to this spec, data and outputs; else None."""
        if not self.enabled or not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode())
        except Exception as exc:  # noqa: BLE001 - a broken checkpoint is discarded, never fatal
            log(f"{self.path} is unreadable ({type(exc).__name__}: {exc}); discarded, starting from step 0")
            self.discard()
            return None
        for k in ("format", "spec_sha256", "data_sha256"):
            if meta.get(k) != self.key[k]:
                what = {"format": "checkpoint format", "spec_sha256": "spec.json",
                        "data_sha256": "dataset"}[k]
                log(f"{self.path} was written for a different {what} ({k} {str(meta.get(k))[:12]} != "
                    f"{str(self.key[k])[:12]}); discarded, starting from step 0")
                self.discard()
                return None
        for rel, sha in meta["written"].items():
            p = self.out / rel
            if not p.is_file() or file_sha256(p) != sha:
                log(f"{self.path}: {p} (written before the checkpoint) is missing or changed; "
                    "discarded, starting from step 0")
                self.discard()
                return None
        meta["arrays"] = arrays
        return meta

    def restore(self, ck: dict, st, planner) -> None:
        """Put the engine, optimizers, streams and sampler back to the checkpoint's state."""
        arrays = ck["arrays"]
        self.engine.load_state({k[6:]: v for k, v in arrays.items() if k.startswith("model/")})
        self.engine.load_optimizer_state({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
        if "framework_rng" in arrays and hasattr(self.engine, "load_rng_state"):
            self.engine.load_rng_state(arrays["framework_rng"])
        for name in STREAM_NAMES:
            getattr(st, name).bit_generator.state = ck["streams"][name]
        sampler = planner.sampler
        sampler._pos = ck["sampler"]["pos"]
        sampler.epoch = ck["sampler"]["epoch"]
        sampler._perm = arrays["perm"] if ck["sampler"]["has_perm"] else None
        self.written = dict(ck["written"])

    # ------------------------------------------------------------ clean up
    def discard(self) -> None:
        """Remove this run's checkpoint folder (and the checkpoints/ parent once empty)."""
        if self.dir is None:
            return
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            self.dir.parent.rmdir()  # only when empty
        except OSError:
            pass


def _staged_meta(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return json.loads(npz["meta"].tobytes().decode())
    except Exception:  # noqa: BLE001 - unreadable: treated as absent
        return None


def settle_staged(folders: list) -> None:
    """Finish or undo a seed group's interrupted save: members stage their checkpoints (``STAGED``), and
    only once every member of the save has staged one are they committed. Left behind by a kill: staged
    checkpoints of a save that every member it names (meta ``group``) completed (staged or committed at
    that step) are committed; any other staged checkpoint is removed. So a group's members always
    resume from one step."""
    for folder in (Path(f) for f in folders if f is not None):
        staged = folder / STAGED
        if not staged.is_file():
            continue
        meta = _staged_meta(staged)
        done = meta is not None and all(
            any((m := _staged_meta(Path(g) / name)) is not None and m["step"] == meta["step"]
                for name in (STAGED, FILE)) for g in meta.get("group") or [])
        if done:
            os.replace(staged, folder / FILE)
        else:
            staged.unlink(missing_ok=True)


def kill_step() -> int | None:
    """GANBENCH_TEST_KILL_AT_STEP=N (tests only): SIGKILL this process after the chunk holding step N."""
    env = os.environ.get("GANBENCH_TEST_KILL_AT_STEP", "").strip()
    return int(env) if env else None
