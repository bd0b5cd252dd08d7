"""Problems a study config can only show once its runs are planned are errors at DAG time
(naming the config key and the fix), not failures inside every train job."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ganbench.config import ConfigError, check_against_impls, check_runs, validate_config
from ganbench.grid import expand_runs
from ganbench.impls import Impl

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
FAKE_IMPLS = {
    name: Impl(name, name, Path(f"/x/{name}/train.py"), ("basic", "dcgan"), Path(f"/x/{name}"))
    for name in ("pytorch", "tensorflow")
}


def minimal(**changes) -> dict:
    config = {"name": "t", "seeds": [0], "observations": {"include": []},
              "recipes": {"dcgan_blog": {"steps": {"basic": 10, "dcgan": 10}}},
              "design": {"main": {"recipe": "dcgan_blog", "models": ["basic"]}}}
    config.update(changes)
    return config


def planned(config: dict, impls=FAKE_IMPLS):
    config = validate_config(config)
    check_against_impls(config, impls)
    return config, expand_runs(config, config["impls"] or sorted(impls))


# ------------------------------------------------------------------ whole numbers, specs of every run
def test_a_whole_number_written_with_a_decimal_point_is_named():
    config = minimal(recipes={"dcgan_blog": {"steps": {"basic": 40.0, "dcgan": 10}}})
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    msg = str(err.value)
    assert "config key recipes.dcgan_blog.steps.basic = 40.0" in msg, msg
    assert "whole number" in msg and "write 40" in msg, msg
    with pytest.raises(ConfigError, match=r"config key seeds\[1\] = 1.0 .*write 1"):
        validate_config(minimal(seeds=[0, 1.0]))


def test_every_planned_spec_is_validated_and_the_config_key_named():
    # the schema takes any number for an Adam lr > 0; spec.json needs a finite one
    config, runs = planned(minimal(optimizers={"dcgan": {"lr": float("inf")}}))
    with pytest.raises(ConfigError) as err:
        check_runs(config, runs, n_gpus=0)
    msg = str(err.value)
    assert "run pytorch-dcgan_blog-basic-s0" in msg and "optim.d.lr" in msg, msg
    assert "fix config key optimizers.dcgan.lr" in msg, msg


def test_shipped_study_passes_the_dag_checks():
    config, runs = planned(yaml.safe_load((REPO / "config" / "config.yaml").read_text()),
                           dict(FAKE_IMPLS, jax=Impl("jax", "jax", Path("/x"), ("basic", "dcgan"), Path("/x"))))
    check_runs(config, runs, n_gpus=0)


# ------------------------------------------------------------------ batch size vs the dataset
def test_batch_larger_than_the_dataset_is_named():
    config, runs = planned(minimal(recipes={"dcgan_blog": {"steps": {"basic": 10}, "batch_size": 70000}}))
    with pytest.raises(ConfigError) as err:
        check_runs(config, runs, n_gpus=0)
    msg = str(err.value)
    assert "config key recipes.dcgan_blog.batch_size = 70000 is larger than the 60000 training images" in msg, msg
    assert "Lower it to at most 60000" in msg, msg


def test_batch_larger_than_a_capped_celeba_is_named():
    config, runs = planned(minimal(dataset="celeba", data={"celeba_dir": "/c", "celeba_max_images": 40}))
    with pytest.raises(ConfigError, match=r"batch_size = 64 is larger than the 36 training images .*"
                                          r"data.celeba_max_images"):
        check_runs(config, runs, n_gpus=0)


def test_batch_checked_against_a_built_dataset_file(tmp_path):
    data = tmp_path / "celeba.npz"
    images = np.zeros((30, 64, 64, 3), np.uint8)
    np.savez(data, train_images=images, test_images=images[:3])
    config, runs = planned(minimal(dataset="celeba", data={"celeba_dir": "/c"}))
    with pytest.raises(ConfigError, match=rf"larger than the 30 training images of dataset celeba \({data}\)"):
        check_runs(config, runs, n_gpus=0, data=data)
    check_runs(config, runs, n_gpus=0, data=tmp_path / "not_built_yet.npz")  # unknown size: left to the job


# ------------------------------------------------------------------ device cuda without a GPU
def test_cuda_without_a_gpu_is_named():
    config, runs = planned(minimal(device="cuda"))
    with pytest.raises(ConfigError) as err:
        check_runs(config, runs, n_gpus=0, env={})
    msg = str(err.value)
    assert "config key device = 'cuda', but no GPU is available" in msg, msg
    assert "nvidia-smi lists no GPU" in msg and "device: auto" in msg and "--config gpus=1" in msg, msg
    check_runs(config, runs, n_gpus=1, env={})
    with pytest.raises(ConfigError, match=r"CUDA_VISIBLE_DEVICES is set and empty.*unset CUDA_VISIBLE_DEVICES"):
        check_runs(config, runs, n_gpus=0, env={"CUDA_VISIBLE_DEVICES": ""})
    config, runs = planned(minimal(device="cuda", gpus=0))
    with pytest.raises(ConfigError, match=r"gpus = 0.*set gpus to the number of GPUs jobs may claim"):
        check_runs(config, runs, n_gpus=0, env={})


# ------------------------------------------------------------------ nothing to run
def test_empty_impls_list_is_named():
    config = validate_config(minimal(impls=[]))
    with pytest.raises(ConfigError, match=r"config key impls = \[\] names no impl.*null.*discovered: \['pytorch'"):
        check_against_impls(config, FAKE_IMPLS)


def test_no_impl_folder_at_all_is_named():
    config = validate_config(minimal())
    with pytest.raises(ConfigError, match=r"no impl folder was found.*impls_dir"):
        check_against_impls(config, {})


def test_a_study_without_runs_is_named():
    config, runs = planned(minimal(design={}))
    assert runs == {}
    with pytest.raises(ConfigError) as err:
        check_runs(config, runs, n_gpus=0)
    msg = str(err.value)
    assert "plans no runs" in msg and "observations.include = []" in msg and "design" in msg, msg


# ------------------------------------------------------------------ a typo under recipes:
def test_recipe_name_typo_is_named_with_the_known_ones():
    config = minimal(recipes={"dcgan_blgo": {"steps": {"basic": 10}}})
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    msg = str(err.value)
    assert "'model' is a required property" not in msg
    assert "config key recipes.dcgan_blgo: unknown recipe name 'dcgan_blgo'" in msg, msg
    assert "did you mean 'dcgan_blog'" in msg and "basic_tutorial" in msg, msg
    assert "to define a new recipe, give it a model" in msg, msg
    # a new recipe with its model is still fine
    validate_config(minimal(recipes={"mine": {"model": "basic", "steps": {"basic": 5}}}))


def test_optimizer_name_typo_is_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"optimizers.dcgna: unknown optimiser preset name 'dcgna'.*did you mean "
                                          r"'dcgan'.*to define a new optimiser preset, give it an lr"):
        validate_config(minimal(optimizers={"dcgna": {"beta1": 0.5}}))


# ------------------------------------------------------------------ through snakemake -n
def snakemake_dry(workdir: Path, config: dict, env: dict | None = None) -> subprocess.CompletedProcess:
    path = workdir / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "-n",
           "--configfile", str(path)]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", **(env or {}))
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def smoke(**changes) -> dict:
    config = yaml.safe_load((REPO / ".test" / "config" / "smoke.yaml").read_text())
    config.update(changes)
    return config


@pytest.mark.pipeline
def test_snakemake_dry_run_stops_at_dag_time(tmp_path):
    recipes = {"dcgan_blog": {**smoke()["recipes"]["dcgan_blog"], "steps": {"basic": 40.0, "dcgan": 10}}}
    proc = snakemake_dry(tmp_path, smoke(recipes=recipes))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{tmp_path / 'c.yaml'}: config key recipes.dcgan_blog.steps.basic = 40.0" in out, out[-3000:]
    assert "Job stats" not in out  # not one job planned
    proc = snakemake_dry(tmp_path, smoke(device="cuda", gpus="auto"))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key device = 'cuda', but no GPU is available" in out, out[-3000:]
    assert "Job stats" not in out


@pytest.mark.pipeline
def test_snakemake_skips_a_folder_without_manifest(tmp_path):
    impls = tmp_path / "impls"
    impls.mkdir()
    for name in ("pytorch", "tensorflow", "jax"):
        os.symlink(REPO / "impls" / name, impls / name)
    (impls / "notes").mkdir()
    (impls / "notes" / "ideas.md").write_text("not an impl")
    proc = snakemake_dry(tmp_path, smoke(impls_dir=str(impls)))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "impls/notes: no manifest.yaml, skipped" in out, out[-3000:]
    proc = snakemake_dry(tmp_path, smoke(impls_dir=str(tmp_path / "nope")))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{tmp_path / 'nope'}: the folder of impl folders does not exist" in out, out[-3000:]
    assert "impls_dir" in out and "Traceback" not in out
