"""The engine contract in code: what runkit's driver (runkit.loop) calls on an impl's engine.

An impl supplies a class built as ``Engine(spec, framework_seed)`` with the members of
:class:`Engine` below; everything else (streams, data, chunking, timing, logging,
divergence, checkpoints, outputs) is the shared driver's. :class:`TwinEngine` adds the members
only the twin tests call.

Two checks hold an impl to it:

* at discovery (ganbench.impls, before any job runs), :func:`static_missing` reads the engine
  module named in the manifest (``engine: engine:Engine``) *without importing it* (importing a
  framework in the Snakemake process could clash with another: one framework per process) and
  names every member its class and its in-module base classes do not define;
* at run time, :func:`check_engine_class` does the same on the imported class.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Engine(Protocol):
    """One run's model, optimisers and data on one device (canonical layouts: runkit.params)."""

    framework: str  # e.g. "pytorch": timing.json
    framework_version: str
    device: str  # where it runs, in words ("cpu", "cuda (NVIDIA H100 ...)")

    def load_state(self, state: dict) -> None:
        """Canonical state dict (runkit.params) -> the model (weights and BN running statistics)."""

    def export_state(self) -> dict:
        """The model -> canonical state dict (numpy float32)."""

    def set_data(self, images: np.ndarray) -> None:
        """The prepared uint8 training set (runkit.data), kept on the device."""

    def train_chunk(self, idx: np.ndarray, noise: np.ndarray) -> Any:
        """Run ``len(idx)`` iterations: ``idx`` int64 ``[K, d_steps, B]``, ``noise`` float32
        ``[K, n_noise, B, z]``; returns an opaque device handle of the per-iteration metrics."""

    def fetch(self, handle: Any) -> np.ndarray:
        """Host copy ``[K, 4]`` = d_loss, g_loss, mean D(x), mean D(G(z)) (a chunk's only host sync)."""

    def generate(self, z: np.ndarray) -> np.ndarray:
        """G in inference mode (BN: running statistics, or the batch's own with ``arch.bn_inference:
        batch``, running ones untouched), float32, canonical layout."""

    def forward_d(self, x: np.ndarray, training: bool) -> np.ndarray:
        """D's logits for model-range float32 inputs; ``training=False`` = inference mode (the probes)."""

    def optimizer_state(self, native: bool = False) -> dict:
        """Both Adam optimisers' moments and step counts (checkpoints; ``native``: the framework's own)."""

    def load_optimizer_state(self, state: dict) -> None:
        """The inverse of :meth:`optimizer_state` (resume)."""

    def synchronize(self) -> None:
        """Wait for queued device work (timing)."""

    def peak_device_mb(self) -> float | None:
        """Peak device memory in MiB, or None on CPU."""


@runtime_checkable
class TwinEngine(Engine, Protocol):
    """The members the twin tests (tests/test_twins.py) call beside the driver's."""

    def forward_g(self, z: np.ndarray, training: bool) -> np.ndarray:
        """G's output in train (BN statistics advance) or inference mode."""

    def optimizer_steps(self) -> tuple[int, int]:
        """Adam steps taken by D's and by G's optimiser."""

    def param_count(self) -> int:
        """Trainable scalars as the framework counts them."""


@runtime_checkable
class SeedGroupEngine(Protocol):
    """K seeds of one arm trained as one batched computation (a manifest's ``seed_group: module:Class``,
    built as ``Cls(spec, framework_seeds)`` with one framework seed per member). Every seed keeps its
    own weights, BN statistics and Adam moments on a leading seed axis; the driver
    (runkit.seed_group) feeds each seed's own indices and noise, drawn exactly as in a single-seed run.
    ``k`` is a seed's place in the group (0 .. seeds - 1). The Adam step counts are the group's: all
    its seeds are at the same step (the driver resumes seeds at different steps as separate groups)."""

    framework: str
    framework_version: str
    device: str
    seeds: int  # K, the group's size

    def load_state(self, k: int, state: dict) -> None:
        """Canonical state dict (runkit.params) -> seed ``k``'s model."""

    def export_state(self, k: int) -> dict:
        """Seed ``k``'s model -> canonical state dict (numpy float32)."""

    def set_data(self, images: np.ndarray) -> None:
        """The prepared uint8 training set, once for every seed."""

    def train_chunk(self, idx: np.ndarray, noise: np.ndarray) -> Any:
        """``n`` iterations of every seed: ``idx`` int64 ``[seeds, n, d_steps, B]``, ``noise`` float32
        ``[seeds, n, n_noise, B, z]``; an opaque device handle of the metrics."""

    def fetch(self, handle: Any) -> np.ndarray:
        """Host copy ``[seeds, n, 4]`` (d_loss, g_loss, mean D(x), mean D(G(z)) per seed and iteration)."""

    def generate(self, k: int, z: np.ndarray) -> np.ndarray:
        """Seed ``k``'s G in inference mode (as :meth:`Engine.generate`)."""

    def forward_g(self, k: int, z: np.ndarray, training: bool) -> np.ndarray:
        """Seed ``k``'s G in train (its BN statistics advance) or inference mode."""

    def forward_d(self, k: int, x: np.ndarray, training: bool) -> np.ndarray:
        """Seed ``k``'s D logits (as :meth:`Engine.forward_d`)."""

    def optimizer_state(self, k: int, native: bool = False) -> dict:
        """Seed ``k``'s Adam state, in :meth:`Engine.optimizer_state`'s names."""

    def load_optimizer_state(self, k: int, state: dict) -> None:
        """The inverse of :meth:`optimizer_state` for seed ``k`` (its step counts become the group's)."""

    def optimizer_steps(self) -> tuple[int, int]:
        """Adam steps taken by D's and by G's optimiser (every seed's)."""

    def synchronize(self) -> None:
        """Wait for queued device work (timing)."""

    def peak_device_mb(self) -> float | None:
        """Peak device memory in MiB, or None on CPU."""


def members(protocol: type = Engine) -> tuple[str, ...]:
    """The member names of ``protocol`` (its own and its protocol bases'), attributes then methods."""
    names: list[str] = []
    for cls in reversed(protocol.__mro__):
        if cls in (object, Protocol) or not getattr(cls, "_is_protocol", False):
            continue
        names += [n for n in getattr(cls, "__annotations__", {}) if n not in names]
        names += [n for n, v in vars(cls).items() if callable(v) and not n.startswith("_") and n not in names]
    return tuple(names)


GROUP_REQUIRED = members(SeedGroupEngine)
REQUIRED = members(Engine)  # (optional beyond these: rng_state / load_rng_state, runkit.checkpoint)


def parse_ref(ref: str) -> tuple[str, str]:
    """``"engine:Engine"`` -> (module file name ``engine.py``, class name ``Engine``)."""
    module, sep, cls = str(ref).partition(":")
    if not sep or not module or not cls.isidentifier() or not all(p.isidentifier() for p in module.split(".")):
        raise ValueError(f"engine reference {ref!r} is not 'module:Class' (e.g. 'engine:Engine')")
    return module.replace(".", "/") + ".py", cls


def _defined_names(cls: ast.ClassDef) -> set[str]:
    """Names a class body defines: methods, class attributes, and ``self.<name> = ...`` in its methods."""
    names = set()
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    for node in ast.walk(cls):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        for t in targets:
            for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                if isinstance(el, ast.Attribute) and isinstance(el.value, ast.Name) and el.value.id == "self":
                    names.add(el.attr)
    return names


def _parse_classes(module_file: Path) -> tuple[dict, dict]:
    """(top-level classes by name, names imported ``from <sibling module> import name`` -> that module's
    file) of ``module_file``; the sibling is a module file in the same folder (an impl folder's modules
    import one another by bare name)."""
    try:
        tree = ast.parse(Path(module_file).read_text(), filename=str(module_file))
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"cannot read {module_file}: {exc}") from exc
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    imported = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            sibling = Path(module_file).parent / (node.module.replace(".", "/") + ".py")
            if sibling.is_file():
                imported.update({a.asname or a.name: sibling for a in node.names})
    return classes, imported


def static_missing(module_file: Path, class_name: str, required: tuple[str, ...] = REQUIRED) -> list[str]:
    """Members of ``required`` that class ``class_name`` of ``module_file`` does not define, read from
    the source (no import). Base classes count when defined in the same module or imported from a
    module file beside it (``from losses import GanLosses``); a base from elsewhere (a package) could
    define anything, so its class is given the benefit of the doubt there.
    Raises ValueError when the file cannot be parsed or has no such class."""
    classes, imported = _parse_classes(Path(module_file))
    if class_name not in classes:
        raise ValueError(f"{module_file} defines no class {class_name!r} at its top level")
    found: set[str] = set()
    todo, seen = [(Path(module_file), class_name)], set()
    while todo:
        where, name = todo.pop()
        if (where, name) in seen:
            continue
        seen.add((where, name))
        classes, imported = _parse_classes(where)
        if name not in classes:
            return []  # re-exported from further away: judged at run time (check_engine_class)
        found |= _defined_names(classes[name])
        for base in classes[name].bases:
            if isinstance(base, ast.Name) and base.id in classes:
                todo.append((where, base.id))
            elif isinstance(base, ast.Name) and base.id in imported:
                todo.append((imported[base.id], base.id))
            elif not (isinstance(base, ast.Name) and base.id == "object"):
                return []  # a base from another package: judged at run time (check_engine_class)
    return [m for m in required if m not in found]


def check_engine_class(engine_cls: type, where: str = "") -> None:
    """Raise TypeError naming the members of :class:`Engine` that ``engine_cls`` lacks. Instance
    attributes set in ``__init__`` (``device``) cannot be seen on the class and are left to
    :func:`check_engine`."""
    lacking = [m for m in REQUIRED if m not in Engine.__annotations__ and not callable(getattr(engine_cls, m, None))]
    if lacking:
        raise TypeError(contract_message(where or engine_cls.__qualname__, lacking))


def check_engine(engine: object, where: str = "") -> None:
    """Raise TypeError naming every member of :class:`Engine` that the built ``engine`` lacks."""
    lacking = [m for m in REQUIRED if not hasattr(engine, m)]
    if lacking:
        raise TypeError(contract_message(where or type(engine).__qualname__, lacking))


def contract_message(where: str, lacking: list[str]) -> str:
    return (f"{where}: the engine lacks {', '.join(lacking)} of the engine contract "
            f"(ganbench.runkit.engine_contract.Engine, impls/README.md). Add {'them' if len(lacking) > 1 else 'it'} "
            f"to the engine class.")
