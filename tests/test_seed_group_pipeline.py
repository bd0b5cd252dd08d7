"""Seed groups in the real pipeline (issue 24, item 2): on CUDA the train jobs of an impl with a
seed-group engine are arms x ceil(seeds / K) train_group jobs, whose runs are linked into the
single-seed layout; on the CPU the DAG and the train commands are today's; a grouped study runs
end to end and keeps every finished run when grouping is switched."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ganbench.config import load_config
from ganbench.grid import expand_runs
from ganbench.impls import discover_impls
from ganbench.looks import look_runs, seed_plan

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
STUDY = REPO / "config" / "config.yaml"
IMPLS = discover_impls(REPO / "impls")
GROUPED = sorted(name for name, impl in IMPLS.items() if impl.seed_group)


def snakemake(workdir: Path, *args: str, gpus_visible: bool = False, check: bool = True) -> str:
    """``gpus_visible``: CUDA_VISIBLE_DEVICES unset (then --config gpus=N is taken as given);
    else set empty (no GPU), as the rest of the suite runs."""
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    if gpus_visible:
        env.pop("CUDA_VISIBLE_DEVICES")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc.stdout + proc.stderr


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def first_look_arms() -> tuple[dict[str, list[int]], list[str]]:
    """The study's first look, counted here by hand: {(impl, arm) as text: seeds} and its run ids."""
    config = load_config(STUDY)
    runs = expand_runs(config, sorted(IMPLS))
    first = look_runs(runs, seed_plan(config), 1, {})
    arms: dict[str, list[int]] = {}
    for run_id in first:
        spec = dict(runs[run_id].spec)
        seed = spec.pop("seed")
        spec.pop("run_id")
        arms.setdefault(json.dumps(spec, sort_keys=True), []).append(seed)
    return arms, first


def test_the_impls_with_and_without_a_seed_group_engine():
    assert GROUPED and "tensorflow" in IMPLS and "tensorflow" not in GROUPED


@pytest.mark.parametrize("k", [8, 2])
def test_a_cuda_study_trains_arms_times_ceil_seeds_over_k_group_jobs(tmp_path, k):
    out = snakemake(tmp_path, "-n", "--configfile", str(STUDY), "--config", "device=cuda", "gpus=1",
                    f"seed_group_size={k}", gpus_visible=True)
    counts = job_counts(out)
    arms, first = first_look_arms()
    grouped_arms = {arm: seeds for arm, seeds in arms.items() if json.loads(arm)["impl"] in GROUPED}
    assert len(first) == 396 and {len(seeds) for seeds in arms.values()} == {3}  # seeds 0-2 of every arm
    assert counts["train_group"] == sum(math.ceil(len(s) / k) for s in grouped_arms.values())
    assert counts["train_group"] == 44 * len(GROUPED) * math.ceil(3 / k)
    single = [r for r in first if r.split("-")[0] not in GROUPED]
    assert counts["train"] == len(single) == 132 * (len(IMPLS) - len(GROUPED))  # tensorflow: one run per job
    assert counts["seed_group_run"] == len(first) - len(single)
    assert counts["evaluate"] == counts["spec"] == 396
    # the groups: a look's seeds of an arm in seed order; each run's outputs linked into runs/<run_id>/
    first_group = "pytorch-basic_tutorial-s0+3" if k == 8 else "pytorch-basic_tutorial-s0+2"
    assert f"results/study/groups/{first_group}/done" in out
    if k == 2:
        assert "results/study/groups/pytorch-basic_tutorial-s2+1/done" in out
    for run_id in single:
        assert f"results/study/runs/{run_id}/samples.npz" in out
    assert not re.search(r"results/study/groups/tensorflow-", out)


def test_a_cpu_study_plans_exactly_todays_train_jobs(tmp_path):
    """seed_groups: auto without a GPU: every run its own train job, with today's command."""
    out = snakemake(tmp_path, "-n", "-p", "--configfile", str(STUDY))
    counts = job_counts(out)
    assert counts["train"] == counts["evaluate"] == counts["spec"] == 396
    assert "train_group" not in counts and "seed_group_run" not in counts and "/groups/" not in out
    run = "pytorch-basic_tutorial-prior-random-s2"
    runs = "results/study/runs"
    assert (f"python -m ganbench.launch --entry {REPO}/impls/pytorch/train.py --spec {runs}/{run}/spec.json "
            f"--data results/data/mnist.npz --out {runs}/{run} --gpus 0 --threads 1 --verify-data "
            f"> results/study/logs/train/{run}.log 2>&1") in out


@pytest.mark.parametrize("config", [["device=cpu"], ["device=cuda", "gpus=1", "seed_groups=off"]])
def test_no_groups_on_the_cpu_or_when_off(tmp_path, config):
    out = snakemake(tmp_path, "-n", "--configfile", str(STUDY), "--config", *config, gpus_visible=True)
    counts = job_counts(out)
    assert counts["train"] == 396 and "train_group" not in counts and "seed_group_run" not in counts


def smoke_config(path: Path, **changes) -> Path:
    """The smoke study, BasicGAN only, no benchmark (seconds per run)."""
    config = yaml.safe_load((REPO / ".test" / "config" / "smoke.yaml").read_text())
    config["design"]["main"]["models"] = ["basic"]
    config["benchmark"]["enabled"] = False
    config.update(changes)
    path.write_text(yaml.safe_dump(config))
    return path


def test_seed_groups_on_groups_on_the_cpu_with_the_group_command(tmp_path):
    config = smoke_config(tmp_path / "c.yaml", seeds=[0, 1, 2], seed_groups="on", seed_group_size=2)
    out = snakemake(tmp_path, "-n", "-p", "--configfile", str(config))
    counts = job_counts(out)
    # per grouped impl: seeds [0, 1] and [2]; tensorflow: three runs
    assert counts["train_group"] == 2 * len(GROUPED) and counts["seed_group_run"] == 3 * len(GROUPED)
    assert counts["train"] == 3 * (len(IMPLS) - len(GROUPED)) and counts["evaluate"] == 3 * len(IMPLS)
    impl = GROUPED[0]
    gid, r = f"{impl}-dcgan_blog-basic-s0+2", f"{impl}-dcgan_blog-basic"
    res = "results/smoke"
    assert (f"python -m ganbench.launch --seed-group --entry {REPO}/impls/{impl} --data results/data/mnist.npz "
            f"--spec {res}/runs/{r}-s0/spec.json --out {res}/groups/{gid}/{r}-s0 "
            f"--checkpoint-dir {res}/checkpoints/{r}-s0 "
            f"--spec {res}/runs/{r}-s1/spec.json --out {res}/groups/{gid}/{r}-s1 "
            f"--checkpoint-dir {res}/checkpoints/{r}-s1 "
            f"--gpus 0 --threads 1 --verify-data > {res}/logs/train_group/{gid}.log 2>&1") in out


@pytest.mark.pipeline
def test_grouped_smoke_study_runs(tmp_path):
    """Seed 0 trained alone (as before grouping), then seeds 1-2 in groups of K = 2 on the CPU:
    seed 0 is not retrained, the grouped runs have the single-seed layout (hard links), every run
    is scored and reported, and switching grouping off retrains nothing."""
    work = tmp_path / "w"
    results = work / "results" / "smoke"
    alone = smoke_config(tmp_path / "alone.yaml")
    snakemake(work, "--cores", "2", "--configfile", str(alone))
    before = {p.parent.name: p.stat().st_mtime_ns for p in results.glob("runs/*/samples.npz")}
    assert len(before) == len(IMPLS)

    grouped = smoke_config(tmp_path / "grouped.yaml", seeds=[0, 1, 2], seed_groups="on", seed_group_size=2)
    counts = job_counts(snakemake(work, "-n", "--configfile", str(grouped)))
    assert counts["train_group"] == len(GROUPED)  # seeds 1 and 2 of each grouped impl's arm
    assert counts["train"] == 2 * (len(IMPLS) - len(GROUPED)) and counts["evaluate"] == 2 * len(IMPLS)
    snakemake(work, "--cores", "2", "--configfile", str(grouped))

    assert {p.parent.name: p.stat().st_mtime_ns for p in results.glob("runs/*-s0/samples.npz")} == before
    for impl in GROUPED:
        gid = f"{impl}-dcgan_blog-basic-s1+2"
        assert (results / "groups" / gid / "done").is_file()
        assert (results / "logs" / "train_group" / f"{gid}.log").is_file()
        assert (results / "benchmarks" / "train_group" / f"{gid}.tsv").is_file()
        for seed in (1, 2):
            run_id = f"{impl}-dcgan_blog-basic-s{seed}"
            run, trained = results / "runs" / run_id, results / "groups" / gid / run_id
            files = sorted(str(p.relative_to(trained)) for p in trained.rglob("*")
                           if p.is_file() and not p.name.startswith("."))
            assert {"samples.npz", "log.csv", "timing.json", "status.json", "grid.png"} <= set(files)
            assert any(f.startswith("curve/") for f in files), files
            for name in files:
                assert (run / name).stat().st_ino == (trained / name).stat().st_ino, name
            assert json.loads((run / "timing.json").read_text()).get("seed_group_size") == 2
            assert (run / "metrics.json").is_file() and (run / "spec.json").is_file()
            assert not (results / "checkpoints" / run_id).exists()  # removed once the run completed
    summary = pd.read_csv(results / "summary.csv")
    assert len(summary) == 3 * len(IMPLS) and set(summary["status"]) <= {"ok", "diverged"}
    assert (work / "reports" / "smoke" / "index.html").is_file()

    assert "Nothing to be done" in snakemake(work, "-n", "--configfile", str(grouped))
    # back to one run per job (seed_groups: auto on the CPU), or another K: every run keeps how it was trained
    assert "Nothing to be done" in snakemake(work, "-n", "--configfile", str(grouped), "--config", "seed_groups=auto")
    assert "Nothing to be done" in snakemake(work, "-n", "--configfile", str(grouped), "--config", "seed_group_size=1")
