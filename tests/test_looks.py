"""The sequential seed design in the pipeline: which runs each look trains (ganbench/looks.py),
and the real Snakemake checkpoint that adds seeds only for the claims still open."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ganbench.config import ConfigError, validate_config
from ganbench.grid import expand_runs
from ganbench.looks import FRAMEWORKS, claims_served, look_runs, seed_plan

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

# Two claims on two BasicGAN recipes, seeds added in two looks of one seed each, one impl.
STUDY = {
    "name": "seq", "dataset": "mnist", "seeds": {"looks": [1, 2]}, "device": "cpu", "gpus": 0,
    "impls": ["pytorch"], "eval_samples": 500, "log_every": 10, "z_dim": 32, "probe_size": 64,
    "curve_fractions": [0.5], "curve_samples": 200,
    "recipes": {name: {"steps": {"basic": 40}, "batch_size": 16, "basic": {"hidden": 64}}
                for name in ("vanilla_mnist", "basic_tutorial")},
    "observations": {"include": ["g_loss", "freeze_d"], "references": False},
    "benchmark": {"enabled": False},
}


def planned(config: dict, impls=("pytorch", "tensorflow")):
    config = validate_config(json.loads(json.dumps(config)))
    return config, expand_runs(config, list(impls))


def test_seed_plan_from_a_list_or_looks():
    plan = seed_plan({"seeds": [4, 2, 7]})
    assert plan.seeds == (4, 2, 7) and plan.looks == (3,) and not plan.sequential
    plan = seed_plan({"seeds": {"looks": [3, 6, 10]}})
    assert plan.seeds == tuple(range(10)) and plan.looks == (3, 6, 10) and plan.spending == "obrien-fleming"
    assert plan.seeds_of(2) == tuple(range(6)) and [plan.look_of_seed(s) for s in (0, 2, 3, 5, 6, 9)] == [1, 1, 2, 2, 3, 3]


def test_looks_must_increase():
    with pytest.raises(ConfigError, match=r"seeds.looks = \[3, 3\]: the looks must increase"):
        validate_config({**json.loads(json.dumps(STUDY)), "seeds": {"looks": [3, 3]}})
    with pytest.raises(ConfigError, match="seeds"):
        validate_config({**json.loads(json.dumps(STUDY)), "seeds": {"looks": [3, 6], "spending": "bonferroni"}})


def test_each_look_adds_seeds_only_for_the_claims_left_open():
    config, runs = planned({**STUDY, "seeds": {"looks": [1, 2, 3]}, "impls": None,
                            "observations": {"include": ["g_loss", "freeze_d"], "references": False,
                                             "impls": ["tensorflow"]},
                            "frameworks": {"impls": ["pytorch", "tensorflow"], "arms": "recipes",
                                           "recipes": ["vanilla_mnist"]}})
    plan = seed_plan(config)
    first = look_runs(runs, plan, 1, {})
    assert sorted(first) == sorted(r for r in runs if r.endswith("-s0"))
    # g_loss open after look 1: its two arms get seed 1; freeze_d (decided) does not.
    second = look_runs(runs, plan, 2, {1: {"g_loss"}})
    assert sorted(set(second) - set(first)) == ["tensorflow-vanilla_mnist-minimax-s1", "tensorflow-vanilla_mnist-s1"]
    # The implementations comparison pairs vanilla_mnist's own setting in both impls.
    served = claims_served(runs)
    assert served["pytorch-vanilla_mnist-s0"] == {FRAMEWORKS}
    assert served["tensorflow-vanilla_mnist-s0"] == {"g_loss", FRAMEWORKS}
    assert served["tensorflow-basic_tutorial-s0"] == {"freeze_d"}
    third = look_runs(runs, plan, 3, {1: {"g_loss", FRAMEWORKS}, 2: {FRAMEWORKS}})
    assert sorted(set(third) - set(look_runs(runs, plan, 2, {1: {"g_loss", FRAMEWORKS}}))) == [
        "pytorch-vanilla_mnist-s2", "tensorflow-vanilla_mnist-s2"]
    # Nothing open after look 1: later looks are look 1.
    assert look_runs(runs, plan, 3, {1: set(), 2: set()}) == first


def snakemake(workdir: Path, config: Path, *args: str) -> str:
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(config),
           "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""),
                          timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc.stdout + proc.stderr


@pytest.mark.pipeline
def test_checkpoint_trains_the_next_look_only_for_open_claims(tmp_path):
    config = tmp_path / "seq.yaml"
    config.write_text(yaml.safe_dump(STUDY))
    work = tmp_path / "w"
    results = work / "results" / "seq"
    snakemake(work, config)
    # 40-step runs never learn: both claims are decided at look 1 (their baseline did not train),
    # so the study stops there without training seed 1.
    interim = json.loads((results / "looks" / "1" / "interim.json").read_text())
    assert interim["open"] == [] and interim["final"] is True
    assert interim["claims"]["g_loss"]["status"] == "decided" and interim["claims"]["g_loss"]["n"] == 1
    assert sorted(p.name for p in (results / "runs").iterdir()) == [
        "pytorch-basic_tutorial-s0", "pytorch-basic_tutorial-unfrozen-s0",
        "pytorch-vanilla_mnist-minimax-s0", "pytorch-vanilla_mnist-s0"]
    assert not (results / "looks" / "2").exists()
    html = (work / "reports" / "seq" / "index.html").read_text()
    assert "stopped at look 1 of 2" in html and "every claim was decided" in html

    # Had the interim analysis left g_loss open (rewrite its output as it would have written it),
    # the same command resumes from look 1 and trains g_loss's arms on seed 1, nothing else.
    interim["open"], interim["final"] = ["g_loss"], False
    (results / "looks" / "1" / "interim.json").write_text(json.dumps(interim))
    log = snakemake(work, config)
    trained = sorted(p.name for p in (results / "runs").iterdir() if p.name.endswith("-s1"))
    assert trained == ["pytorch-vanilla_mnist-minimax-s1", "pytorch-vanilla_mnist-s1"]
    assert log.count("rule train:") == 2
    summary = pd.read_csv(results / "summary.csv")
    assert len(summary) == 6 and sorted(summary.loc[summary["seed"] == 1, "run_id"]) == trained
    assert json.loads((results / "looks" / "2" / "interim.json").read_text())["final"] is True
    assert "Interim report: look 1 of 2" in (work / "reports" / "seq" / "looks" / "1" / "index.html").read_text()
    assert "stopped at look 2 of 2" in (work / "reports" / "seq" / "index.html").read_text()
    assert "Nothing to be done" in snakemake(work, config, "-n")
