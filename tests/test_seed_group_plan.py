"""Which runs the pipeline trains together (ganbench/seed_groups.py) and the launcher's seed-group
mode (ganbench/launch.py --seed-group): groups are a look's seeds of one arm, chunked by K, with
stable ids; runs keep how they were trained; a group's outputs land in the single-seed layout."""
from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ganbench.config import ConfigError, validate_config
from ganbench.grid import expand_runs
from ganbench.looks import claims_served, look_runs, seed_plan
from ganbench.seed_groups import (DONE, arm_key, finished_groups, group_args, group_of, grouping_active, id_pattern,
                                  link_run_outputs, plan_groups, study_groups, trained_alone)
from test_output_check import SPEC, TIMING

REPO = Path(__file__).resolve().parents[1]
IMPLS = ["jax", "pytorch", "tensorflow"]
GROUPED = ["jax", "pytorch"]  # the impls given a seed-group engine in these tests

# Two observations on two BasicGAN recipes in three impls, seeds 0..9 in three looks.
STUDY = {
    "name": "grp", "dataset": "mnist", "seeds": {"looks": [3, 6, 10]}, "device": "cpu", "gpus": 0,
    "recipes": {name: {"steps": {"basic": 40}, "batch_size": 16, "basic": {"hidden": 64}}
                for name in ("vanilla_mnist", "basic_tutorial")},
    "observations": {"include": ["g_loss", "freeze_d"], "references": False},
}


def planned(config: dict = STUDY, impls=IMPLS):
    config = validate_config(copy.deepcopy(config))
    return config, expand_runs(config, list(impls)), seed_plan(config)


# ------------------------------------------------------------------ when the study groups seeds
@pytest.mark.parametrize("mode,device,n_gpus,active", [
    ("auto", "cuda", 1, True), ("auto", "auto", 2, True), ("auto", "auto", 0, False), ("auto", "cpu", 0, False),
    ("on", "cpu", 0, True), ("on", "auto", 0, True), ("off", "cuda", 1, False), ("off", "auto", 4, False),
    (True, "cpu", 0, True), (False, "cuda", 1, False),  # YAML's bare on / off
])
def test_grouping_is_on_where_the_study_trains_on_cuda_or_says_on(mode, device, n_gpus, active):
    assert grouping_active(mode, device, n_gpus) is active


def test_config_keys_and_their_defaults():
    config, _, _ = planned()
    assert config["seed_groups"] == "auto" and config["seed_group_size"] == 8
    for value in ("on", "off", "auto", True, False):
        validate_config({**copy.deepcopy(STUDY), "seed_groups": value})
    with pytest.raises(ConfigError, match=r"config key seed_groups = 'maybe' is invalid.*auto"):
        validate_config({**copy.deepcopy(STUDY), "seed_groups": "maybe"})
    with pytest.raises(ConfigError, match=r"config key seed_group_size = 0 is invalid"):
        validate_config({**copy.deepcopy(STUDY), "seed_group_size": 0})
    # the shipped study names both keys, with the defaults
    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert shipped["seed_groups"] == "auto" and shipped["seed_group_size"] == 8


# ------------------------------------------------------------------ the groups
def test_a_looks_seeds_of_an_arm_are_chunked_by_k_in_seed_order():
    _, runs, plan = planned()
    groups = plan_groups(runs, plan, 2, GROUPED)
    arm = [g for g in groups.values() if g.run_ids[0].startswith("pytorch-vanilla_mnist-minimax-")]
    # looks add seeds 0-2, 3-5, 6-9: chunks of at most 2 within each look
    assert [g.group_id for g in arm] == [f"pytorch-vanilla_mnist-minimax-s{s}+{n}"
                                         for s, n in ((0, 2), (2, 1), (3, 2), (5, 1), (6, 2), (8, 2))]
    assert [g.run_ids for g in arm][:2] == [("pytorch-vanilla_mnist-minimax-s0", "pytorch-vanilla_mnist-minimax-s1"),
                                            ("pytorch-vanilla_mnist-minimax-s2",)]
    # every grouped run in exactly one group, of its own impl; tensorflow's runs in none
    of = group_of(groups)
    assert sorted(of) == sorted(r for r, run in runs.items() if run.spec["impl"] in GROUPED)
    assert all(groups[gid].impl == runs[r].spec["impl"] for r, gid in of.items())
    # 4 arms per impl x 2 impls; per arm: ceil(3/2) + ceil(3/2) + ceil(4/2) groups
    assert len(groups) == 8 * (2 + 2 + 2)
    # the default K holds a whole look of an arm
    assert len(plan_groups(runs, plan, 8, GROUPED)) == 8 * 3


def test_a_groups_runs_differ_only_in_seed_and_are_chosen_together_at_every_look():
    _, runs, plan = planned()
    groups = plan_groups(runs, plan, 4, GROUPED)  # (K = 3 would fit looks [3, 6, 10] by chance)
    for group in groups.values():
        specs = [runs[r].spec for r in group.run_ids]
        assert len({arm_key(s) for s in specs}) == 1
        assert [s["seed"] for s in specs] == sorted(s["seed"] for s in specs)
    claims = sorted(set().union(*claims_served(runs).values()))
    for look in (1, 2, 3):  # whichever claims stay open, a look takes all of a group or none of it
        for open_1, open_2 in itertools.product(itertools.chain.from_iterable(
                itertools.combinations(claims, n) for n in range(len(claims) + 1)), repeat=2):
            chosen = set(look_runs(runs, plan, look, {1: set(open_1), 2: set(open_2)}))
            for group in groups.values():
                assert len(chosen & set(group.run_ids)) in (0, len(group.run_ids)), (look, group)


def test_runs_serving_other_claims_are_not_grouped_together():
    """Two design sets on one arm: seeds 0-1 serve both, seeds 2-3 one only (a later look could
    choose one kind and not the other), so they form two groups even within K."""
    config = {"name": "d", "seeds": [0], "observations": {"include": []},
              "recipes": {"dcgan_blog": {"steps": {"basic": 10, "dcgan": 10}}},
              "design": {"a": {"recipe": "dcgan_blog", "models": ["basic"], "seeds": [0, 1]},
                         "b": {"recipe": "dcgan_blog", "models": ["basic"], "seeds": [0, 1, 2, 3]}}}
    _, runs, plan = planned(config, ["pytorch"])
    assert sorted(plan_groups(runs, plan, 8, ["pytorch"])) == ["pytorch-dcgan_blog-basic-s0+2",
                                                               "pytorch-dcgan_blog-basic-s2+2"]


def test_group_ids_do_not_change_when_looks_are_added():
    _, runs, plan = planned({**STUDY, "seeds": {"looks": [3, 6]}})
    _, more_runs, more_plan = planned()
    fewer = plan_groups(runs, plan, 4, GROUPED)
    more = plan_groups(more_runs, more_plan, 4, GROUPED)
    assert all(more[gid] == group for gid, group in fewer.items())
    assert len(more) > len(fewer)


def test_k_must_be_positive_and_k_1_is_one_group_per_run():
    _, runs, plan = planned()
    with pytest.raises(ValueError, match="seed_group_size = 0"):
        plan_groups(runs, plan, 0, GROUPED)
    ones = plan_groups(runs, plan, 1, GROUPED)
    assert all(len(g.run_ids) == 1 and gid == f"{g.run_ids[0]}+1" for gid, g in ones.items())


def test_wildcard_pattern_and_launcher_arguments():
    import re

    _, runs, plan = planned()
    groups = plan_groups(runs, plan, 2, GROUPED)
    pattern = re.compile(f"^(?:{id_pattern(groups)})$")
    assert all(pattern.match(gid) for gid in groups)
    assert not pattern.match("pytorch-vanilla_mnist-minimax-s0x2")  # '+' taken literally
    assert not re.match(f"^(?:{id_pattern([])})$", "")  # no groups: matches nothing
    assert group_args(groups, "pytorch-vanilla_mnist-s0+2", "results/grp") == [
        "--spec", "results/grp/runs/pytorch-vanilla_mnist-s0/spec.json",
        "--out", "results/grp/groups/pytorch-vanilla_mnist-s0+2/pytorch-vanilla_mnist-s0",
        "--checkpoint-dir", "results/grp/checkpoints/pytorch-vanilla_mnist-s0",
        "--spec", "results/grp/runs/pytorch-vanilla_mnist-s1/spec.json",
        "--out", "results/grp/groups/pytorch-vanilla_mnist-s0+2/pytorch-vanilla_mnist-s1",
        "--checkpoint-dir", "results/grp/checkpoints/pytorch-vanilla_mnist-s1"]


# ------------------------------------------------------------------ runs keep how they were trained
def test_runs_trained_alone_or_in_a_finished_group_keep_it(tmp_path):
    _, runs, plan = planned()
    results = tmp_path / "results" / "grp"
    alone = "pytorch-vanilla_mnist-s0"  # trained by rule train (a study begun without grouping)
    (results / "runs" / alone).mkdir(parents=True)
    (results / "runs" / alone / "status.json").write_text('{"status": "ok"}')
    # a group trained with K = 2 that K = 8 would plan otherwise; and one whose job never finished
    done = results / "groups" / "jax-vanilla_mnist-s0+2"
    for r in ("jax-vanilla_mnist-s0", "jax-vanilla_mnist-s1"):
        (done / r).mkdir(parents=True)
        (results / "runs" / r).mkdir(parents=True)
        (results / "runs" / r / "status.json").write_text('{"status": "ok"}')  # linked
    (done / DONE).touch()
    (results / "groups" / "jax-basic_tutorial-s0+3" / "jax-basic_tutorial-s0").mkdir(parents=True)
    assert trained_alone(results, runs) == {alone}
    assert list(finished_groups(results, runs, GROUPED)) == ["jax-vanilla_mnist-s0+2"]

    groups = study_groups(results, runs, plan, 8, GROUPED, active=True)
    assert alone not in group_of(groups)
    assert "pytorch-vanilla_mnist-s1+2" in groups  # the rest of that look's seeds
    assert groups["jax-vanilla_mnist-s0+2"].run_ids == ("jax-vanilla_mnist-s0", "jax-vanilla_mnist-s1")
    assert "jax-vanilla_mnist-s2+1" in groups and "jax-basic_tutorial-s0+3" in groups  # (re)planned
    # grouping off (the CPU): only the finished group stays; everything else is one run per job
    assert list(study_groups(results, runs, plan, 8, GROUPED, active=False)) == ["jax-vanilla_mnist-s0+2"]
    # a study never grouped plans nothing when grouping is off
    assert study_groups(tmp_path / "none", runs, plan, 8, GROUPED, active=False) == {}


# ------------------------------------------------------------------ the single-seed layout
def test_a_group_members_files_are_hard_linked_into_its_run_folder(tmp_path, monkeypatch):
    src, dst = tmp_path / "groups" / "g+2" / "r", tmp_path / "runs" / "r"
    (src / "curve").mkdir(parents=True)
    dst.mkdir(parents=True)
    for name in ("samples.npz", "log.csv", "timing.json", "status.json", "grid.png", "grid_10.png",
                 "curve/samples_5.npz", ".trainer.lock", "spec.json"):
        (src / name).write_text(name)
    (dst / "spec.json").write_text("the spec rule's own")
    os.utime(src / "samples.npz", (1, 1))
    placed = link_run_outputs(src, dst, tmp_path / "link.log")
    assert sorted(placed) == ["curve/samples_5.npz", "grid.png", "grid_10.png", "log.csv", "samples.npz",
                              "status.json", "timing.json"]
    for name in placed:
        assert (dst / name).stat().st_ino == (src / name).stat().st_ino, name
    assert (dst / "spec.json").read_text() == "the spec rule's own" and not (dst / ".trainer.lock").exists()
    assert (dst / "samples.npz").stat().st_mtime > 1e9  # newer than the group's marker, for Snakemake
    assert "linked" in (tmp_path / "link.log").read_text()
    # no hard links (another file system): copies, over the earlier files
    (src / "log.csv").write_text("rewritten")

    def no_link(*_):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    link_run_outputs(src, dst)
    assert (dst / "log.csv").read_text() == "rewritten"
    assert (dst / "log.csv").stat().st_ino != (src / "log.csv").stat().st_ino
    with pytest.raises(FileNotFoundError, match="no status.json"):
        link_run_outputs(tmp_path / "empty", dst)


# ------------------------------------------------------------------ launch.py --seed-group
GROUP_ENTRY = """
import json, math, sys, time
from pathlib import Path
import numpy as np
from ganbench.runkit import outputs, load_spec
argv = sys.argv[1:]
Path(__RECORD__).write_text(json.dumps(argv))
specs = [argv[i + 1] for i, a in enumerate(argv) if a == "--spec"]
outs = [Path(argv[i + 1]) for i, a in enumerate(argv) if a == "--out"]
MODE = __MODE__
for k, (spec_path, out) in enumerate(zip(specs, outs)):
    spec = load_spec(spec_path)
    s, c, n = spec["image_size"], spec["channels"], spec["eval_samples"]
    with outputs.LogWriter(out / "log.csv") as log:
        log.row(10, 0.5, 0.7, 0.5, 0.5, 1.0)
        if MODE == "hang" and k == 1:
            break  # (the row is written as the log closes)
        log.row(20, 0.4, 0.8, 0.5, 0.5, 2.0)
    bad = MODE == "broken" and k == 1
    np.savez(out / "samples.npz", images=np.zeros((n, s, s, c), np.float32 if bad else np.uint8))
    outputs.write_timing(out / "timing.json", __TIMING__)
    outputs.write_status(out / "status.json", "ok")
    outputs.write_grid(out / "grid.png", np.zeros((16, s, s, c), np.uint8))
if MODE == "hang":
    while True:
        time.sleep(1)
"""


def group_launch(tmp_path: Path, mode: str, n: int = 2, extra=(), env=None) -> tuple[subprocess.CompletedProcess, list]:
    impl = tmp_path / "impls" / "fake"
    impl.mkdir(parents=True)
    (impl / "manifest.yaml").write_text(yaml.safe_dump(
        {"name": "fake", "framework": "numpy", "entry": "train.py", "models": ["basic"]}))
    record = tmp_path / "argv.json"
    (impl / "train.py").write_text(GROUP_ENTRY.replace("__MODE__", repr(mode)).replace("__TIMING__", repr(TIMING))
                                   .replace("__RECORD__", repr(str(record))))
    args, outs = [], []
    for seed in range(n):
        run_id = f"fake-basic-s{seed}"
        folder = tmp_path / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / "spec.json").write_text(json.dumps(SPEC | {"run_id": run_id, "seed": seed}))
        outs.append(tmp_path / "groups" / f"fake-basic-s0+{n}" / run_id)
        args += ["--spec", str(folder / "spec.json"), "--out", str(outs[-1]),
                 "--checkpoint-dir", str(tmp_path / "checkpoints" / run_id)]
    proc = subprocess.run([sys.executable, "-m", "ganbench.launch", "--seed-group", "--entry", str(impl / "train.py"),
                           "--data", str(tmp_path / "unused.npz"), *args, *extra],
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES="", **(env or {})), cwd=str(REPO),
                          capture_output=True, text=True, timeout=120)
    argv = json.loads(record.read_text()) if record.is_file() else None
    return proc, outs, argv


def test_launch_runs_the_group_command_and_checks_every_runs_outputs(tmp_path):
    proc, outs, argv = group_launch(tmp_path, "ok")
    assert proc.returncode == 0, proc.stderr
    assert "seed group of 2" in proc.stdout
    runs = tmp_path / "runs"
    assert argv == ["--seed-group", "--data", str(tmp_path / "unused.npz"),
                    "--spec", str(runs / "fake-basic-s0" / "spec.json"), "--out", str(outs[0]),
                    "--checkpoint-dir", str(tmp_path / "checkpoints" / "fake-basic-s0"),
                    "--spec", str(runs / "fake-basic-s1" / "spec.json"), "--out", str(outs[1]),
                    "--checkpoint-dir", str(tmp_path / "checkpoints" / "fake-basic-s1")]
    assert all((out / ".trainer.lock").is_file() for out in outs)  # every run folder locked


def test_launch_fails_a_group_whose_run_breaks_the_output_contract(tmp_path):
    proc, _, _ = group_launch(tmp_path, "broken")
    assert proc.returncode == 4, proc.stderr
    assert "run fake-basic-s1" in proc.stderr and "images are float32" in proc.stderr, proc.stderr
    assert "run fake-basic-s0" not in proc.stderr


def test_a_timed_out_group_records_every_unfinished_run_as_failed(tmp_path):
    """Seed 0 finished, seed 1 hangs after a row: at the limit seed 1 gets failed outputs, seed 0 keeps its own."""
    from ganbench.output_check import find_problems
    from ganbench.trainer_guard import TIMEOUT_ENV

    proc, outs, _ = group_launch(tmp_path, "hang", env={TIMEOUT_ENV: "0.05"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads((outs[0] / "status.json").read_text()) == {"status": "ok"}
    assert not find_problems(outs[0], SPEC)
    failed = json.loads((outs[1] / "status.json").read_text())
    assert failed["status"] == "failed" and "wall-time limit" in failed["reason"] and failed["step"] == 10, failed
    for name in ("samples.npz", "log.csv", "timing.json", "grid.png"):
        assert (outs[1] / name).is_file()
    assert "run fake-basic-s1 failed" in proc.stderr and "run fake-basic-s0 failed" not in proc.stderr


def test_launch_without_seed_group_takes_one_run(tmp_path):
    for extra in (["--spec", "b.json", "--out", "b"], ["--checkpoint-dir", "c"]):
        proc = subprocess.run([sys.executable, "-m", "ganbench.launch", "--entry", "x", "--spec", "a.json",
                               "--data", "d", "--out", "a", *extra], cwd=str(tmp_path), capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2 and "add --seed-group" in proc.stderr, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "ganbench.launch", "--seed-group", "--entry", "x", "--spec", "a.json",
                           "--spec", "b.json", "--data", "d", "--out", "a"], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "one --out per --spec" in proc.stderr, proc.stderr
