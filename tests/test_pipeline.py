"""The real Snakemake pipeline: dry-runs of the study grid and the smoke study end to end."""
import json
import os
import shutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import browser
from ganbench.observations import OBSERVATIONS

REPO = Path(__file__).resolve().parents[1]
IMPL_NAMES = sorted(p.name for p in (REPO / "impls").iterdir() if (p / "manifest.yaml").is_file())
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run, as {rule: count}."""
    table = output.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def write_config(tmp_path: Path, name: str, **changes) -> Path:
    config = yaml.safe_load((REPO / ".test" / "config" / "smoke.yaml").read_text())
    config.update(changes)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_dry_run_lists_every_run_of_the_study(tmp_path):
    proc = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config" / "config.yaml"))
    counts = job_counts(proc.stdout + proc.stderr)
    # The first look of the sequential design (seeds 0-2; later looks add seeds only for the
    # claims still open): 3 impls (jax, pytorch, tensorflow) x 3 seeds x (28 observation arms on
    # the source recipes + 16 more of the robustness cross)
    assert counts["train"] == 396
    assert counts["evaluate"] == 396
    assert counts["spec"] == 396
    assert counts["benchmark"] == 6  # one per recipe x model
    assert counts["aggregate"] == 1 and counts["interim"] == 1  # the checkpoint of look 1
    out = proc.stdout + proc.stderr
    for run_id in ("pytorch-basic_tutorial-prior-random-s2", "tensorflow-dcgan_carpedm20-d2g1-s0",
                   "tensorflow-basic_tutorial-unfrozen-s1", "pytorch-dcgan_carpedm20-opt-adam_default-s2",
                   "pytorch-mnist_notebook-act-relu-s1", "tensorflow-dcgan_blog-basic-prior-normal-d2g1-s2"):
        assert f"results/study/runs/{run_id}/samples.npz" in out
    assert "-s3/samples.npz" not in out


@pytest.mark.parametrize("broken", ["manifest", "engine"])
def test_broken_impl_folder_fails_at_dag_construction(tmp_path, broken):
    impls = tmp_path / "impls"
    impls.mkdir()
    for name in ("pytorch", "tensorflow"):
        os.symlink(REPO / "impls" / name, impls / name)
    if broken == "manifest":  # a manifest that breaks the contract (a folder without one is skipped)
        (impls / "myjax").mkdir()
        (impls / "myjax" / "train.py").write_text("")
        (impls / "myjax" / "manifest.yaml").write_text("name: myjax\nframework: jax\nentry: train.py\n")
        expected = "impls/myjax: manifest.yaml lacks key(s) models"
    else:  # the PyTorch impl copied with one engine member removed
        shutil.copytree(REPO / "impls" / "pytorch", impls / "mytorch", ignore=shutil.ignore_patterns("__pycache__"))
        manifest = impls / "mytorch" / "manifest.yaml"
        manifest.write_text(manifest.read_text().replace("name: pytorch", "name: mytorch"))
        engine = impls / "mytorch" / "engine.py"
        engine.write_text(engine.read_text().replace("def fetch(", "def fetch_renamed("))
        expected = "impls/mytorch: engine.py class Engine: the engine lacks fetch of the engine contract"
    config = write_config(tmp_path, "c.yaml", impls_dir=str(impls))
    proc = snakemake(tmp_path, "-n", "--configfile", str(config), check=False)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr


def test_bad_config_stops_before_any_job(tmp_path):
    config = write_config(tmp_path, "c.yaml", seeds=["zero"])
    proc = snakemake(tmp_path, "--cores", "1", "--configfile", str(config), check=False)
    assert proc.returncode != 0
    assert "config key seeds[0] = 'zero' is invalid" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke study run for real, once for the tests below."""
    workdir = tmp_path_factory.mktemp("smoke")
    config = REPO / ".test" / "config" / "smoke.yaml"
    snakemake(workdir, "--cores", "2", "--configfile", str(config))
    return workdir


@pytest.mark.pipeline
def test_smoke_pipeline_end_to_end(smoke):
    runs = sorted(p.name for p in (smoke / "results" / "smoke" / "runs").iterdir())
    assert runs == sorted(f"{impl}-dcgan_blog{arm}-s0" for impl in IMPL_NAMES for arm in ("-basic", ""))
    for run in runs:
        folder = smoke / "results" / "smoke" / "runs" / run
        for name in ("spec.json", "samples.npz", "log.csv", "timing.json", "status.json", "grid.png", "metrics.json"):
            assert (folder / name).is_file(), f"{run}/{name}"
        assert (smoke / "results" / "smoke" / "logs" / "train" / f"{run}.log").is_file()
        assert (smoke / "results" / "smoke" / "benchmarks" / "train" / f"{run}.tsv").is_file()
        assert (smoke / "results" / "smoke" / "benchmarks" / "evaluate" / f"{run}.tsv").is_file()
    summary = pd.read_csv(smoke / "results" / "smoke" / "summary.csv")
    assert sorted(summary["run_id"]) == runs
    assert set(summary["status"]) <= {"ok", "diverged"}
    assert summary["fid"].notna().all() and (summary["fid"] > 0).all()
    assert (summary["median_step_ms"] > 0).all()
    html = (smoke / "reports" / "smoke" / "index.html").read_text()
    for run in runs:
        assert run in html


@pytest.mark.pipeline
def test_smoke_report_in_headless_chromium(smoke, tmp_path):
    state = browser.page_state(smoke / "reports" / "smoke" / "index.html", tmp_path)
    assert state["ready"] == "complete"
    assert state["n"] >= 5 and state["broken"] == [], state["broken"]
    assert sorted(state["rows"]) == sorted(o.id for o in OBSERVATIONS)
    assert "pytorch-dcgan_blog-basic-s0" in state["text"]


@pytest.mark.pipeline
def test_adding_a_seed_only_adds_jobs(smoke, tmp_path):
    config = write_config(tmp_path, "more_seeds.yaml", seeds=[0, 1])
    proc = snakemake(smoke, "-n", "--configfile", str(config))
    counts = job_counts(proc.stdout + proc.stderr)
    n = 2 * len(IMPL_NAMES)  # both models of the smoke recipe in every impl, for the new seed
    assert counts["train"] == n and counts["evaluate"] == n and counts["spec"] == n
    out = proc.stdout + proc.stderr
    trained = re.findall(r"results/smoke/runs/([\w.-]+)/samples\.npz", out)
    assert trained and all(run_id.endswith("-s1") for run_id in trained)


@pytest.mark.pipeline
def test_finished_study_is_up_to_date(smoke):
    proc = snakemake(smoke, "-n", "--configfile", str(REPO / ".test" / "config" / "smoke.yaml"))
    assert "Nothing to be done" in proc.stdout + proc.stderr


def fake_nvidia_smi(folder: Path, n_gpus: int) -> dict:
    """An environment whose nvidia-smi lists ``n_gpus`` GPUs."""
    folder.mkdir()
    lines = "".join(f"echo 'GPU {i}: Fake GPU (UUID: GPU-{i})'\n" for i in range(n_gpus))
    (folder / "nvidia-smi").write_text(f"#!/bin/sh\n{lines}")
    (folder / "nvidia-smi").chmod(0o755)
    path = f"{folder}:{Path(sys.executable).parent}:/usr/bin:/bin"
    env = dict(os.environ, PATH=path)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def main_command(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "ganbench"), "run", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_main_command_chooses_quick_without_gpu(tmp_path):
    env = fake_nvidia_smi(tmp_path / "bin", 0)
    proc = main_command("-n", "--directory", str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "study: quick (config/quick.yaml), because no GPU is visible" in proc.stderr
    assert "--resources gpu=0" in proc.stderr
    assert "results/quick/runs/" in proc.stdout + proc.stderr
    forced = main_command("nonsense", "-n", env=env)
    assert forced.returncode != 0
    assert "no study 'nonsense': give one of:" in forced.stderr


def test_main_command_chooses_the_study_with_gpus(tmp_path):
    env = fake_nvidia_smi(tmp_path / "bin", 2)
    proc = main_command("-n", "--directory", str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "study: study (config/config.yaml), because 2 GPU(s) are visible" in proc.stderr
    assert "--resources gpu=2" in proc.stderr
    out = proc.stdout + proc.stderr
    # the first look (396 runs), the seeds of each arm of an impl with a seed-group engine in one
    # job (seed_groups: auto on CUDA; K = 8 holds a look's 3 seeds): tests/test_seed_group_pipeline.py
    counts = job_counts(out)
    grouped = sum(1 for name in IMPL_NAMES if "seed_group" in yaml.safe_load(
        (REPO / "impls" / name / "manifest.yaml").read_text()))
    assert counts.get("train", 0) == 132 * (len(IMPL_NAMES) - grouped) and counts.get("train_group", 0) == 44 * grouped
    assert counts["evaluate"] == 396
    assert re.search(r"rule train:.*?resources:[^\n]*gpu=1", out, re.S)
    assert re.search(r"rule train_group:.*?resources:[^\n]*gpu=1", out, re.S)
    assert "seeds grouped, up to 8 of an arm per job" in proc.stderr


@pytest.mark.pipeline
def test_snakemake_report_embeds_the_key_figures(smoke):
    out = smoke / "snakemake-report.html"
    proc = snakemake(smoke, "--report", str(out), "--configfile", str(REPO / ".test" / "config" / "smoke.yaml"))
    log = proc.stdout + proc.stderr
    for name in ("observations", "fid_by_condition", "frameworks", "training_curves", "timing"):
        assert f"Adding {name}.png" in log
    assert "Adding observations.csv" in log  # the verdict table
    html = out.read_text(errors="replace")
    assert "judges every claim with statistics over seeds" in html  # the workflow description
    assert out.stat().st_size > 10_000


# --------------------------------------------------------------------------- Fashion-MNIST


FASHION_CONFIG = REPO / ".test" / "config" / "fashion_smoke.yaml"
FASHION_RUNS = ["pytorch-dcgan_blog-basic-s0", "pytorch-dcgan_blog-s0"]


def test_fashion_mnist_study_is_planned(tmp_path):
    proc = snakemake(tmp_path, "-n", "--configfile", str(FASHION_CONFIG))
    out = proc.stdout + proc.stderr
    counts = job_counts(out)
    assert counts["dataset"] == 1 and counts["train"] == len(FASHION_RUNS) == counts["evaluate"]
    assert counts["report"] == 1
    assert "results/data/fashion_mnist.npz" in out and "results/data/mnist.npz" not in out
    for run in FASHION_RUNS:
        assert f"results/fashion_smoke/runs/{run}/samples.npz" in out


@pytest.fixture(scope="module")
def fashion_smoke(tmp_path_factory):
    """The smoke study on Fashion-MNIST run for real (Debian's dataset-fashion-mnist)."""
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (`./ganbench test` installs it as root)")
    workdir = tmp_path_factory.mktemp("fashion_smoke")
    snakemake(workdir, "--cores", "2", "--configfile", str(FASHION_CONFIG))
    return workdir


@pytest.mark.pipeline
def test_fashion_smoke_pipeline_end_to_end(fashion_smoke):
    from ganbench.data import FASHION_MNIST_SHA256, load_dataset, sha256_of
    from ganbench.metrics.mnist_net import EVALUATORS, file_sha256

    data = load_dataset(fashion_smoke / "results" / "data" / "fashion_mnist.npz")
    assert sha256_of(data["test_images"][..., 0]) == FASHION_MNIST_SHA256["test_images"]
    assert not (fashion_smoke / "results" / "data" / "mnist.npz").exists()
    study = fashion_smoke / "results" / "fashion_smoke"
    assert sorted(p.name for p in (study / "runs").iterdir()) == FASHION_RUNS
    sha8 = file_sha256(EVALUATORS["fashion_mnist"].weights)[:8]
    for run in FASHION_RUNS:
        folder = study / "runs" / run
        assert json.loads((folder / "spec.json").read_text())["dataset"] == "fashion_mnist"
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["settings"]["dataset"] == "fashion_mnist", run
        assert metrics["extractor"]["fid"] == f"fashion-mnist-net:{sha8}", run
    summary = pd.read_csv(study / "summary.csv")
    assert sorted(summary["run_id"]) == FASHION_RUNS
    assert set(summary["status"]) <= {"ok", "diverged"}
    assert summary["fid"].notna().all() and (summary["fid"] > 0).all()
    html = (fashion_smoke / "reports" / "fashion_smoke" / "index.html").read_text()
    assert "ganbench report: fashion_smoke (Fashion-MNIST)" in html
    for run in FASHION_RUNS:
        assert run in html


CELEBA_CONFIG = REPO / ".test" / "config" / "celeba_smoke.yaml"
CELEBA_RUNS = ["pytorch-dcgan_blog-basic-s0", "pytorch-dcgan_blog-s0"]


def celeba_config(tmp_path: Path, celeba_dir: Path, weights: Path | None) -> Path:
    config = yaml.safe_load(CELEBA_CONFIG.read_text())
    config["data"]["celeba_dir"] = str(celeba_dir)
    config["inception_weights"] = str(weights) if weights else None
    path = tmp_path / "celeba_smoke.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_celeba_without_inception_weights_stops_before_any_job(tmp_path, monkeypatch):
    from celeba_helpers import make_synthetic_celeba

    folder = make_synthetic_celeba(tmp_path / "celeba", n=20)
    hub = tmp_path / "empty_torch_home"  # no hub cache with the weights, no env override
    monkeypatch.setenv("TORCH_HOME", str(hub))
    monkeypatch.delenv("GANBENCH_INCEPTION_WEIGHTS", raising=False)
    proc = snakemake(tmp_path, "--cores", "1", "--configfile", str(celeba_config(tmp_path, folder, None)),
                     check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "pt_inception-2015-12-05-6726825d.pth" in out and str(hub / "hub" / "checkpoints") in out, out[-3000:]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.npz"))


@pytest.fixture(scope="module")
def celeba_smoke(tmp_path_factory):
    """The CelebA smoke study run for real on a synthetic folder of JPEGs, scored through the Inception
    code path with a small random-weight Inception-shaped network (ganbench.metrics.inception_net)."""
    from celeba_helpers import make_synthetic_celeba
    from ganbench.metrics.inception_net import write_test_network

    workdir = tmp_path_factory.mktemp("celeba_smoke")
    folder = make_synthetic_celeba(workdir / "celeba", n=80, seed=3)
    weights = workdir / "inception-test.pth"
    write_test_network(weights, seed=0)
    snakemake(workdir, "--cores", "2", "--configfile", str(celeba_config(workdir, folder, weights)))
    return workdir, weights


@pytest.mark.pipeline
def test_celeba_smoke_pipeline_end_to_end(celeba_smoke):
    from ganbench.data import load_dataset
    from ganbench.metrics.mnist_net import file_sha256

    workdir, weights = celeba_smoke
    data = load_dataset(workdir / "results" / "data" / "celeba.npz")
    assert data["train_images"].shape == (72, 64, 64, 3) and data["test_images"].shape == (8, 64, 64, 3)
    assert data["train_images"].dtype == np.uint8 and data["train_images"].std() > 10
    study = workdir / "results" / "celeba_smoke"
    assert sorted(p.name for p in (study / "runs").iterdir()) == CELEBA_RUNS
    extractor = f"inception-v3-test:{file_sha256(weights)[:8]}"
    for run in CELEBA_RUNS:
        folder = study / "runs" / run
        spec = json.loads((folder / "spec.json").read_text())
        assert spec["dataset"] == "celeba" and spec["channels"] == 3 and spec["image_size"] == 64, run
        with np.load(folder / "samples.npz") as npz:
            assert npz["images"].shape == (40, 64, 64, 3), run
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["status"] == "ok" and metrics["settings"]["dataset"] == "celeba", run
        assert metrics["extractor"]["fid"] == extractor and metrics["extractor"]["recall"] == extractor, run
        m = metrics["metrics"]
        assert np.isfinite(m["fid"]) and m["fid"] > 0 and np.isfinite(m["is_mean"]) and m["is_mean"] >= 1, run
        assert m["classes_covered"] is None and "classes_covered" in metrics["skipped"], run
        assert [p["step"] for p in metrics["curve"]] and all(np.isfinite(p["fid"]) for p in metrics["curve"]), run
    summary = pd.read_csv(study / "summary.csv")
    assert sorted(summary["run_id"]) == CELEBA_RUNS and set(summary["dataset"]) == {"celeba"}
    assert summary["fid"].notna().all() and summary["classes_covered"].isna().all()
    html = (workdir / "reports" / "celeba_smoke" / "index.html").read_text()
    assert "ganbench report: celeba_smoke (CelebA)" in html and extractor in html
    for run in CELEBA_RUNS:
        assert run in html
