"""Expand a validated config into runs with stable, readable ids and full specs.

Every run is a *recipe* (the setting a source ran, config ``recipes``) with a few
*deviations* (the factors in which the run differs from it), an impl and a seed.
Runs come from three places, deduplicated by id:

* each included observation's arms, ``(recipe, deviations)`` pairs declared in
  ``ganbench.observations``, run in ``observations.impls`` (default: every impl);
* the frameworks comparison: when observations run in fewer impls, the used
  recipes' own settings (``frameworks.arms: recipes``) or every arm (``all``) are
  also run in ``frameworks.impls``;
* ``design`` sets: extra crosses of priors x schedules on a recipe.

A run id names exactly what makes the run:
``<impl>-<recipe>[-<tag>...]-s<seed>``, one tag per deviation in a fixed order
(``basic``, ``prior-random``, ``d1g1``, ``minimax``, ``ls1``, ``unfrozen``,
``freshnoise``, ``opt-adam_default``, ``act-relu``, ``out-sigmoid``, ``nobn``, ``z10``, ``sumloss``,
``logform``, ``gh512``, ``dh512``).
Budgets are not part of the id: changing them changes the spec, which Snakemake
sees as changed params and re-runs. Adding seeds, observations or design sets
only adds ids.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

from ganbench.looks import seed_plan
from ganbench.runkit.spec import DATASET_GEOMETRY, OPTIONAL_DEFAULTS

# Factors a deviation may change, in run-id tag order. d_steps/g_steps come from a schedule.
FACTORS = ("model", "prior", "d_steps", "g_steps", "g_loss", "label_smoothing", "freeze_d",
           "fresh_noise", "optim", "hidden_activation", "output", "batch_norm", "z_dim", "loss_reduction",
           "loss_form", "g_hidden", "d_hidden")
ARCH_FACTORS = {"hidden_activation": "basic", "output": "basic", "batch_norm": "dcgan", "g_hidden": "basic",
                "d_hidden": "basic"}
# Factors a recipe need not state: value None = the study's z_dim / the arch's hidden width; the
# loss's reduction and form default to the spec's (runkit.spec.OPTIONAL_DEFAULTS). A run's spec
# names them only where they differ, so adding them changed no existing spec.
OPTIONAL_FACTORS = {"z_dim": None, "loss_reduction": OPTIONAL_DEFAULTS["loss_reduction"],
                    "loss_form": OPTIONAL_DEFAULTS["loss_form"], "g_hidden": None, "d_hidden": None}


@dataclass
class Run:
    run_id: str
    spec: dict
    sets: list[str] = field(default_factory=list)


@dataclass
class Arm:
    """One planned condition: a recipe with deviations, run in some impls over some seeds."""
    recipe: str
    deviations: dict
    factors: dict
    impls: list[str]
    seeds: list[int]
    set_name: str
    origin: str  # for messages: where in the config this arm comes from


def parse_schedule(schedule: str) -> tuple[int, int]:
    d, g = schedule.split(":")
    return int(d), int(g)


def recipe_factors(recipe: dict, model: str | None = None) -> dict:
    """The factor values of ``recipe`` for ``model`` (default: the recipe's own model)."""
    model = model or recipe["model"]
    d_steps, g_steps = parse_schedule(recipe["schedule"])
    factors = {
        "model": model, "prior": recipe["prior"], "d_steps": d_steps, "g_steps": g_steps,
        "g_loss": recipe["g_loss"], "label_smoothing": float(recipe["label_smoothing"]),
        "freeze_d": recipe["freeze_d"], "fresh_noise": recipe["fresh_noise"], "optim": recipe["optim"],
    }
    arch = recipe.get(model) or {}
    for key, default in OPTIONAL_FACTORS.items():
        if key not in ARCH_FACTORS:
            factors[key] = recipe.get(key, default)
    for key, owner in ARCH_FACTORS.items():
        if owner == model:
            factors[key] = arch.get(key, OPTIONAL_FACTORS.get(key)) if key in OPTIONAL_FACTORS else arch[key]
    return factors


def arm_factors(recipe: dict, deviations: dict) -> dict:
    """Full factors of the arm ``recipe`` + ``deviations``."""
    unknown = sorted(set(deviations) - set(FACTORS))
    if unknown:
        raise KeyError(f"unknown deviation(s) {unknown}; allowed: {list(FACTORS)}")
    model = deviations.get("model", recipe["model"])
    factors = recipe_factors(recipe, model)
    for key, value in deviations.items():
        if key in ARCH_FACTORS and ARCH_FACTORS[key] != model:
            raise KeyError(f"deviation {key!r} applies to the {ARCH_FACTORS[key]} model only, not {model}")
        factors[key] = float(value) if key == "label_smoothing" else value
    return factors


def deviations_of(recipe: dict, factors: dict) -> dict:
    """Where ``factors`` differ from the recipe (architecture factors: from the recipe's arch of that model)."""
    own = recipe_factors(recipe, factors["model"])
    own["model"] = recipe["model"]
    return {k: factors[k] for k in FACTORS if k in factors and factors[k] != own.get(k)}


def _fmt_number(value: float) -> str:
    return f"{value:g}"


def deviation_tags(deviations: dict, factors: dict) -> list[str]:
    """Run-id tags of the deviations, in the fixed order of FACTORS (a changed schedule shows
    both step counts of ``factors``)."""
    dev = deviations
    tags = []
    if "model" in dev:
        tags.append(dev["model"])
    if "prior" in dev:
        tags.append(f"prior-{dev['prior']}")
    if "d_steps" in dev or "g_steps" in dev:
        tags.append(f"d{factors['d_steps']}g{factors['g_steps']}")
    if "g_loss" in dev:
        tags.append(dev["g_loss"])
    if "label_smoothing" in dev:
        tags.append(f"ls{_fmt_number(dev['label_smoothing'])}")
    if "freeze_d" in dev:
        tags.append("frozen" if dev["freeze_d"] else "unfrozen")
    if "fresh_noise" in dev:
        tags.append("freshnoise" if dev["fresh_noise"] else "sharednoise")
    if "optim" in dev:
        tags.append(f"opt-{dev['optim']}")
    if "hidden_activation" in dev:
        tags.append(f"act-{dev['hidden_activation']}")
    if "output" in dev:
        tags.append(f"out-{dev['output']}")
    if "batch_norm" in dev:
        tags.append("bn" if dev["batch_norm"] else "nobn")
    if "z_dim" in dev:
        tags.append(f"z{dev['z_dim']}")
    if "loss_reduction" in dev:
        tags.append(f"{dev['loss_reduction']}loss")
    if "loss_form" in dev:
        tags.append("logform" if dev["loss_form"] == "probability" else "logitform")
    if "g_hidden" in dev:
        tags.append(f"gh{dev['g_hidden']}")
    if "d_hidden" in dev:
        tags.append(f"dh{dev['d_hidden']}")
    return tags


def run_id_for(impl: str, recipe_name: str, factors: dict, deviations: dict, seed: int) -> str:
    return "-".join([impl, recipe_name, *deviation_tags(deviations, factors), f"s{seed}"])


def arch_for(recipe: dict, factors: dict, dataset: str) -> tuple[dict, int]:
    """(arch dict of the spec, image_size) for the arm's model: BasicGAN at the dataset's own
    size (DATASET_GEOMETRY), the DCGAN at its recipe's image_size."""
    model = factors["model"]
    arch = dict(recipe[model])
    for key, owner in ARCH_FACTORS.items():
        if owner == model and factors[key] is not None:  # None: an optional width the arch leaves to hidden
            arch[key] = factors[key]
    if model == "basic":
        return arch, DATASET_GEOMETRY[dataset][0]
    image_size = arch.pop("image_size")
    return arch, image_size


# A run logs at least this many rows, whatever the config's log_every: the late-training
# endpoints (the share of D-loss collapses over the second half, the final means over the last
# 10% of rows) need >= 20 rows in the second half (issue 21: 1500 steps at log_every 200 gave 5).
# Never finer than every MIN_LOG_INTERVAL steps (smoke runs of a few dozen steps keep their cadence).
MIN_LOG_ROWS = 40
MIN_LOG_INTERVAL = 10


def log_every_for(log_every: int, steps: int) -> int:
    """The log cadence of a run of ``steps`` iterations: the config's ``log_every``, made finer
    (down to MIN_LOG_INTERVAL) where it would log fewer than MIN_LOG_ROWS rows."""
    return min(log_every, max(MIN_LOG_INTERVAL, steps // MIN_LOG_ROWS))


def make_spec(config: dict, impl: str, recipe_name: str, factors: dict, seed: int) -> dict:
    recipe = config["recipes"][recipe_name]
    model = factors["model"]
    arch, image_size = arch_for(recipe, factors, config["dataset"])
    preset = config["optimizers"][factors["optim"]]
    adam = {k: preset[k] for k in ("lr", "beta1", "beta2", "eps")}
    deviations = deviations_of(recipe, factors)
    return {
        "run_id": run_id_for(impl, recipe_name, factors, deviations, seed),
        "study": config["name"],
        "impl": impl,
        "recipe": recipe_name,
        "deviations": deviations,
        "model": model,
        "dataset": config["dataset"],
        "seed": seed,
        "prior": factors["prior"],
        "z_dim": factors["z_dim"] or config["z_dim"],
        "d_steps": factors["d_steps"],
        "g_steps": factors["g_steps"],
        "fresh_noise": factors["fresh_noise"],
        "g_loss": factors["g_loss"],
        "label_smoothing": float(factors["label_smoothing"]),
        "freeze_d": factors["freeze_d"],
        "optim": {"d": dict(adam), "g": dict(adam)},
        "optim_preset": factors["optim"],
        "batch_size": recipe["batch_size"],
        "steps": recipe["steps"][model],
        "image_size": image_size,
        "channels": DATASET_GEOMETRY[config["dataset"]][1],
        "arch": arch,
        "eval_samples": config["eval_samples"],
        "log_every": log_every_for(config["log_every"], recipe["steps"][model]),
        "grid_every": config["grid_every"],
        "grid_size": config["grid_size"],
        "probe_size": config["probe_size"],
        "curve_fractions": sorted(config["curve_fractions"]),
        "curve_samples": config["curve_samples"],
        "device": config["device"],
        "compile": config["compile"],
        **({} if config["checkpoint_every"] is None else {"checkpoint_every": config["checkpoint_every"]}),
        **{k: factors[k] for k in ("loss_reduction", "loss_form") if factors[k] != OPTIONAL_FACTORS[k]},
    }


def observation_arms(references: bool = True) -> dict[str, list[tuple[str, dict]]]:
    """Observation id -> its arms as (recipe, deviations), from ganbench.observations."""
    from ganbench.observations import arms_by_observation

    return arms_by_observation(references)


def included_observations(config: dict) -> list[str]:
    known = observation_arms()
    include = config["observations"]["include"]
    if include == "all":
        return list(known)
    for obs_id in include:
        if obs_id not in known:
            raise KeyError(f"config key observations.include names {obs_id!r}, which is not an "
                           f"observation with arms; known: {sorted(known)}")
    return list(include)


def planned_arms(config: dict, impl_names: list[str]) -> list[Arm]:
    """Every condition of the study, in a stable order (observations, frameworks, design sets)."""
    seeds = list(seed_plan(config).seeds)  # every look's seeds: looks.py chooses the runs of each look
    obs_impls = config["observations"]["impls"] or impl_names
    arms: list[Arm] = []
    for obs_id in included_observations(config):
        for recipe_name, deviations in observation_arms(config["observations"]["references"])[obs_id]:
            if recipe_name not in config["recipes"]:
                raise KeyError(f"observation {obs_id!r} needs recipe {recipe_name!r}, which the "
                               f"config does not define; recipes: {sorted(config['recipes'])}")
            recipe = config["recipes"][recipe_name]
            factors = arm_factors(recipe, deviations)
            arms.append(Arm(recipe_name, deviations_of(recipe, factors), factors, list(obs_impls),
                            list(seeds), obs_id, f"observation {obs_id!r}"))
    fw_impls = config["frameworks"]["impls"] or impl_names
    if arms and set(fw_impls) - set(obs_impls):
        chosen = arms if config["frameworks"]["arms"] == "all" else [a for a in arms if not a.deviations]
        only = config["frameworks"]["recipes"]
        if only is not None:
            unknown = sorted(set(only) - {a.recipe for a in arms})
            if unknown:
                raise KeyError(f"config key frameworks.recipes names {unknown}, which no included "
                               f"observation uses; used: {sorted({a.recipe for a in arms})}")
            chosen = [a for a in chosen if a.recipe in only]
        seen = set()
        for arm in chosen:
            key = (arm.recipe, json.dumps(arm.deviations, sort_keys=True))
            if key not in seen:
                seen.add(key)
                arms.append(Arm(arm.recipe, arm.deviations, arm.factors, list(fw_impls), list(seeds),
                                "frameworks", "the frameworks comparison"))
    for set_name, design in config["design"].items():
        recipe_name = design["recipe"]
        recipe = config["recipes"][recipe_name]
        overrides = design.get("set", {})
        models = design.get("models", [overrides.get("model", recipe["model"])])
        priors = design.get("priors", [recipe["prior"]])
        schedules = design.get("schedules", [recipe["schedule"]])
        for model, prior, schedule in itertools.product(models, priors, schedules):
            d_steps, g_steps = parse_schedule(schedule)
            factors = arm_factors(recipe, {**overrides, "model": model})
            factors.update(prior=prior, d_steps=d_steps, g_steps=g_steps)
            arms.append(Arm(recipe_name, deviations_of(recipe, factors), factors,
                            list(design.get("impls", impl_names)), list(design.get("seeds", seeds)),
                            set_name, f"design set {set_name!r}"))
    return arms


def expand_runs(config: dict, impl_names: list[str]) -> dict[str, Run]:
    """All runs of the study by id, in a stable order; ``impl_names`` = the study's impls."""
    runs: dict[str, Run] = {}
    for arm in planned_arms(config, impl_names):
        for impl, seed in itertools.product(arm.impls, arm.seeds):
            spec = make_spec(config, impl, arm.recipe, arm.factors, seed)
            run = runs.get(spec["run_id"])
            if run is None:
                runs[spec["run_id"]] = run = Run(spec["run_id"], spec)
            if arm.set_name not in run.sets:
                run.sets.append(arm.set_name)
    return runs
