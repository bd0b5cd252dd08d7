"""Seed groups (runkit.seed_group): seed k of a K-seed group computes what the single-seed run of seed k
computes, in every impl that declares a seed-group engine (impls/pytorch, impls/jax).

Judged with the twin tests' relative criteria (tests/test_twins.py): forward outputs within FORWARD_ATOL,
one iteration's update of every weight within DELTA_RTOL (99th percentile) and DELTA_OUTLIER_RTOL (every
weight) of the tensor's update scale, and, through the drivers, the logged values of 200 BasicGAN steps
within CLI_LOSS_ATOL and samples.npz pixel-identical to CLI_PIXELS_EQUAL (a few DCGAN steps: within the
GPU check's twin bounds, ganbench.gpu_check.compare_logs). A batched matmul sums in
another order than K separate ones, so equality is a round-off bound, as between frameworks. The cases
mix the recipes' knobs: schedules (d_steps 2, g_steps 2), freeze_d false, label smoothing, fresh noise,
the minimax loss, BN DCGANs (one with the post's batch-statistics inference), and K = 1, 3, 5.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ganbench.gpu_check import compare_logs
from test_twins import (CLI_LOSS_ATOL, CLI_PIXELS_EQUAL, DELTA_OUTLIER_RTOL, DELTA_QUANTILE, DELTA_RTOL,
                        FORWARD_ATOL, _mnist, update_difference)
from twins_helpers import cases as C

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "seed_group_worker.py"
IMPLS = ("pytorch", "jax")
SMALL = dict(eval_samples=200, grid_size=16, probe_size=32, curve_fractions=[0.5], curve_samples=32)
CASES = {
    # 200 steps at the cli twins' smoke size; K = 1, 3, 5
    "basic_tutorial": dict(spec=C.make_spec(**C.recipe_kw("basic_tutorial", steps=200, log_every=10, batch_size=32,
                                                          arch={"hidden": 64}, **SMALL)), ks=[1, 3, 5]),
    # every knob the BasicGAN recipes turn, at once
    "basic_knobs": dict(spec=C.make_spec(**C.recipe_kw("mnist_notebook", steps=200, log_every=10, batch_size=32,
                                                       d_steps=2, freeze_d=False, fresh_noise=True,
                                                       g_loss="minimax", prior="random", arch={"hidden": 64},
                                                       **SMALL)), ks=[3]),
    # BN DCGANs, a few steps (their chaos floor is short: tests/test_twins.py section 9)
    # (the twin tests' step-case size; 4 steps: a round-off difference grows ~10x a step, section 9 there)
    "dcgan_carpedm20": dict(spec=C.make_spec(**C.recipe_kw("dcgan_carpedm20", steps=4, log_every=1, batch_size=8,
                                                           z_dim=16, arch={"base_width": 4}, **SMALL)), ks=[3]),
    "dcgan_blog": dict(spec=C.make_spec(**C.recipe_kw("dcgan_blog", steps=4, log_every=1, batch_size=8, z_dim=16,
                                                      freeze_d=False, arch={"base_width": 4}, **SMALL)), ks=[3]),
}


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    """Each impl's worker (its own process, one thread), both at once."""
    tmp = tmp_path_factory.mktemp("seed_groups")
    # real MNIST, as the CLI twins: on the synthetic noise images a round-off difference can grow past 1e-5
    # within 200 steps (measured: one JAX seed of five, 1e-5 at step 60, 1e-2 by step 150)
    data = _mnist(tmp)
    (tmp / "cases.json").write_text(json.dumps(CASES))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", GANBENCH_THREADS="1", PYTHONUNBUFFERED="1")
    procs = {impl: subprocess.Popen([sys.executable, str(WORKER), impl, str(tmp / impl), str(data),
                                     str(tmp / "cases.json")], cwd=REPO, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE) for impl in IMPLS}
    for impl, p in procs.items():
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, f"{impl} worker: {err[-3000:]}"
    return tmp


def _log(path: Path) -> np.ndarray:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = ("step", "d_loss", "g_loss", "d_real", "d_fake", "d_probe_train", "d_probe_test", "g_grad_norm")
    return np.array([[float(r[c]) for c in cols] for r in rows])


def update_differences(e, k: int, lr: float) -> dict:
    """{tensor: test_twins.update_difference of seed k alone (the reference) and in the group}."""
    out = {}
    for key in (x for x in e.files if x.startswith(f"before/{k}/")):
        name = key.split("/", 2)[2]
        rel = update_difference(e[key], e[f"single/after/{k}/{name}"], e[f"group/after/{k}/{name}"], name, lr,
                                f"seed {k} alone vs in the group")
        if rel is not None:
            out[name] = rel
    return out


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", IMPLS)
def test_group_forward_and_one_iteration_match_single_seed(groups, impl, case):
    spec = CASES[case]["spec"]
    with np.load(groups / impl / case / "engine.npz") as e:
        for k in range(3):
            for what in ("fwd_g", "fwd_d"):
                np.testing.assert_allclose(e[f"group/{what}/{k}"], e[f"single/{what}/{k}"], rtol=0, atol=FORWARD_ATOL,
                                           err_msg=f"{impl} {case} seed {k} {what}")
        np.testing.assert_allclose(e["group/metrics"], e["single/metrics"], rtol=0, atol=FORWARD_ATOL)
        lr = min(spec["optim"]["d"]["lr"], spec["optim"]["g"]["lr"])
        for k in range(3):
            rel = update_differences(e, k, lr)
            assert rel, "no weight moved"
            for name, r in rel.items():
                q = float(np.quantile(r, DELTA_QUANTILE))
                assert q <= DELTA_RTOL, f"{impl} {case} seed {k} {name}: 99th percentile {q:.2e} > {DELTA_RTOL}"
                assert r.max() <= DELTA_OUTLIER_RTOL, f"{impl} {case} seed {k} {name}: {r.max():.3g}"
        # the seeds' initial weights differ: a group that trained one seed K times would not pass above
        assert not np.array_equal(e["before/0/G/fc1/kernel" if spec["model"] == "basic" else "before/0/G/fc/kernel"],
                                  e["before/1/G/fc1/kernel" if spec["model"] == "basic" else "before/1/G/fc/kernel"])


def _pairs(folder: Path, case: str):
    for k in CASES[case]["ks"]:
        for seed in range(k):
            yield k, seed, folder / f"single-{seed}", folder / f"k{k}-{seed}"


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", IMPLS)
def test_group_runs_log_what_single_runs_log(groups, impl, case, capsys):
    folder, worst = groups / impl / case, 0.0
    for k, seed, single, member in _pairs(folder, case):
        a, b = _log(single / "log.csv"), _log(member / "log.csv")
        assert a.shape == b.shape and a[-1, 0] == CASES[case]["spec"]["steps"], f"k{k} seed {seed}"
        assert np.isfinite(a[:, 1:5]).all()
        if CASES[case]["spec"]["model"] == "basic":  # 200 steps within the CLI twins' bound
            diff = float(np.nanmax(np.abs(a[:, 1:7] - b[:, 1:7])))
            ok = diff <= CLI_LOSS_ATOL
        else:  # BN DCGANs amplify round-off ~10x a step (seed 0 of dcgan_carpedm20 in JAX: 6e-6 at step 2, 2e-4 at
            # step 4, 4e-4 at step 5): the GPU check's twin bounds, 1e-5 of each column's scale at the first
            # iteration, 1e-3 over the run
            first, diff, ok = compare_logs(a[:, 1:7], b[:, 1:7])
        worst = max(worst, diff)
        assert ok, f"{impl} {case} K={k} seed {seed}: logged values differ by {diff:.2e}"
        for f in ("status.json",):
            assert (single / f).read_text() == (member / f).read_text()
        timing = json.loads((member / "timing.json").read_text())
        assert timing["seed_group_size"] == k and timing["steps_done"] == CASES[case]["spec"]["steps"]
    with capsys.disabled():
        print(f"\n[seed groups {impl} {case}] max |single - group| of the logged values {worst:.2e}")


@pytest.mark.parametrize("case", ["basic_tutorial", "basic_knobs"])
@pytest.mark.parametrize("impl", IMPLS)
def test_group_samples_are_pixel_identical_to_single_runs(groups, impl, case):
    folder, k = groups / impl / case, max(CASES[case]["ks"])
    members = {np.load(folder / f"k{k}-{seed}" / "samples.npz")["images"].tobytes() for seed in range(k)}
    assert len(members) == k, "the seeds of a group must train different runs"
    for k, seed, single, member in _pairs(folder, case):
        for name in ("samples.npz", "curve/samples_100.npz"):
            with np.load(single / name) as a, np.load(member / name) as b:
                same = float(np.mean(a["images"] == b["images"]))
                assert a["images"].std() > 0
            assert same >= CLI_PIXELS_EQUAL, f"{impl} {case} K={k} seed {seed} {name}: {same:.5f} of pixels equal"


# ------------------------------------------------------------------ a killed group job resumes every seed
# tests/test_resume.py's BasicGAN (freeze_d false, beta1 0.9, checkpoints every 10 of 40 steps, chunks end every
# 5). The kill hook fires after the *first* member has recorded the chunk holding the step: at step 12 (chunk
# 10-15, no checkpoint) every member resumes from step 10; at step 17 (chunk 15-20 ends with a checkpoint) the
# first member has staged its step-20 checkpoint and the others have not: the rerun drops it (a group's save is
# committed only once every member has staged it), and every member resumes from step 10 again.
RESUME_SEEDS = (0, 1, 2)
KILL_STEPS = {"same_step": 12, "staggered": 17}


def _group_command(impl: str, specs: list[dict], root: Path, data: Path) -> list[str]:
    cmd = [sys.executable, "-m", "ganbench.impl_entry", "--impl", str(REPO / "impls" / impl), "--seed-group",
           "--data", str(data)]
    for spec in specs:
        out = root / "runs" / spec["run_id"]
        out.mkdir(parents=True, exist_ok=True)
        (out / "spec.json").write_text(json.dumps(spec))
        cmd += ["--spec", str(out / "spec.json"), "--out", str(out)]
    return cmd


@pytest.fixture(scope="module")
def resumed_groups(tmp_path_factory):
    from test_resume import DECLARED, dataset, make_spec
    tmp = tmp_path_factory.mktemp("group_resume")
    data = dataset(tmp / "mnist.npz")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", GANBENCH_THREADS="1")
    out = {}
    for impl in IMPLS:
        specs = [{**make_spec(impl, "basic", seed=s), "run_id": f"{impl}-basic-s{s}"} for s in RESUME_SEEDS]
        ref = subprocess.run(_group_command(impl, specs, tmp / impl / "ref", data), cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=600)
        assert ref.returncode == 0, ref.stderr[-3000:]
        for case, at in KILL_STEPS.items():
            root = tmp / impl / case
            cmd = _group_command(impl, specs, root, data)
            killed = subprocess.run(cmd, cwd=REPO, env={**env, "GANBENCH_TEST_KILL_AT_STEP": str(at)},
                                    capture_output=True, text=True, timeout=600)
            steps = {s["run_id"]: _checkpoint_step(root / "checkpoints" / s["run_id"]) for s in specs}
            staged = sorted(p.parent.name for p in (root / "checkpoints").glob("*/checkpoint.next.npz"))
            for spec in specs:  # what Snakemake does with a failed job's declared outputs
                for name in DECLARED:
                    (root / "runs" / spec["run_id"] / name).unlink(missing_ok=True)
            again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
            out[(impl, case)] = dict(killed=killed.returncode, steps=steps, staged=staged, again=again, root=root,
                                     ref=tmp / impl / "ref", specs=specs)
    return out


def _checkpoint_step(folder: Path) -> int | None:
    path = folder / "checkpoint.npz"
    if not path.is_file():
        return None
    with np.load(path) as npz:
        return json.loads(npz["meta"].tobytes())["step"]


@pytest.mark.parametrize("case", list(KILL_STEPS))
@pytest.mark.parametrize("impl", IMPLS)
def test_killed_group_resumes_every_seed_to_identical_outputs(resumed_groups, impl, case):
    from test_resume import log_rows, outputs_of
    r = resumed_groups[(impl, case)]
    assert r["killed"] == -9, f"{impl} {case}: the kill hook did not fire"
    assert list(r["steps"].values()) == [10] * len(r["specs"]), r["steps"]
    assert r["staged"] == ([] if case == "same_step" else [r["specs"][0]["run_id"]]), r["staged"]
    assert r["again"].returncode == 0, r["again"].stderr[-3000:]
    assert r["again"].stderr.count("resuming from the checkpoint at step 10") == len(r["specs"])
    assert "training them as" not in r["again"].stderr
    for spec in r["specs"]:
        got, ref = r["root"] / "runs" / spec["run_id"], r["ref"] / "runs" / spec["run_id"]
        assert log_rows(got / "log.csv") == log_rows(ref / "log.csv"), spec["run_id"]
        a, b = outputs_of(got), outputs_of(ref)
        assert sorted(a) == sorted(b) and len(a) >= 5, spec["run_id"]
        for name in b:
            assert a[name] == b[name], f"{impl} {case} {spec['run_id']}: {name} differs from the uninterrupted group"
        timing = json.loads((got / "timing.json").read_text())
        assert timing["resumed_from_step"] == r["steps"][spec["run_id"]]
    assert not (r["root"] / "checkpoints").exists()


def _fake_checkpoint(path: Path, step: int, group: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"step": step, "group": [str(g) for g in group]}).encode()
    np.savez(path, meta=np.frombuffer(meta, np.uint8))


@pytest.mark.parametrize("layout, committed", [
    # every member staged step 20: the save is committed everywhere
    ({"a": ("next",), "b": ("next",), "c": ("next",)}, {"a": 20, "b": 20, "c": 20}),
    # killed while committing: a and b already renamed, c's staged one is committed too
    ({"a": ("file20",), "b": ("file20",), "c": ("next", "file10")}, {"a": 20, "b": 20, "c": 20}),
    # killed while staging: c never staged step 20, so a's and b's staged ones are dropped
    ({"a": ("next", "file10"), "b": ("next", "file10"), "c": ("file10",)}, {"a": 10, "b": 10, "c": 10}),
])
def test_an_interrupted_group_save_is_finished_or_undone(tmp_path, layout, committed):
    from ganbench.runkit.checkpoint import FILE, STAGED, settle_staged
    dirs = {m: tmp_path / m for m in layout}
    group = list(dirs.values())
    for m, files in layout.items():
        if "file10" in files:
            _fake_checkpoint(dirs[m] / FILE, 10, group)
        if "file20" in files:
            _fake_checkpoint(dirs[m] / FILE, 20, group)
        if "next" in files:
            _fake_checkpoint(dirs[m] / STAGED, 20, group)
    settle_staged(group)
    for m, step in committed.items():
        assert not (dirs[m] / STAGED).exists()
        with np.load(dirs[m] / FILE) as npz:
            assert json.loads(npz["meta"].tobytes())["step"] == step, m
