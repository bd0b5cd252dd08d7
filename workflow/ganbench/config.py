"""Validate a study config: the JSON schema first, then cross-field checks.

The schema (workflow/schemas/config.schema.yaml) is applied with
``snakemake.utils.validate``, which also fills in its defaults. Errors are
re-worded to name the key, the bad value and what is allowed.
"""
from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Mapping

import yaml

from ganbench.impls import Impl
from ganbench.looks import seed_plan

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
    if error.validator in ("oneOf", "anyOf") and error.context:
        # the branch of the instance's own type (seeds: a list, or {looks: ...}) says what is wrong
        import jsonschema

        depth = len(error.absolute_path)
        fitting = [e for e in error.context if e.validator != "type" or len(e.absolute_path) > depth]
        if fitting:
            return explain(jsonschema.exceptions.best_match(fitting))
        names = {"array": "a list", "object": "a mapping", "string": "a string", "integer": "an integer"}
        kinds = " or ".join(names.get(str(b.get("type")), str(b.get("type"))) for b in error.validator_value)
        return (f"config key {key_path(error.absolute_path)} = {error.instance!r} is invalid: it must be "
                f"{kinds} ({error.schema.get('description', '')})")
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


def check_whole_numbers(config: dict) -> None:
    """JSON Schema counts 40.0 as an integer; spec.json (runkit.validate_spec) does not, so a budget
    written ``steps: 40.0`` would pass here and fail in every train job. Re-check every integer of
    the schema strictly."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    strict = validators.extend(Draft202012Validator, type_checker=checker)(yaml.safe_load(SCHEMA.read_text()))
    errors = sorted(strict.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    def leaves(error):  # a oneOf's (seeds: a list or {looks: ...}) errors sit in its context
        yield error
        for sub in error.context or ():
            yield from leaves(sub)

    for error in (leaf for e in errors for leaf in leaves(e)):
        value = error.instance
        if isinstance(value, float) and value.is_integer():
            raise ConfigError(
                f"config key {key_path(error.absolute_path)} = {value!r} is invalid: it must be a whole number "
                f"written without a decimal point; write {int(value)}"
            )
    if errors:  # not expected: everything else passed the schema already
        raise ConfigError(explain(errors[0]))


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
    from ganbench.grid import planned_arms  # late import: grid imports this module

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


# ------------------------------------------------------------------ checks of the planned runs (DAG time)
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
    for run_id, run in runs.items():
        spec = run.spec
        try:
            validate_spec(spec, source=f"run {run_id}")
        except SpecError as exc:
            key = config_key_of(getattr(exc, "key", None), spec)
            fix = f"fix config key {key}" if key else "fix the config key it comes from"
            raise ConfigError(f"{exc}. Its spec.json is built from the config: {fix}.") from None
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


def in_config_files(message: str, configfiles) -> str:
    """``message`` prefixed with the config file(s) it is about (Snakemake's ``workflow.configfiles``)."""
    files = [str(f) for f in (configfiles or [])]
    return f"{', '.join(files)}: {message}" if files else message
