"""The config's JSON schema (workflow/schemas/config.schema.yaml) and how its errors read.

Its one job: :class:`ConfigError`, and turning jsonschema's errors into one line that names
the key, the bad value and what is allowed (:func:`explain`), plus the strict re-check that
an integer of the schema is not written as a float (:func:`check_whole_numbers`). Applying the
schema (with ``snakemake.utils.validate``, which fills in its defaults) is
:func:`ganbench.config.validate_config`.
"""
from __future__ import annotations

from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


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

