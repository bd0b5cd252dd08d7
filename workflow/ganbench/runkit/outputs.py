"""Writers for the contract's output files (impls/README.md, section 4)."""
from __future__ import annotations

import csv
import json
import math
import os
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np

LOG_COLUMNS = ("step", "d_loss", "g_loss", "d_real", "d_fake", "d_probe_train", "d_probe_test", "elapsed_s",
               "g_grad_norm", "g_dead_frac")
TIMING_KEYS = (
    "device",
    "framework",
    "framework_version",
    "setup_s",
    "first_step_s",
    "train_s",
    "median_step_ms",
    "images_per_s",
    "peak_host_mb",
    "peak_device_mb",
    "steps_done",
)


def atomic_write(path: Path, write) -> None:
    """Write through ``write(fh)`` to a temp file beside ``path``, then rename: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_samples(path: str | Path, images: np.ndarray) -> None:
    """samples.npz with ``images`` uint8 [N, H, W, C] (uncompressed, byte-stable)."""
    images = np.ascontiguousarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"samples must be uint8 [N, H, W, C], got {images.dtype} {list(images.shape)}")
    atomic_write(Path(path), lambda fh: np.savez(fh, images=images))


def write_json(path: str | Path, obj: dict) -> None:
    data = (json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n").encode()
    atomic_write(Path(path), lambda fh: fh.write(data))


def write_status(path: str | Path, status: str, step: int | None = None, reason: str | None = None) -> None:
    if status == "ok":
        write_json(path, {"status": "ok"})
    elif status == "diverged":
        write_json(path, {"status": "diverged", "step": int(step), "reason": str(reason)})
    else:
        raise ValueError(f"status must be 'ok' or 'diverged', got {status!r}")


def _finite_or_none(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def write_timing(path: str | Path, timing: dict) -> None:
    missing = [k for k in TIMING_KEYS if k not in timing]
    if missing:
        raise ValueError(f"timing lacks {missing}")
    out = {}
    for k in TIMING_KEYS:
        v = timing[k]
        if k in ("device", "framework", "framework_version"):
            out[k] = str(v)
        elif k == "steps_done":
            out[k] = int(v)
        else:
            out[k] = _finite_or_none(v)
    for k, v in timing.items():  # extra keys are allowed
        if k not in out:
            out[k] = v
    write_json(path, out)


class LogWriter:
    """log.csv with header :data:`LOG_COLUMNS`; flushed per row (probes NaN when not measured).

    ``resume``: the bytes of a log.csv so far (header included, from a checkpoint); the file
    restarts with exactly those bytes and new rows follow."""

    def __init__(self, path: str | Path, resume: bytes | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume is not None:
            self.path.write_bytes(resume)
            self._fh = open(self.path, "a", newline="")
            self._w = csv.writer(self._fh)
            return
        self._fh = open(self.path, "w", newline="")
        self._w = csv.writer(self._fh)
        self._w.writerow(LOG_COLUMNS)
        self._fh.flush()

    def row(self, step: int, d_loss, g_loss, d_real, d_fake, elapsed_s, d_probe_train=math.nan,
            d_probe_test=math.nan, g_grad_norm=math.nan, g_dead_frac=math.nan) -> None:
        vals = [repr(float(v)) for v in (d_loss, g_loss, d_real, d_fake, d_probe_train, d_probe_test)]
        flow = [repr(float(v)) for v in (g_grad_norm, g_dead_frac)]
        self._w.writerow([int(step), *vals, f"{float(elapsed_s):.4f}", *flow])
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_grid(images: np.ndarray, pad: int = 2) -> np.ndarray:
    """uint8 [N, H, W, C] (N square) -> one uint8 [rows*(H+pad)+pad, ...] mosaic."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"grid needs a square number of images, got {n}")
    grid = np.zeros((side * (h + pad) + pad, side * (w + pad) + pad, c), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, side)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def write_grid(path: str | Path, images: np.ndarray) -> None:
    """A PNG mosaic of uint8 [N, H, W, C] images (C = 1 or 3)."""
    from PIL import Image

    grid = make_grid(images)
    img = Image.fromarray(grid[..., 0], mode="L") if grid.shape[-1] == 1 else Image.fromarray(grid, mode="RGB")

    def write(fh):
        img.save(fh, format="PNG")

    atomic_write(Path(path), write)


def peak_host_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0
