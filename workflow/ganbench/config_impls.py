"""Cross-checks of a validated config against the discovered impls and its own design.

Its one job: every impl the config names exists, every recipe's optimiser preset and every design
set's recipe, preset and impls exist, and every planned arm has a budget for its model on an impl
that implements that model. Raises :class:`~ganbench.config_schema.ConfigError`.
"""
from __future__ import annotations

from ganbench.config_schema import ConfigError
from ganbench.impls import Impl


def check_against_impls(config: dict, impls: dict[str, Impl]) -> None:
    """Cross-field checks that need the discovered impls and the config as a whole."""
    known = sorted(impls)
    chosen = config["impls"] if config.get("impls") is not None else known
    if not impls:
        raise ConfigError(
            f"no impl folder was found under {config.get('impls_dir') or 'impls'} (an impl folder holds a "
            f"manifest.yaml, impls/README.md): set config key impls_dir to the folder holding them (default: impls)"
        )
    if not chosen:
        raise ConfigError(
            f"config key impls = [] names no impl, so the study would train nothing: list the impl folders to "
            f"run, or set it to null (or leave it out) to run every one discovered; discovered: {known}"
        )

    def check_impls(names, where):
        for name in names:
            if name not in impls:
                raise ConfigError(
                    f"config key {where} names {name!r}, which is not an impl folder; discovered: {known}"
                )

    check_impls(chosen, "impls")
    check_impls(config["observations"]["impls"] or [], "observations.impls")
    check_impls(config["frameworks"]["impls"] or [], "frameworks.impls")
    _check_presets_and_designs(config, chosen, check_impls)
    _check_planned_arms(config, chosen, impls)


def _check_presets_and_designs(config: dict, chosen: list[str], check_impls) -> None:
    """Every recipe's optimiser preset exists; every design set names a recipe, a preset, impls."""
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


def _check_planned_arms(config: dict, chosen: list[str], impls: dict[str, Impl]) -> None:
    """Every planned run: its recipe has a budget for its model, its impl implements the model."""
    from ganbench.grid import planned_arms  # late import: only this check needs the grid

    presets = sorted(config["optimizers"])
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
