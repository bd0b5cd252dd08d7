"""Lay the study config's ``optimizers`` and ``recipes`` over the source recipes (config/recipes.yaml).

Its one job: the merge that :func:`ganbench.config.validate_config` does before the schema, and
the check that a name the source recipes do not define is a deliberate new entry, not a typo.
"""
from __future__ import annotations

import copy
import difflib
from pathlib import Path

import yaml

from ganbench.config_schema import ConfigError

SOURCE_RECIPES = Path(__file__).resolve().parents[2] / "config" / "recipes.yaml"


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
            check_new_name(key, name, value or {}, sources[key])
        config[key] = deep_merge(sources[key], {k: v or {} for k, v in own.items()})


# what a name under `recipes:` / `optimizers:` that config/recipes.yaml does not define must give
NEW_ENTRY = {"recipes": ("recipe", "model", "a model (basic or dcgan) and its steps"),
             "optimizers": ("optimiser preset", "lr", "an lr (Adam: lr, and beta1, beta2, eps or their defaults)")}


def check_new_name(key: str, name: str, value: dict, known: dict) -> None:
    """A name the source recipes do not define is a new entry and must say what it is; without
    that it is most likely a typo of a known name (not "'model' is a required property")."""
    what, required, give = NEW_ENTRY[key]
    if name in known or required in value:
        return
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(
        f"config key {key}.{name}: unknown {what} name {name!r}{hint}; known ones (config/recipes.yaml): "
        f"{sorted(known)}. Fix the name to change a known {what}; to define a new {what}, give it {give}."
    )
