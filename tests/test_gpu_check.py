"""scripts/gpu_check.sh, the check a lent GPU machine runs, in its CPU mode (the same steps at tiny
sizes), so that it cannot rot before the day a GPU is lent."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from ganbench.gpu_check import FIRST_RTOL, RUN_RTOL, compare_logs
from ganbench.step_times import read_log

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    proc = subprocess.run([str(REPO / "scripts" / "gpu_check.sh"), "--cpu", "--out", str(out), "--minutes", "10"],
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in (out / "gpu_check.md").read_text().splitlines() if line.startswith("| ") and "---" not in line]
    return proc, out, rows[1:]  # without the header row


def test_cpu_mode_runs_every_step_and_passes(checked):
    proc, out, rows = checked
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    steps = {}
    for step, result, detail, _ in rows:
        steps.setdefault(step, []).append((result, detail))
    assert {"environment", "twins", "benchmark", "snakemake slice"} <= set(steps)
    # PyTorch against TensorFlow and JAX, on the smoke study's BasicGAN and DCGAN
    assert len(steps["twins"]) == 4 and all(result == "pass" for result, _ in steps["twins"]), steps["twins"]
    assert all("at the first iteration" in detail for _, detail in steps["twins"])
    # both runs of the slice trained and scored
    assert [result for result, _ in steps["snakemake slice"]] == ["pass", "pass"], steps["snakemake slice"]
    # PyTorch's and JAX's seed groups: equal to single-seed runs on both models, timed at K = 1 and 2
    groups = steps["seed groups"]
    assert [r for r, d in groups if "vs alone" in d] == ["pass"] * 4, groups
    timed = [d for r, d in groups if r.endswith("ms/seed-step")]
    assert len(timed) == 4 and all(" K=" in d for d in timed), groups


def test_the_benchmark_log_is_one_the_estimate_reads_back(checked):
    _, out, rows = checked
    logs = list(out.glob("benchmark-smoke-*.log"))
    assert len(logs) == 1
    times = read_log(logs[0])
    assert {impl for _, _, impl, _ in times} == {"pytorch", "tensorflow", "jax"}
    assert all(device == "cpu" and m.ms_per_step > 0 and "cores" in m.machine for (device, _, _, _), m in times.items())
    timed = [r for r in rows if r[0] == "benchmark" and r[1].endswith("ms/step")]
    assert len(timed) == len(times)


def test_the_twin_comparison_catches_a_difference():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.3, 1.5, (20, 4))  # [steps, columns]
    assert compare_logs(a, a.copy())[2]
    b = a.copy()
    b[0, 1] *= 1 + 3 * FIRST_RTOL  # the first iteration's forward passes disagree
    first, _, ok = compare_logs(a, b)
    assert not ok and first > FIRST_RTOL
    c = a.copy()
    c[-1, 2] *= 1 + 3 * RUN_RTOL  # the runs drift apart later
    _, whole, ok = compare_logs(a, c)
    assert not ok and whole > RUN_RTOL
