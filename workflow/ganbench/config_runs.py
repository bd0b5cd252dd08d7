"""Checks of the planned runs at DAG time, before any job starts.

Its one job is :func:`check_runs`: the study plans at least one run, every run's spec.json is
valid (naming the config key it comes from, :func:`config_key_of`), a ``device: cuda`` study has
a GPU, and every batch fits the dataset's training images (:func:`train_image_count`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ganbench.config_schema import ConfigError

# training images of the MNIST family (their arrays are checksummed, so the counts are fixed)
TRAIN_IMAGES = {"mnist": 60000, "fashion_mnist": 60000}
# spec.json keys copied from the top-level config key of the same name
TOP_LEVEL_SPEC_KEYS = ("dataset", "z_dim", "eval_samples", "log_every", "grid_every", "grid_size", "probe_size",
                       "curve_fractions", "curve_samples", "device", "compile", "checkpoint_every")
RECIPE_SPEC_KEYS = ("batch_size", "prior", "g_loss", "label_smoothing", "freeze_d", "fresh_noise")


def config_key_of(spec_key: str | None, spec: dict) -> str | None:
    """The config key a spec.json key of ``spec`` is built from (None when there is no single one)."""
    if not spec_key:
        return None
    head, _, rest = spec_key.partition(".")
    recipe, model = spec.get("recipe"), spec.get("model")
    if head == "optim":
        leaf = rest.partition(".")[2]
        return f"optimizers.{spec.get('optim_preset')}" + (f".{leaf}" if leaf else "")
    if head == "arch":
        return f"recipes.{recipe}.{model}" + (f".{rest}" if rest else "")
    if head == "steps":
        return f"recipes.{recipe}.steps.{model}"
    if head == "image_size":
        return f"recipes.{recipe}.dcgan.image_size" if model == "dcgan" else "dataset"
    if head in ("d_steps", "g_steps"):
        return f"recipes.{recipe}.schedule"
    if head in RECIPE_SPEC_KEYS:
        return f"recipes.{recipe}.{head}"
    if head == "seed":
        return "seeds"
    if head in TOP_LEVEL_SPEC_KEYS:
        return head
    return None


def npz_rows(path: str | Path, key: str) -> int | None:
    """The first dimension of array ``key`` in an .npz (header only), or None when unreadable."""
    from ganbench.output_check import npz_array_header

    try:
        shape, _ = npz_array_header(path, key)
    except (KeyError, ValueError):
        return None
    return shape[0] if shape else None


def train_image_count(config: dict, data: str | Path | None = None) -> tuple[int, str, str] | None:
    """(at most how many training images the dataset has, where that comes from, how to get more);
    None when it cannot be known before the dataset is built."""
    dataset = config["dataset"]
    if dataset in TRAIN_IMAGES:
        return TRAIN_IMAGES[dataset], f"dataset {dataset}", ""
    cap = (config.get("data") or {}).get("celeba_max_images")
    more = " (or give the dataset more images: data.celeba_max_images, or a larger data.celeba_dir)"
    if cap:  # the builder keeps at most cap - cap // 10 for training (a tenth is the test split)
        return cap - cap // 10, f"dataset {dataset} with data.celeba_max_images = {cap}", more
    if data is not None and Path(data).is_file():
        n = npz_rows(data, "train_images")
        if n is not None:
            return n, f"dataset {dataset} ({data})", more
    return None


def _count(ids: list[str]) -> str:
    return ids[0] + (f" and {len(ids) - 1} more run(s)" if len(ids) > 1 else "")


def check_runs(config: dict, runs: Mapping, n_gpus: int, data: str | Path | None = None,
               env: Mapping[str, str] = os.environ) -> None:
    """Checks of the planned runs (``grid.expand_runs``), before any job: at least one run, every
    run's spec.json valid (runkit.validate_spec), batches that fit the dataset, a GPU for
    ``device: cuda`` (``n_gpus``: the Snakefile's count, ``gpu_slots.resolve_gpu_count``).
    Raises ConfigError naming the config key and the fix."""
    from ganbench.runkit.spec import SpecError, validate_spec

    if not runs:
        include = config["observations"]["include"]
        raise ConfigError(
            f"the study plans no runs: observations.include = {include!r} and design has "
            f"{len(config['design'])} set(s). Include observations (observations.include: all, or ids of "
            f"workflow/ganbench/observations.py) or add a design set (design: {{main: {{recipe: <a recipe>, "
            f"models: [basic]}}}})."
        )
    # a spec error names a spec.json key; the user edits the config, so name the key it comes from
    for run_id, run in runs.items():
        spec = run.spec
        try:
            validate_spec(spec, source=f"run {run_id}")
        except SpecError as exc:
            key = config_key_of(getattr(exc, "key", None), spec)
            fix = f"fix config key {key}" if key else "fix the config key it comes from"
            raise ConfigError(f"{exc}. Its spec.json is built from the config: {fix}.") from None
    # every train job would fail on its own; say once, here, why no GPU is seen and what to change
    if config["device"] == "cuda" and not n_gpus:
        if env.get("CUDA_VISIBLE_DEVICES") is not None and not env["CUDA_VISIBLE_DEVICES"].strip():
            why, fix = ("CUDA_VISIBLE_DEVICES is set and empty, which hides every GPU",
                        "unset CUDA_VISIBLE_DEVICES (or set it to the GPU ids to use)")
        elif config["gpus"] != "auto":
            why, fix = f"gpus = {config['gpus']}", "set gpus to the number of GPUs jobs may claim (or auto)"
        else:
            why, fix = ("gpus = auto and nvidia-smi lists no GPU here",
                        "when the jobs run on GPU nodes (a cluster), set gpus to the number they may claim "
                        "(--config gpus=1)")
        raise ConfigError(
            f"config key device = 'cuda', but no GPU is available to the jobs ({why}), so every train job "
            f"would fail. Use device: auto (CUDA when a GPU is visible, else the CPU) or device: cpu; or {fix}."
        )
    # a batch larger than the training set cannot be drawn; the error names the recipe and its runs
    size = train_image_count(config, data)
    if size is not None:
        n, what, more = size
        by_recipe: dict[str, list[str]] = {}
        for run_id, run in runs.items():
            if run.spec["batch_size"] > n:
                by_recipe.setdefault(run.spec["recipe"], []).append(run_id)
        for recipe, ids in by_recipe.items():
            batch = config["recipes"][recipe]["batch_size"]
            raise ConfigError(
                f"config key recipes.{recipe}.batch_size = {batch} is larger than the {n} training images of "
                f"{what}: {_count(ids)} could not draw a single batch. Lower it to at most {n}{more}."
            )
