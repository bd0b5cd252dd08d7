"""Which runs the pipeline trains together, several seeds of one arm in one process (issue 24).

On a GPU one run of the study's small networks leaves the device mostly idle; an impl with a
seed-group engine (its manifest's ``seed_group: module:Class``, runkit.seed_group) trains K seeds
of one arm as one batched computation, so the train jobs become arms x ceil(seeds / K). On the
CPU nothing is gained, and every run stays its own job.

* **When** (:func:`grouping_active`): config ``seed_groups``: ``auto`` (the default) groups when
  the study trains on CUDA (``device: cuda``, or ``auto`` with a GPU counted), ``on`` always (the
  tests use it on the CPU), ``off`` never. ``seed_group_size`` is K.
* **What** (:func:`plan_groups`): runs whose specs are equal but for ``seed`` and ``run_id`` form
  an arm. Within an arm, the runs that the sequential seed design adds at the same look *and*
  that serve the same claims (so a later look always chooses all of a group's runs or none of
  them, ganbench.looks.look_runs) are chunked in seed order into groups of at most K. Only the
  impls with a seed-group engine are grouped; the others keep one run per job.
* **Ids**: ``<first run id>+<n>``, e.g. ``pytorch-dcgan_blog-s0+8`` = the 8 runs from seed 0 on.
  A look's groups depend on that look's seeds only, so adding looks (or seeds beyond the current
  ones) never renames a group; changing K, or the impls that have an engine, does.
* **Runs keep how they were trained** (:func:`study_groups`): a run whose ``runs/<run_id>/status.json``
  exists with no group folder of its own was trained by the per-run rule (a study begun without
  grouping): it stays with that rule (:func:`trained_alone`). A group already trained
  (``groups/<group id>/done``) stays as it is, whatever ``seed_groups`` and ``seed_group_size``
  say now (:func:`finished_groups`). So switching grouping on or off, or changing K, retrains no
  finished run; only the runs not trained yet are planned anew. (Snakemake still reruns a job
  whose spec or GPU count changed, as always.)

The Snakemake side (workflow/rules/train.smk): rule ``train_group`` trains a group into
``results/<study>/groups/<group id>/<run_id>/`` and rule ``seed_group_run`` hard-links each run's
files into ``runs/<run_id>/``, the single-seed layout evaluation and reports read
(:func:`link_run_outputs`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ganbench.looks import SeedPlan, claims_served
from ganbench.runkit.seed_group import arm_key as arm_spec

MODES = ("auto", "on", "off")
SEED_GROUP_KEYS = ("seed_groups", "seed_group_size")  # the config keys (left out of config.json)
DEFAULT_SIZE = 8
DONE = "done"  # groups/<group id>/done: the marker rule train_group writes when the group is trained
# A group member's files that are not the run's outputs: hidden ones (the launcher's .trainer.lock,
# half-written temporaries) and spec.json (runs/<run_id>/spec.json is rule spec's own output).
NOT_LINKED = ("spec.json",)


@dataclass(frozen=True)
class SeedGroup:
    group_id: str
    impl: str
    run_ids: tuple[str, ...]  # in seed order


def grouping_mode(value: str | bool) -> str:
    """Config ``seed_groups`` as one of :data:`MODES` (YAML reads a bare on/off as true/false)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


def grouping_active(mode: str | bool, device: str, n_gpus: int) -> bool:
    """Whether the study groups seeds: ``mode`` = config ``seed_groups``, ``device`` = config
    ``device``, ``n_gpus`` = the study's GPU count (common.smk's study_gpus())."""
    mode = grouping_mode(mode)
    if mode not in MODES:
        raise ValueError(f"seed_groups = {mode!r}: must be one of {list(MODES)}")
    if mode != "auto":
        return mode == "on"
    return device == "cuda" or (device == "auto" and n_gpus > 0)


def arm_key(spec: Mapping) -> str:
    """The spec without the keys a group's runs differ in (runkit.seed_group.arm_key), as canonical JSON."""
    return json.dumps(arm_spec(spec), sort_keys=True)


def first_look(spec: Mapping, plan: SeedPlan) -> int:
    """The look that first trains the run (as ganbench.looks.look_runs decides it)."""
    seed = spec["seed"]
    return plan.look_of_seed(seed) if seed in plan.seeds else 1  # a design set's own seeds: look 1


def plan_groups(runs: Mapping, plan: SeedPlan, size: int, grouped_impls: Iterable[str],
                exclude: Iterable[str] = ()) -> dict[str, SeedGroup]:
    """The study's seed groups by id, in the order of their first run in ``runs``
    (``grid.expand_runs``). ``grouped_impls``: the impls with a seed-group engine; ``exclude``:
    run ids that stay single (:func:`trained_alone`)."""
    if size < 1:
        raise ValueError(f"seed_group_size = {size}: must be at least 1")
    grouped_impls, exclude = set(grouped_impls), set(exclude)
    served = claims_served(runs)
    members: dict[tuple, list] = {}
    for run_id, run in runs.items():
        spec = run.spec
        if spec["impl"] not in grouped_impls or run_id in exclude:
            continue
        key = (arm_key(spec), first_look(spec, plan), tuple(sorted(served[run_id])))
        members.setdefault(key, []).append((spec["seed"], run_id))
    groups: dict[str, SeedGroup] = {}
    for key, seeds in members.items():
        ordered = [run_id for _, run_id in sorted(seeds)]
        impl = runs[ordered[0]].spec["impl"]
        for i in range(0, len(ordered), size):
            chunk = tuple(ordered[i:i + size])
            group_id = f"{chunk[0]}+{len(chunk)}"
            groups[group_id] = SeedGroup(group_id, impl, chunk)
    return groups


def group_of(groups: Mapping[str, SeedGroup]) -> dict[str, str]:
    """run id -> the id of its group, for every grouped run."""
    return {run_id: gid for gid, group in groups.items() for run_id in group.run_ids}


def id_pattern(ids: Iterable[str]) -> str:
    """A wildcard constraint matching exactly ``ids`` (none: a pattern that matches nothing)."""
    ids = list(ids)
    return "|".join(re.escape(i) for i in ids) if ids else "(?!)"


def trained_alone(results: str | Path, run_ids: Iterable[str]) -> set[str]:
    """The runs of ``results`` (results/<study>) trained by the per-run rule: a status.json in
    runs/<run_id>/ and no folder of the run under groups/."""
    results = Path(results)
    in_groups = set()
    if (results / "groups").is_dir():
        in_groups = {member.name for group in (results / "groups").iterdir() if group.is_dir()
                     for member in group.iterdir() if member.is_dir()}
    return {run_id for run_id in run_ids
            if run_id not in in_groups and (results / "runs" / run_id / "status.json").is_file()}


def finished_groups(results: str | Path, runs: Mapping, grouped_impls: Iterable[str]) -> dict[str, SeedGroup]:
    """The groups of ``results`` (results/<study>) trained before: a ``groups/<group id>/done``
    marker, every member folder a planned run of one arm of an impl in ``grouped_impls``, and the
    id its members give (anything else is left to be planned anew)."""
    grouped_impls = set(grouped_impls)
    found: dict[str, SeedGroup] = {}
    folder = Path(results) / "groups"
    for group in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not (group / DONE).is_file():
            continue
        names = [member.name for member in group.iterdir() if member.is_dir()]
        if not names or any(name not in runs for name in names):
            continue
        members = sorted(names, key=lambda name: runs[name].spec["seed"])
        specs = [runs[name].spec for name in members]
        if (specs[0]["impl"] not in grouped_impls or len({arm_key(spec) for spec in specs}) != 1
                or group.name != f"{members[0]}+{len(members)}"):
            continue
        found[group.name] = SeedGroup(group.name, specs[0]["impl"], tuple(members))
    return found


def study_groups(results: str | Path, runs: Mapping, plan: SeedPlan, size: int, grouped_impls: Iterable[str],
                 active: bool) -> dict[str, SeedGroup]:
    """The Snakefile's seed groups: the groups trained before (:func:`finished_groups`) and, where
    the study groups seeds (``active``, :func:`grouping_active`), :func:`plan_groups` of the runs
    neither in one of them nor trained alone (:func:`trained_alone`)."""
    grouped_impls = list(grouped_impls)
    kept = finished_groups(results, runs, grouped_impls)
    if not active:
        return kept
    exclude = trained_alone(results, runs) | {run_id for group in kept.values() for run_id in group.run_ids}
    return {**kept, **plan_groups(runs, plan, size, grouped_impls, exclude)}


def group_args(groups: Mapping[str, SeedGroup], group_id: str, results: str) -> list[str]:
    """The launcher's per-run arguments of a group: --spec, --out and --checkpoint-dir of each run
    (the checkpoints where a single run keeps them, so a killed group resumes every seed)."""
    args: list[str] = []
    for run_id in groups[group_id].run_ids:
        args += ["--spec", f"{results}/runs/{run_id}/spec.json", "--out", f"{results}/groups/{group_id}/{run_id}",
                 "--checkpoint-dir", f"{results}/checkpoints/{run_id}"]
    return args


def _place(src: Path, dst: Path) -> str:
    """Hard-link ``src`` at ``dst`` (replacing it); a copy where a link cannot be made."""
    tmp = dst.with_name(f".{dst.name}.linking")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
        how = "linked"
    except OSError:  # another file system, or links not allowed here
        shutil.copy2(src, tmp)
        how = "copied"
    os.replace(tmp, dst)
    return how


def link_run_outputs(src: str | Path, dst: str | Path, log: str | Path | None = None) -> list[str]:
    """Every file of a group member's folder ``src`` (groups/<group id>/<run_id>/: samples.npz,
    log.csv, timing.json, status.json, grid.png, curve/, grid_<step>.png, ...) hard-linked (copied
    as a fallback) at the same place under ``dst`` (runs/<run_id>/), with the time of linking as
    its modification time (Snakemake compares it with the group's marker). Returns the paths
    placed, relative to ``dst``; ``log`` gets one line per file."""
    src, dst = Path(src), Path(dst)
    if not (src / "status.json").is_file():
        raise FileNotFoundError(f"{src} holds no status.json: the seed group did not write this run's outputs")
    now = time.time()
    lines, placed = [], []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src)
        if str(rel) in NOT_LINKED or any(part.startswith(".") for part in rel.parts):
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        how = _place(path, target)
        os.utime(target, (now, now))
        placed.append(str(rel))
        lines.append(f"{how} {path} -> {target}")
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text("\n".join(lines) + "\n")
    return placed
