"""One line of a study's progress while Snakemake runs: the look of the sequential design, runs
trained / planned, runs scored, runs training now, elapsed time and an ETA from the step times
measured so far (planned = the runs of the looks so far: a later look adds the open claims' runs).

``./ganbench run`` sends Snakemake's job log to a file and runs this beside it:

    python -m ganbench.study_progress --results results/quick --pid <snakemake pid> --log <file>

It reads only the run folders (``spec.json`` = planned, ``status.json`` = trained,
``metrics.json`` = scored, ``log.csv`` = the step a running job has reached; a run training in a
seed group: its ``groups/<group>/<run_id>/log.csv``) and prints a line
whenever a count changes, and at least every ``--every`` seconds. The ETA is the remaining
training steps of every unfinished run times the median milliseconds per step measured on its
own shape (model, recipe, impl; any finished or running run of that shape, else all), divided by
the jobs that run at once (``--slots``), plus the measured scoring time per run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ganbench.trainer_guard import pid_exists


@dataclass
class Snapshot:
    planned: int = 0
    trained: int = 0
    failed: int = 0
    scored: int = 0
    running: list[str] = field(default_factory=list)
    eta_s: float | None = None
    look: int | None = None  # the sequential design's current look (1-based) ...
    looks: int = 1  # ... of this many
    unmeasured: list[str] = field(default_factory=list)  # models with no step time yet (no ETA)

    def counts(self) -> tuple:
        return (self.planned, self.trained, self.failed, self.scored, len(self.running), self.look)


def _json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _last_step(log_csv: Path) -> tuple[int, float] | None:
    """(step, elapsed seconds) of the last complete row of a run's log.csv."""
    try:
        with open(log_csv, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines[1:] if len(lines) > 1 else []):
        parts = line.split(",")
        try:
            return int(parts[0]), float(parts[-1])
        except (ValueError, IndexError):
            continue
    return None


def current_look(results: Path) -> tuple[int | None, int]:
    """(the look being trained, the looks of the design) from results/<study>/config.json and the
    interim analyses written so far (looks/<k>/interim.json); (None, 1) for a one-look study."""
    from ganbench.looks import seed_plan

    config = _json(results / "config.json")
    try:
        n_looks = len(seed_plan(config).looks) if config else 1
    except (KeyError, TypeError, ValueError):
        n_looks = 1
    if n_looks == 1:
        return None, 1
    done = [_json(p) or {} for p in sorted(results.glob("looks/*/interim.json"), key=lambda p: p.parent.name)]
    done = [d for d in done if isinstance(d.get("look"), int)]
    if not done:
        return 1, n_looks
    last = max(done, key=lambda d: d["look"])
    return (last["look"] if last.get("final") else min(last["look"] + 1, n_looks)), n_looks


def _shape(spec: dict) -> tuple:
    return (spec.get("model"), spec.get("recipe"), spec.get("impl"))


def snapshot(results: Path, slots: int = 1) -> Snapshot:
    """The study's progress from its run folders (``results/<study>/runs/*``)."""
    snap = Snapshot()
    snap.look, snap.looks = current_look(results)
    ms_per_step: dict[tuple, list[float]] = {}
    score_s: list[float] = []
    remaining: list[tuple[tuple, int]] = []
    # a run training in a seed group writes into groups/<group>/<run_id>/ until its files are linked
    in_groups = {member.name: member for member in results.glob("groups/*/*") if member.is_dir()}
    for run in sorted((results / "runs").glob("*")) if (results / "runs").is_dir() else []:
        spec = _json(run / "spec.json")
        if spec is None:
            continue
        snap.planned += 1
        steps = int(spec.get("steps") or 0)
        status = _json(run / "status.json")
        progress = _last_step(run / "log.csv")
        if progress is None and status is None and run.name in in_groups:
            progress = _last_step(in_groups[run.name] / "log.csv")
        if progress and progress[0] > 0:
            ms_per_step.setdefault(_shape(spec), []).append(1000.0 * progress[1] / progress[0])
        if status is not None:
            snap.trained += 1
            snap.failed += status.get("status") not in ("ok", "diverged")
            metrics = run / "metrics.json"
            if metrics.is_file():
                snap.scored += 1
                seconds = (_json(metrics) or {}).get("seconds")
                if isinstance(seconds, (int, float)):
                    score_s.append(float(seconds))
            continue
        done = progress[0] if progress else 0
        if progress is not None:
            snap.running.append(run.name)
        remaining.append((_shape(spec), max(0, steps - done)))
    # A shape not measured yet takes the median of its model's measured shapes (a DCGAN step costs
    # ~100x a BasicGAN's: never one for the other); a model not measured at all: no ETA yet.
    by_model: dict[str, list[float]] = {}
    for shape, vs in ms_per_step.items():
        by_model.setdefault(shape[0], []).extend(vs)
    unmeasured = sorted({str(shape[0]) for shape, n in remaining if n and shape[0] not in by_model})
    if by_model and not unmeasured:
        train_ms = sum(n * statistics.median(ms_per_step.get(shape) or by_model[shape[0]])
                       for shape, n in remaining if n)
        unscored = snap.planned - snap.scored
        per_score = statistics.median(score_s) if score_s else 20.0
        snap.eta_s = (train_ms / 1000.0 + unscored * per_score) / max(1, slots)
    snap.unmeasured = unmeasured
    return snap


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def line(snap: Snapshot, elapsed_s: float) -> str:
    """e.g. ``[ganbench] 12:04 | trained 14/57 (1 failed) | scored 10/57 | training 2 | ETA 31:10``."""
    parts = [f"[ganbench] {_clock(elapsed_s)}"]
    if snap.look is not None:
        parts.append(f"look {snap.look} of {snap.looks}")
    if snap.planned == 0:
        parts.append("planning runs")
    else:
        failed = f" ({snap.failed} failed)" if snap.failed else ""
        parts += [f"trained {snap.trained}/{snap.planned}{failed}", f"scored {snap.scored}/{snap.planned}",
                  f"training {len(snap.running)}"]
        if snap.planned and snap.scored == snap.planned:
            parts.append("every run scored: benchmark, summary and report")
        else:
            parts.append(f"ETA {_clock(snap.eta_s)}" if snap.eta_s is not None else
                         f"ETA after the first logged steps{' of ' + ' and '.join(snap.unmeasured) if snap.unmeasured else ''}")
    return " | ".join(parts)


def _alive(pid: int) -> bool:
    """The process exists and has not exited (a zombie not yet reaped by its parent has)."""
    if not pid_exists(pid):
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def watch(results: Path, pid: int, every: float = 30.0, poll: float = 2.0, slots: int = 1,
          out=sys.stdout, clock=time.monotonic) -> Snapshot:
    """Print a progress line on every change (and every ``every`` s) until process ``pid`` ends."""
    start, last_print, last_counts = clock(), -1e9, None
    snap = Snapshot()
    while True:
        alive = _alive(pid)
        snap = snapshot(results, slots)
        now = clock()
        if snap.counts() != last_counts or now - last_print >= every or not alive:
            print(line(snap, now - start), file=out, flush=True)
            last_print, last_counts = now, snap.counts()
        if not alive:
            return snap
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", required=True, type=Path, help="results/<study>")
    p.add_argument("--pid", required=True, type=int, help="the snakemake process to follow")
    p.add_argument("--every", type=float, default=30.0, help="seconds between lines when nothing changes")
    p.add_argument("--slots", type=int, default=1, help="training jobs that run at once")
    args = p.parse_args(argv)
    try:
        watch(args.results, args.pid, args.every, slots=args.slots)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
