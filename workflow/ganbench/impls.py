"""Discover implementation folders under ``impls/`` and check their manifests.

A folder is an implementation when it holds ``manifest.yaml``; a folder without
one (notes, shared helpers, a half-done impl) is skipped with a note. A folder
whose manifest breaks the contract is an error naming the folder and what is
wrong; so is an engine (the manifest's ``engine: module:Class``) that lacks a member
of the engine contract (ganbench.runkit.engine_contract, read from its source: no
framework is imported here). See ``impls/README.md``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ganbench.runkit import engine_contract

MANIFEST = "manifest.yaml"
KNOWN_MODELS = ("basic", "dcgan")
REQUIRED_KEYS = ("name", "framework", "models")  # and `engine:`, or `entry:` (a script of its own)


class ContractError(ValueError):
    """An impl folder breaks the contract; the message names folder and problem."""


@dataclass(frozen=True)
class Impl:
    name: str
    framework: str
    entry: Path  # the impl's own script (manifest `entry:`), or its folder: run by ganbench.impl_entry
    models: tuple[str, ...]
    dir: Path
    engine: str | None = None  # "module:Class" of the engine runkit's driver runs, when the manifest names it
    seed_group: str | None = None  # "module:Class" of its seed-vectorised engine (K seeds in one step), if any


def _fail(folder: Path, problem: str) -> ContractError:
    return ContractError(
        f"impls/{folder.name}: {problem}. Every folder under impls/ must follow the "
        f"contract in impls/README.md (manifest.yaml with {', '.join(REQUIRED_KEYS)} and engine or entry)."
    )


def load_manifest(folder: Path) -> Impl:
    folder = Path(folder).resolve()
    path = folder / MANIFEST
    if not path.is_file():
        raise _fail(folder, f"missing {MANIFEST}")
    try:
        manifest = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise _fail(folder, f"{MANIFEST} is not valid YAML ({exc})") from exc
    if not isinstance(manifest, dict):
        raise _fail(folder, f"{MANIFEST} must be a mapping of keys to values")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise _fail(folder, f"{MANIFEST} lacks key(s) {', '.join(missing)}")
    if manifest["name"] != folder.name:
        raise _fail(folder, f"manifest name {manifest['name']!r} differs from the folder name {folder.name!r}")
    if "engine" not in manifest and "entry" not in manifest:
        raise _fail(folder, f"{MANIFEST} names neither 'engine: module:Class' (the engine runkit's driver runs) "
                            f"nor 'entry:' (a train script of its own)")
    entry = folder / str(manifest["entry"]) if "entry" in manifest else folder
    if not entry.is_file() and "entry" in manifest:
        raise _fail(folder, f"entry point {manifest['entry']!r} named in {MANIFEST} does not exist")
    models = manifest["models"]
    if not isinstance(models, list) or not models:
        raise _fail(folder, f"'models' must be a non-empty list drawn from {list(KNOWN_MODELS)}")
    unknown = [m for m in models if m not in KNOWN_MODELS]
    if unknown:
        raise _fail(folder, f"unknown model(s) {unknown} in 'models'; known: {list(KNOWN_MODELS)}")
    engine = manifest.get("engine")
    if engine is not None:
        check_engine_source(folder, engine)
    seed_group = manifest.get("seed_group")
    if seed_group is not None:
        check_engine_source(folder, seed_group, "seed_group", engine_contract.GROUP_REQUIRED)
    return Impl(
        name=folder.name,
        framework=str(manifest["framework"]),
        entry=entry,
        models=tuple(models),
        dir=folder,
        engine=None if engine is None else str(engine),
        seed_group=None if seed_group is None else str(seed_group),
    )


def check_engine_source(folder: Path, ref: str, key: str = "engine",
                        required: tuple[str, ...] = engine_contract.REQUIRED) -> None:
    """The manifest's ``engine: module:Class`` (or ``seed_group:``, with ``required`` its members)
    exists and its class has every member of its contract (read from the source, not imported); else
    a ContractError naming folder and member."""
    try:
        module_file, cls = engine_contract.parse_ref(ref)
    except ValueError as exc:
        raise _fail(folder, f"{MANIFEST}: {exc}") from None
    path = folder / module_file
    if not path.is_file():
        raise _fail(folder, f"engine module {module_file} named by '{key}: {ref}' in {MANIFEST} does not exist")
    try:
        lacking = engine_contract.static_missing(path, cls, required)
    except ValueError as exc:
        raise _fail(folder, f"'{key}: {ref}': {exc}") from None
    if lacking:
        raise ContractError(engine_contract.contract_message(f"impls/{folder.name}: {module_file} class {cls}", lacking))


def discover_impls(impls_dir: Path, notes: list[str] | None = None) -> dict[str, Impl]:
    """All impl folders by name; raises ContractError for the first folder whose manifest breaks
    the contract. A folder without ``manifest.yaml`` is skipped; ``notes`` (when given) gets one
    line for each."""
    impls_dir = Path(impls_dir)
    if not impls_dir.is_dir():
        problem = "is not a folder" if impls_dir.exists() else "does not exist"
        raise ContractError(
            f"{impls_dir}: the folder of impl folders {problem}. Set config key impls_dir to the folder "
            f"holding the impl folders (relative to the repository root or absolute; default: impls)."
        )
    found = {}
    for folder in sorted(p for p in impls_dir.iterdir() if p.is_dir()):
        if folder.name.startswith((".", "_")):
            continue
        if not (folder / MANIFEST).exists():
            if notes is not None:
                notes.append(f"{folder}: no {MANIFEST}, skipped (not an impl folder; add a {MANIFEST} "
                             f"to make it one, impls/README.md)")
            continue
        impl = load_manifest(folder)
        found[impl.name] = impl
    return found
