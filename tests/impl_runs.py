"""What the contract, resume and package tests share: a small synthetic MNIST-shaped dataset file,
and one run of an impl's entry point as the train rule runs it (own process, CPU, one thread)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np

from ganbench.impl_entry import entry_command

REPO = Path(__file__).resolve().parents[1]


def synthetic_mnist(path: Path, n: int = 256, n_test: int = 64) -> Path:
    """uint8 [n, 28, 28, 1] noise images with a blank top band (a little structure), random labels;
    the test split is the first ``n_test`` of them."""
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    imgs[:, :4] = 0
    labels = rng.integers(0, 10, n).astype(np.uint8)
    np.savez(path, train_images=imgs, train_labels=labels, test_images=imgs[:n_test], test_labels=labels[:n_test])
    return path


def run_entry(entry: Path, spec: dict, data: Path, out: Path, env: dict | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """Write ``spec`` to out/spec.json and train it with the impl whose entry is ``entry`` (its own
    script, or its folder: ganbench.impl_entry), on the CPU with one thread."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps(spec))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", GANBENCH_THREADS="1", **(env or {}))
    return subprocess.run([*entry_command(entry), "--spec", str(out / "spec.json"), "--data", str(data),
                           "--out", str(out)], env=env, cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout)


def strip_timing(result: dict) -> dict:
    """An evaluator result without its wall time (the one field two identical scorings differ in)."""
    return {k: v for k, v in result.items() if k != "seconds"}
