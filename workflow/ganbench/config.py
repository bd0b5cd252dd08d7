"""Validate a study config: the JSON schema first, then cross-field checks.

The schema (workflow/schemas/config.schema.yaml) is applied with
``snakemake.utils.validate``, which also fills in its defaults. Errors are
re-worded to name the key, the bad value and what is allowed.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from ganbench.impls import Impl

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
SOURCE_RECIPES = Path(__file__).resolve().parents[2] / "config" / "recipes.yaml"


class ConfigError(ValueError):
    """The config is invalid; the message says which key and what is allowed."""


def key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _allowed(error) -> str:
    schema = error.schema
    if "enum" in schema:
        return f"one of {schema['enum']}"
    if "const" in schema:
        return repr(schema["const"])
    if "pattern" in schema:
        return f"a string matching {schema['pattern']}"
    if error.validator == "additionalProperties" and "properties" in schema:
        return f"keys {sorted(schema['properties'])}"
    if error.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return f"{error.validator} {error.validator_value}"
    if "type" in schema:
        return f"type {schema['type']}"
    if error.validator == "anyOf":
        return " or ".join(_allowed_sub(s) for s in schema["anyOf"])
    return f"{error.validator} {error.validator_value!r}"


def _allowed_sub(schema: dict) -> str:
    if "const" in schema:
        return repr(schema["const"])
    text = f"{schema.get('type')}"
    if "minimum" in schema:
        text += f" >= {schema['minimum']}"
    return text


def explain(error) -> str:
    """One readable line for a jsonschema ValidationError."""
    where = key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        return f"config key {where}: {error.message}; allowed: {_allowed(error)}"
    if error.validator == "required":
        return f"config key {where}: {error.message}"
    if error.validator == "enum":
        return f"config key {where} = {error.instance!r} is invalid; allowed: one of {error.validator_value}"
    return f"config key {where} = {error.instance!r} is invalid: {error.message}; allowed: {_allowed(error)}"


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` laid over ``base`` (nested dicts merged key by key; anything else replaced)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def source_recipes(path: Path = SOURCE_RECIPES) -> dict:
    """The source recipes and optimiser presets of config/recipes.yaml."""
    data = yaml.safe_load(path.read_text()) or {}
    return {"optimizers": data.get("optimizers", {}), "recipes": data.get("recipes", {})}


def merge_source_recipes(config: dict) -> None:
    """Lay the config's ``optimizers`` and ``recipes`` over the source recipes, in place."""
    sources = source_recipes()
    for key in ("optimizers", "recipes"):
        own = config.get(key) or {}
        if not isinstance(own, dict):
            raise ConfigError(f"config key {key} must be a mapping, got {own!r}")
        for name, value in own.items():
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"config key {key}.{name} must be a mapping, got {value!r}")
        config[key] = deep_merge(sources[key], {k: v or {} for k, v in own.items()})


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
    check_dataset(config)
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


def check_against_impls(config: dict, impls: dict[str, Impl]) -> None:
    """Cross-field checks that need the discovered impls and the config as a whole."""
    from ganbench.grid import planned_arms  # late import: grid imports this module

    known = sorted(impls)
    chosen = config["impls"] if config.get("impls") is not None else known

    def check_impls(names, where):
        for name in names:
            if name not in impls:
                raise ConfigError(
                    f"config key {where} names {name!r}, which is not an impl folder; discovered: {known}"
                )

    check_impls(chosen, "impls")
    check_impls(config["observations"]["impls"] or [], "observations.impls")
    check_impls(config["frameworks"]["impls"] or [], "frameworks.impls")
    presets = sorted(config["optimizers"])
    recipes = sorted(config["recipes"])
    for name, recipe in config["recipes"].items():
        if recipe["optim"] not in config["optimizers"]:
            raise ConfigError(
                f"config key recipes.{name}.optim = {recipe['optim']!r} is not a preset in "
                f"optimizers; allowed: {presets}"
            )
    for set_name, design in config["design"].items():
        if design["recipe"] not in config["recipes"]:
            raise ConfigError(
                f"config key design.{set_name}.recipe = {design['recipe']!r} is not a recipe; "
                f"allowed: {recipes}"
            )
        optim = design.get("set", {}).get("optim")
        if optim is not None and optim not in config["optimizers"]:
            raise ConfigError(
                f"config key design.{set_name}.set.optim = {optim!r} is not a preset in "
                f"optimizers; allowed: {presets}"
            )
        check_impls(design.get("impls", chosen), f"design.{set_name}.impls")
    # every planned run: its recipe has a budget for its model, its impl implements the model
    try:
        arms = planned_arms(config, chosen)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    for arm in arms:
        recipe, model = arm.recipe, arm.factors["model"]
        if model not in config["recipes"][recipe]["steps"]:
            raise ConfigError(
                f"config key recipes.{recipe}.steps.{model} is missing: {arm.origin} runs the "
                f"{model} model on recipe {recipe!r}; give it a budget (training iterations)"
            )
        optim = arm.factors["optim"]
        if optim not in config["optimizers"]:
            raise ConfigError(f"{arm.origin} needs the optimiser preset {optim!r}; allowed: {presets}")
        for name in arm.impls:
            if model not in impls[name].models:
                raise ConfigError(
                    f"{arm.origin} asks impl {name!r} for model {model!r}, but its manifest "
                    f"lists only {list(impls[name].models)}"
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
