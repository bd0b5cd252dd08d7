"""How long a study will take, before it runs: its train jobs and an estimated wall time from the
step times measured in docs/speed (ganbench.step_times). ``./ganbench run -n`` prints it.

    python -m ganbench.study_estimate --config config/quick.yaml --cores 2 --gpus 0

Each run costs its iterations x the measured ms per iteration of its network size, impl and mode
on the device it trains on, plus a fixed per-run overhead (process start, framework import, first
step, the 10k-sample evaluation); the runs share the parallel slots (GPUs, or cores / threads per
job). The first look of a sequential design is known in advance; later looks train only the
claims still open, so the cap is an upper bound. A run whose size was never measured on that
device is left out and named. Where the study groups seeds (config ``seed_groups``,
ganbench/seed_groups.py: on a GPU by default) the train jobs are counted as the pipeline plans
them, one per seed group; the time is still summed per seed (an upper bound: a group's seeds
share their steps).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ganbench.config import load_config
from ganbench.grid import expand_runs
from ganbench.impls import discover_impls
from ganbench.looks import look_runs, seed_plan
from ganbench.provenance import cpu_model
from ganbench.seed_groups import DEFAULT_SIZE, grouping_active, plan_groups
from ganbench.step_times import Measured, read_logs, size_label

REPO = Path(__file__).resolve().parents[2]
SPEED_DIR = REPO / "docs" / "speed"
# Per run: process start and framework import (~3-5 s), the first (compiling) step, and the
# MNIST evaluator on 10k samples (~10 s on the docs/speed CPU, workflow/ganbench/metrics/README.md).
OVERHEAD_S = {"cpu": 20.0, "cuda": 30.0}  # on a GPU, a first-step compile of 15-20 s dominates


@dataclass
class Estimate:
    device: str
    slots: int
    jobs_first: int = 0
    jobs_cap: int = 0
    seconds_first: float = 0.0  # summed over runs, before dividing by the slots
    seconds_cap: float = 0.0
    sources: set[tuple[str, str]] = field(default_factory=set)  # (machine, log file)
    unmeasured: dict[str, int] = field(default_factory=dict)  # "impl shape (size)" -> runs left out
    timed_cap: int = 0  # runs with a measured step time
    group_size: int = 0  # K when the study groups seeds (0: one run per job)

    def wall(self, seconds: float) -> float:
        return seconds / max(1, self.slots)


def run_seconds(spec: dict, device: str, measured: dict, overhead_s: float) -> tuple[float, Measured] | None:
    """One run's estimated seconds, or None when its size was never timed on ``device``."""
    m = measured.get((device, size_label(spec), spec["impl"], bool(spec.get("compile", False))))
    if m is None:
        return None
    return spec["steps"] * m.ms_per_step / 1000.0 + overhead_s, m


def estimate(config: dict, impl_names: list[str], measured: dict, device: str, slots: int,
             grouped_impls=()) -> Estimate:
    """``grouped_impls``: the impls with a seed-group engine, when the study groups seeds
    (:func:`grouped_impls`); their runs count one train job per seed group."""
    runs = expand_runs(config, impl_names)
    plan = seed_plan(config)
    first = set(look_runs(runs, plan, 1, {}))
    est = Estimate(device=device, slots=slots, jobs_first=len(first), jobs_cap=len(runs))
    if grouped_impls:
        est.group_size = int(config.get("seed_group_size", DEFAULT_SIZE))
        groups = plan_groups(runs, plan, est.group_size, grouped_impls)
        for group in groups.values():  # a group's runs are all in a look, or none of them
            est.jobs_cap -= len(group.run_ids) - 1
            if group.run_ids[0] in first:
                est.jobs_first -= len(group.run_ids) - 1
    for run_id, run in runs.items():
        timed = run_seconds(run.spec, device, measured, OVERHEAD_S[device])
        if timed is None:
            key = f"{run.spec['impl']} {run.spec['recipe']}-{run.spec['model']} ({size_label(run.spec)})"
            est.unmeasured[key] = est.unmeasured.get(key, 0) + 1
            continue
        seconds, m = timed
        est.timed_cap += 1
        est.sources.add((m.machine, m.source))
        est.seconds_cap += seconds
        if run_id in first:
            est.seconds_first += seconds
    return est


def clock(seconds: float) -> str:
    minutes = int(round(seconds / 60.0))
    return f"{minutes // 60}:{minutes % 60:02d}"


SHOWN_UNMEASURED = 6  # sizes named before "and N more"


def report(est: Estimate) -> list[str]:
    where = f"{est.slots} GPU slot(s)" if est.device == "cuda" else f"{est.slots} CPU slot(s)"
    jobs = f"{est.jobs_first} train jobs at the first look ({est.jobs_cap} up to the seed cap), on {where}"
    if est.group_size:
        jobs += f" (seeds grouped, up to {est.group_size} of an arm per job: config seed_groups)"
    if not est.timed_cap:
        return [f"estimate: {jobs}; no wall time: none of these runs' sizes was ever timed on {est.device} "
                f"(impls/benchmark_step_time.py{' --device cuda' if est.device == 'cuda' else ''} "
                f"writes the log to keep in docs/speed)"]
    partial = f" for the {est.timed_cap} timed runs" if est.unmeasured else ""
    lines = [f"estimate: {jobs}: ~{clock(est.wall(est.seconds_first))} to the first look, at most "
             f"~{clock(est.wall(est.seconds_cap))} up to the cap (h:mm){partial}"]
    machines: dict[str, list[str]] = {}
    for machine, source in sorted(est.sources):
        machines.setdefault(machine, []).append(source)
    measured_on = "; ".join(f"{machine} ({', '.join(files)})" for machine, files in machines.items())
    lines.append(f"  step times measured on {measured_on} in docs/speed, plus {OVERHEAD_S[est.device]:.0f} s "
                 f"per run for start-up and scoring; this machine: {cpu_model()}")
    if est.group_size:
        lines.append("  the time is summed per seed, as if each ran alone: an upper bound where seeds train in groups")
    if est.unmeasured:
        names = sorted(est.unmeasured)
        more = f"; and {len(names) - SHOWN_UNMEASURED} more" if len(names) > SHOWN_UNMEASURED else ""
        lines.append(f"  left out, never timed on {est.device} ({sum(est.unmeasured.values())} runs): "
                     + "; ".join(names[:SHOWN_UNMEASURED]) + more
                     + " (impls/benchmark_step_time.py times them; keep its log in docs/speed)")
    return lines


def grouped_impls(config: dict, impls: dict, names: list[str], gpus: int) -> list[str]:
    """The study's impls whose runs train in seed groups (none where the study does not group seeds:
    the Snakefile's decision, with ``gpus`` its GPU count)."""
    if not grouping_active(config.get("seed_groups", "auto"), config.get("device", "auto"), gpus):
        return []
    return [name for name in names if name in impls and impls[name].seed_group]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, type=Path, help="the study's config file")
    p.add_argument("--cores", type=int, default=1, help="cores Snakemake may use")
    p.add_argument("--gpus", type=int, default=0, help="GPUs the study may claim")
    p.add_argument("--speed-dir", type=Path, default=SPEED_DIR, help="folder of benchmark logs")
    args = p.parse_args(argv)
    config = load_config(args.config)
    impls = discover_impls(REPO / (config.get("impls_dir") or "impls"))
    names = config.get("impls") or sorted(impls)
    device = "cuda" if args.gpus > 0 and config.get("device", "auto") != "cpu" else "cpu"
    threads = config.get("threads") or (2 if device == "cuda" else 1)  # as the train rule's threads
    slots = args.gpus if device == "cuda" else max(1, args.cores // threads)
    grouped = grouped_impls(config, impls, names, args.gpus)
    for line in report(estimate(config, names, read_logs(args.speed_dir), device, slots, grouped)):
        print(f"[ganbench] {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
