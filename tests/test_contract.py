"""Every discovered impl honours the contract of impls/README.md.

Parametrised over ``discover_impls(impls/)`` x the models each manifest lists:
the entry point runs on a tiny spec against a small synthetic dataset (no
results/ needed) and every output file is checked. All runs start at once in
a module fixture (two at a time) so the suite stays quick.
"""
from __future__ import annotations

import copy
import csv
import json
import math
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import impl_runs
from ganbench import runkit
from ganbench.gpu_check import synthetic_mnist
from ganbench.impls import discover_impls
from twins_helpers.cases import BASE_SPEC

REPO = Path(__file__).resolve().parents[1]
IMPLS = discover_impls(REPO / "impls")
STEPS, LOG_EVERY, GRID_EVERY, EVAL, GRID = 20, 5, 10, 64, 16

SPEC = {
    **BASE_SPEC, "run_id": "contract", "impl": "?", "z_dim": 32, "batch_size": 16, "steps": STEPS,
    "arch": {"hidden": 64, "output": "sigmoid"}, "eval_samples": EVAL, "log_every": LOG_EVERY,
    "grid_every": GRID_EVERY, "grid_size": GRID,
}
DCGAN = {"image_size": 32, "arch": {"base_width": 8, "kernel_size": 5, "bn_momentum": 0.1, "bn_eps": 1e-5}}
RUNS = [(impl, model) for impl in IMPLS for model in IMPLS[impl].models]
DIVERGE = [(impl, "basic" if "basic" in IMPLS[impl].models else IMPLS[impl].models[0]) for impl in IMPLS]


def make_spec(impl: str, model: str, **kw) -> dict:
    s = copy.deepcopy(SPEC)
    s.update(impl=impl, model=model, run_id=f"{impl}-{model}-contract")
    if model == "dcgan":
        s.update(copy.deepcopy(DCGAN))
    s.update(kw)
    return s


FAKE_NAN_STEP = 13  # chunks end at 1, 5, 10, 15, 20: the NaN sits inside the (10, 15] chunk


def run_entry(impl: str, spec: dict, data: Path, out: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return impl_runs.run_entry(IMPLS[impl].entry, spec, data, out, env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    data = synthetic_mnist(tmp / "mnist.npz")
    jobs = {("ok", impl, model): make_spec(impl, model) for impl, model in RUNS}
    for impl, model in DIVERGE:  # Adam's first step moves every weight by ~lr: 1e30 overflows at once
        huge = {"lr": 1e30, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8}
        jobs[("diverge", impl, model)] = make_spec(impl, model, optim={"d": huge, "g": dict(huge)})
        jobs[("fake_nan", impl, model)] = make_spec(impl, model, curve_fractions=[0.25, 0.75])

    def go(item):
        (kind, impl, model), spec = item
        out = tmp / f"{kind}-{impl}-{model}"
        env = {"GANBENCH_TEST_NAN_AT_STEP": str(FAKE_NAN_STEP)} if kind == "fake_nan" else {}
        return (kind, impl, model), (run_entry(impl, spec, data, out, env), out, runkit.validate_spec(spec))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(go, jobs.items()))


def test_impls_are_discovered():
    assert {"pytorch", "tensorflow"} <= set(IMPLS)
    for impl in IMPLS.values():
        assert impl.entry.is_file() and impl.dir.name == impl.name


def assert_contract_files(proc: subprocess.CompletedProcess, out: Path, spec: dict, impl: str) -> None:
    """Every output file of a finished run (impls/README.md, section 4), as ``spec`` asks for them."""
    assert proc.returncode == 0, proc.stderr[-4000:]
    size, channels, steps, log_every = spec["image_size"], spec["channels"], spec["steps"], spec["log_every"]

    with np.load(out / "samples.npz") as npz:
        images = npz["images"]
    assert images.dtype == np.uint8 and images.shape == (spec["eval_samples"], size, size, channels)
    assert images.std() > 0 and len({img.tobytes() for img in images}) > 1

    with open(out / "log.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["step", "d_loss", "g_loss", "d_real", "d_fake", "d_probe_train", "d_probe_test", "elapsed_s",
                       "g_grad_norm", "g_dead_frac"]
    assert [int(r[0]) for r in rows[1:]] == list(range(log_every, steps + 1, log_every))
    for r in rows[1:]:
        vals = [float(v) for v in r[1:]]
        assert all(math.isfinite(v) for v in vals[:7])
        assert 0 <= vals[2] <= 1 and 0 <= vals[3] <= 1 and 0 < vals[4] < 1 and 0 < vals[5] < 1 and vals[6] >= 0
        if spec["model"] == "basic":  # the gradient at G's first layer and G's dead units (runkit.gradient_flow)
            assert vals[7] > 0 and math.isfinite(vals[7]) and 0 <= vals[8] <= 1
        else:
            assert math.isnan(vals[7]) and math.isnan(vals[8])
    assert [float(r[7]) for r in rows[1:]] == sorted(float(r[7]) for r in rows[1:])

    timing = json.loads((out / "timing.json").read_text())
    for key in runkit.TIMING_KEYS:
        assert key in timing, key
    assert timing["framework"] == IMPLS[impl].framework and timing["device"] == "cpu"
    assert isinstance(timing["framework_version"], str) and timing["framework_version"]
    for key in ("setup_s", "first_step_s", "train_s", "median_step_ms", "images_per_s", "peak_host_mb"):
        assert isinstance(timing[key], (int, float)) and timing[key] > 0, key
    assert timing["peak_device_mb"] is None and timing["steps_done"] == steps
    # one definition of speed: throughput is the median step time's (never a mean beside a median)
    expected_ips = spec["batch_size"] * spec["d_steps"] * 1000 / timing["median_step_ms"]
    assert timing["images_per_s"] == pytest.approx(expected_ips, rel=1e-6)

    assert json.loads((out / "status.json").read_text()) == {"status": "ok"}
    grid_every = spec["grid_every"]
    extra = [f"grid_{s}.png" for s in range(grid_every, steps, grid_every)] if grid_every else []
    for name in ["grid.png", *extra]:
        with Image.open(out / name) as im:
            im.load()
            side = int(math.isqrt(spec["grid_size"]))
            assert im.size == (side * (size + 2) + 2,) * 2 and im.mode == ("L" if channels == 1 else "RGB")
    assert not (out / f"grid_{steps}.png").exists()
    assert "%|" in proc.stderr, "a tqdm progress bar belongs on stderr"


@pytest.mark.parametrize("impl, model", RUNS)
def test_entry_point_writes_every_contract_file(runs, impl, model):
    proc, out, spec = runs[("ok", impl, model)]
    assert spec["steps"] == STEPS and spec["grid_every"] == GRID_EVERY and spec["channels"] == 1
    assert_contract_files(proc, out, spec, impl)
    assert (out / f"grid_{GRID_EVERY}.png").is_file()


@pytest.mark.parametrize("impl, model", DIVERGE)
def test_forced_divergence_is_reported_and_exits_zero(runs, impl, model):
    proc, out, _ = runs[("diverge", impl, model)]
    assert proc.returncode == 0, proc.stderr[-4000:]
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "diverged" and isinstance(status["step"], int) and 1 <= status["step"] <= STEPS
    assert status["reason"]
    for name in ("samples.npz", "log.csv", "timing.json", "grid.png"):
        assert (out / name).is_file(), name
    with np.load(out / "samples.npz") as npz:  # never images from non-finite weights
        assert npz["images"].shape == (0, 28, 28, 1) and npz["images"].dtype == np.uint8
    timing = json.loads((out / "timing.json").read_text())
    assert all(k in timing for k in runkit.TIMING_KEYS) and timing["steps_done"] == status["step"]
    last = list(csv.reader(open(out / "log.csv")))[-1]
    assert int(last[0]) == status["step"]


@pytest.mark.parametrize("impl, model", DIVERGE)
def test_fake_nan_gives_the_exact_step_and_no_samples(runs, impl, model):
    """GANBENCH_TEST_NAN_AT_STEP=13 (a test-only hook in runkit): the contract of a diverged run."""
    proc, out, spec = runs[("fake_nan", impl, model)]
    assert proc.returncode == 0, proc.stderr[-4000:]
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "diverged" and status["step"] == FAKE_NAN_STEP
    timing = json.loads((out / "timing.json").read_text())
    assert timing["steps_done"] == FAKE_NAN_STEP
    assert timing["timed_chunks"] == 2 and timing["median_step_ms"] > 0  # (1, 5] and (5, 10] only
    rows = list(csv.reader(open(out / "log.csv")))
    assert [int(r[0]) for r in rows[1:]] == [5, 10, FAKE_NAN_STEP] and rows[-1][1] == "nan"
    with np.load(out / "samples.npz") as npz:
        assert npz["images"].shape == (0, spec["image_size"], spec["image_size"], 1)
    # curve points: 0.25 -> step 5 written; 0.75 -> 15 and the end 20 come after the divergence
    assert sorted(p.name for p in (out / "curve").iterdir()) == ["samples_5.npz"]


@pytest.mark.parametrize("impl", list(IMPLS))
def test_bad_spec_fails_naming_the_key(tmp_path, impl):
    spec = make_spec(impl, IMPLS[impl].models[0])
    del spec["prior"]
    proc = run_entry(impl, spec, tmp_path / "missing.npz", tmp_path / "out")
    assert proc.returncode != 0 and "prior" in proc.stderr
