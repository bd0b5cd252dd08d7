"""Validate a study config: the JSON schema first, then cross-field checks.

The schema (workflow/schemas/config.schema.yaml) is applied with
``snakemake.utils.validate``, which also fills in its defaults. Errors are
re-worded to name the key, the bad value and what is allowed.

This module is the entry point (:func:`load_config`, :func:`validate_config`) and the names
the Snakefile and the tools import; the work is split by job:

* :mod:`ganbench.config_schema`: ConfigError, the schema's errors in words, strict integers;
* :mod:`ganbench.config_recipes`: the source recipes merged under the config's own;
* :mod:`ganbench.config_impls`: checks against the discovered impls and the design;
* :mod:`ganbench.config_runs`: checks of the planned runs at DAG time.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

# re-exported: the Snakefile, the tools and the tests import these from ganbench.config
from ganbench.config_impls import check_against_impls
from ganbench.config_recipes import (NEW_ENTRY, SOURCE_RECIPES, check_new_name, deep_merge, merge_source_recipes,
                                     source_recipes)
from ganbench.config_runs import (RECIPE_SPEC_KEYS, TOP_LEVEL_SPEC_KEYS, TRAIN_IMAGES, check_runs, config_key_of,
                                  npz_rows, train_image_count)
from ganbench.config_schema import SCHEMA, ConfigError, check_whole_numbers, explain, key_path
from ganbench.impls import Impl
from ganbench.looks import seed_plan

__all__ = [
    "check_against_impls",
    "NEW_ENTRY", "SOURCE_RECIPES", "check_new_name", "deep_merge", "merge_source_recipes", "source_recipes",
    "RECIPE_SPEC_KEYS", "TOP_LEVEL_SPEC_KEYS", "TRAIN_IMAGES", "check_runs", "config_key_of", "npz_rows",
    "train_image_count",
    "SCHEMA", "ConfigError", "check_whole_numbers", "explain", "key_path",
    "validate_config", "check_dataset", "load_config", "in_config_files",
]


def validate_config(config: dict) -> dict:
    """Merge the source recipes in, validate in place (filling schema defaults), return the config.

    Raises ConfigError with a readable message.
    """
    merge_source_recipes(config)
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(SCHEMA))
    except WorkflowError as exc:
        # snakemake wraps jsonschema's error (raised while handling it, so it is the context)
        cause = exc.__cause__ or exc.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise ConfigError(str(exc)) from exc
        raise ConfigError(explain(cause)) from None
    check_whole_numbers(config)
    check_dataset(config)
    try:
        seed_plan(config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return config


def check_dataset(config: dict) -> None:
    """The dataset's own required keys (the schema cannot say "required when dataset is ...")."""
    if config["dataset"] == "celeba" and not config["data"].get("celeba_dir"):
        raise ConfigError(
            "config key data.celeba_dir is missing: dataset celeba is built from your own copy of the "
            "aligned CelebA images. Set data.celeba_dir to the folder holding img_align_celeba/ (or the "
            "images themselves): in the config file (`data: {celeba_dir: /data/celeba}`) or on the "
            "command line (`--config 'data={celeba_dir: /data/celeba}'`)."
        )


def load_config(path: str | Path, impls: dict[str, Impl] | None = None) -> dict:
    """Read, validate and (if impls are given) cross-check a config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    config = yaml.safe_load(path.read_text()) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    config = validate_config(copy.deepcopy(config))
    if impls is not None:
        check_against_impls(config, impls)
    return config


def in_config_files(message: str, configfiles) -> str:
    """``message`` prefixed with the config file(s) it is about (Snakemake's ``workflow.configfiles``)."""
    files = [str(f) for f in (configfiles or [])]
    return f"{', '.join(files)}: {message}" if files else message
