"""What the contract, resume and package tests share (their synthetic dataset is
ganbench.gpu_check.synthetic_mnist): one run of an impl's entry point as the train rule runs it (own
process, CPU, one thread), and an evaluator result without its timing."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from ganbench.impl_entry import entry_command

REPO = Path(__file__).resolve().parents[1]


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
