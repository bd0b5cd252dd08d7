"""The training driver for a seed group: K runs of one arm trained in lockstep by one batched engine.

A group's runs differ only in ``seed`` and ``run_id``. Each keeps everything a single-seed run
has (runkit.loop): its own streams (so its initial weights, minibatches and noise are drawn
exactly as when it runs alone), probes, gradient flow, log.csv, curve samples, grids, checkpoint
and outputs. Only the iterations are shared: one ``train_chunk`` of the impl's
:class:`~ganbench.runkit.engine_contract.SeedGroupEngine` advances every seed by the chunk, with
``idx`` / ``noise`` stacked on a leading seed axis. Everything else sees a run through a
:class:`SeedView`, which is the group engine narrowed to one seed, so the single-seed code paths
(:func:`loop.attach_run`, :func:`loop.record_chunk`, :func:`loop.finish_run`, the checkpointer)
serve both.

* Divergence: a seed whose loss goes non-finite stops there, as alone (its outputs say so); the
  group trains on, feeding it zeros (its weights are never read again; seeds share no arithmetic).
* Resume: each run checkpoints itself, at the same steps as alone, in two phases: every member
  stages its checkpoint, then all are committed (runkit.checkpoint.settle_staged finishes or undoes
  a save a kill interrupted), so a killed group resumes every member from one step. Members that
  still resume from different steps (a checkpoint lost or discarded, a seed that diverged before
  the group's last save) are grouped again by that step, each subgroup trained in turn by an engine
  of its own.
* Timing: every member's timing.json holds the group's chunk times (the wall time in which it
  advanced) and ``seed_group_size``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from . import data as rdata
from . import streams as rstreams
from .checkpoint import Checkpointer, checkpoint_dir, checkpoint_every, settle_staged
from .loop import attach_run, chunk_ends, finish_run, record_chunk

IDENTITY_FREE = ("seed", "run_id")  # the only keys in which a group's specs may differ


class SeedGroupError(ValueError):
    """The runs handed to one group cannot be trained as one (the message says why)."""


def arm_key(spec: dict) -> dict:
    """``spec`` without the keys a group's members differ in."""
    return {k: v for k, v in spec.items() if k not in IDENTITY_FREE}


def check_group(specs: list[dict], outs: list[Path]) -> None:
    if not specs or len(specs) != len(outs):
        raise SeedGroupError(f"a seed group needs one --out per --spec (got {len(specs)} specs, {len(outs)} outs)")
    base = arm_key(specs[0])
    for spec in specs[1:]:
        if arm_key(spec) != base:
            diff = sorted(k for k in set(base) | set(spec) if k not in IDENTITY_FREE and base.get(k) != spec.get(k))
            raise SeedGroupError(f"runs {specs[0].get('run_id')} and {spec.get('run_id')} differ in {diff}: "
                                 f"a seed group trains seeds of one arm (specs equal but for {IDENTITY_FREE})")
    seeds = [s["seed"] for s in specs]
    if len(set(seeds)) != len(seeds):
        raise SeedGroupError(f"a seed group's seeds must differ, got {seeds}")
    if len({Path(o).resolve() for o in outs}) != len(outs):
        raise SeedGroupError("a seed group's runs need an output folder each")


class SeedView:
    """Seed ``k`` of a group engine, with the single-seed engine's members (runkit.engine_contract.Engine)
    except ``train_chunk`` / ``fetch``: what probes, gradient flow, samples and checkpoints call."""

    def __init__(self, group, k: int):
        self.group, self.k = group, k
        self.framework, self.framework_version = group.framework, group.framework_version
        self.device = group.device

    def load_state(self, state: dict) -> None:
        self.group.load_state(self.k, state)

    def export_state(self) -> dict:
        return self.group.export_state(self.k)

    def set_data(self, images: np.ndarray) -> None:  # the group holds the data once
        pass

    def generate(self, z: np.ndarray) -> np.ndarray:
        return self.group.generate(self.k, z)

    def forward_g(self, z: np.ndarray, training: bool) -> np.ndarray:
        return self.group.forward_g(self.k, z, training)

    def forward_d(self, x: np.ndarray, training: bool) -> np.ndarray:
        return self.group.forward_d(self.k, x, training)

    def optimizer_state(self, native: bool = False) -> dict:
        return self.group.optimizer_state(self.k, native)

    def load_optimizer_state(self, state: dict) -> None:
        self.group.load_optimizer_state(self.k, state)

    def optimizer_steps(self) -> tuple[int, int]:
        return self.group.optimizer_steps()

    def synchronize(self) -> None:
        self.group.synchronize()

    def peak_device_mb(self):
        return self.group.peak_device_mb()

    def train_chunk(self, idx, noise):
        raise RuntimeError("a seed group's member is trained by its group (runkit.seed_group.train_group)")

    fetch = train_chunk


def run_group(specs: list[dict], data_path, outs: list, group_cls, t0: float | None = None,
              checkpoint_dirs: list | None = None) -> int:
    """Train the runs ``specs`` (one arm, different seeds) with the seed-group engine class
    ``group_cls`` and write every run's contract files to its ``outs`` folder (see the module doc)."""
    t0 = time.perf_counter() if t0 is None else t0
    outs = [Path(o) for o in outs]
    check_group(specs, outs)
    dirs = list(checkpoint_dirs) if checkpoint_dirs else [None] * len(specs)
    if len(dirs) != len(specs):
        raise SeedGroupError(f"a seed group needs no --checkpoint-dir or one per run (got {len(dirs)} for "
                             f"{len(specs)} runs)")
    settle_staged([checkpoint_dir(spec, out, folder) if checkpoint_every(spec) > 0 else None
                   for spec, out, folder in zip(specs, outs, dirs)])
    # each run's checkpoint, read once (no engine yet: restored by attach_run), and the step it resumes from
    loaded = []
    for spec, out, folder in zip(specs, outs, dirs):
        ckpt = Checkpointer(spec, data_path, out, None, folder)
        loaded.append((ckpt, ckpt.load()))
    by_step: dict[int, list[int]] = {}
    for i, (_, resumed) in enumerate(loaded):
        by_step.setdefault(0 if resumed is None else int(resumed["step"]), []).append(i)
    if len(by_step) > 1:
        print(f"[ganbench] seed group: members resume from steps {sorted(by_step)}; training them as "
              f"{len(by_step)} groups", file=sys.stderr, flush=True)
    images = rdata.load_train_images(data_path, specs[0])
    for members in by_step.values():
        train_group([specs[i] for i in members], data_path, [outs[i] for i in members], group_cls, t0,
                    [loaded[i] for i in members], images)
    return 0


def train_group(specs, data_path, outs, group_cls, t0: float, loaded: list, images: np.ndarray) -> None:
    """One engine for runs that start (or resume) at the same step, trained to the end in lockstep."""
    streams = [rstreams.make_streams(s["seed"]) for s in specs]
    engine = group_cls(specs[0], [st.framework_seed() for st in streams])
    engine.set_data(images)
    runs = [attach_run(spec, data_path, out, st, images, SeedView(engine, k), t0, None, pair)
            for k, (spec, out, st, pair) in enumerate(zip(specs, outs, streams, loaded))]
    for run in runs:
        run.seed_group = len(runs)
    active, first = [True] * len(runs), runs[0].steps_done
    try:
        for end in chunk_ends(specs[0]):
            if end > first and any(active):
                train_group_chunk(runs, engine, end, active)
    finally:
        for run in runs:
            run.bar.close()
            run.log.close()
    for run in runs:
        finish_run(run)


def train_group_chunk(runs, engine, end: int, active: list[bool]) -> None:
    """Every seed's iterations up to ``end`` in one batched chunk; each active run records its own part.
    A run that diverged is fed zeros (valid indices, zero noise) and records nothing more."""
    start = next(r.steps_done for r, a in zip(runs, active) if a)
    k = end - start
    t = time.perf_counter()
    plans = [run.planner.plan(k) if on else None for run, on in zip(runs, active)]
    shape_idx, shape_noise = next(p for p in plans if p is not None)
    idx = np.stack([p[0] if p else np.zeros_like(shape_idx) for p in plans])      # [K, k, d_steps, B]
    noise = np.stack([p[1] if p else np.zeros_like(shape_noise) for p in plans])  # [K, k, n_noise, B, z]
    metrics = engine.fetch(engine.train_chunk(idx, noise))  # [K, k, 4]
    dt = time.perf_counter() - t
    saving = [str(run.ckpt.dir) for run, on in zip(runs, active) if on and run.ckpt.due(run.last_saved, end)]
    for i, run in enumerate(runs):
        if active[i]:
            run.ckpt.group = saving  # members stage their checkpoints; committed once all have
            active[i] = record_chunk(run, end, metrics[i], dt)
    for run in runs:
        if str(run.ckpt.dir) in saving:
            run.ckpt.commit()
