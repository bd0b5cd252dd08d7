"""The framework-neutral training driver every impl's ``train.py`` calls.

An impl supplies an *engine* (a class built as ``Engine(spec, framework_seed)``) with the
members of :class:`ganbench.runkit.engine_contract.Engine` (checked at discovery and when it is
built); everything else (streams, data, chunking, timing, logging, divergence, outputs) happens
here, identically for every framework.

Timing (timing.json): ``setup_s`` = process start to the first step (imports,
data, model build, transfer); ``first_step_s`` = the first iteration alone,
synchronised (tracing/compilation, warm-up); then iterations run in chunks that
end at every log (grid, curve) boundary; a chunk's clock includes preparing its
noise/indices on the host, the one transfer, the iterations and the
synchronising fetch of its stats. Only *steady* chunks count: after the first
step and with finite losses. ``train_s`` = sum of their times,
``median_step_ms`` = median over them of chunk time / iterations,
``images_per_s`` = batch_size * d_steps * 1000 / median_step_ms (the same median: one
definition of speed, so the two never disagree when a few chunks are slow); all three
null when there is no steady chunk.

Divergence: non-finite losses are found at the chunk's sync; the run stops
there and reports the exact first non-finite iteration (status.json ``step``,
timing.json ``steps_done``, the last log.csv row). ``samples.npz`` then holds
no images (``[0, S, S, C]``), ``grid.png`` is blank and no further curve
samples are written: nothing is ever drawn from non-finite weights.

Checkpoints (runkit.checkpoint): every ``checkpoint_every`` iterations (rounded up to
the next chunk end; default steps // 4; 0 = off) the loop saves the engine's state
(``export_state``, ``optimizer_state(native=True)``), every stream's position, the
sampler, log.csv so far and the timing lists; a restarted run resumes from the last
one and writes byte-identical outputs (log.csv's ``elapsed_s`` continues from the
checkpoint's). The checkpoint folder is removed once the outputs are complete.
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import data as rdata
from . import outputs, params, streams as rstreams
from .checkpoint import Checkpointer
from .engine_contract import check_engine
from .gradient_flow import GradientFlow
from .progress import progress_bar
from .spec import bn_batch_inference

EVAL_BATCH = 500
MAX_CHUNK_FLOATS = 16 * 2**20  # cap one chunk's noise array at 64 MiB


def check_finite(stats: np.ndarray) -> int | None:
    """Index of the first row whose d_loss or g_loss is NaN/inf, else None."""
    bad = ~np.isfinite(stats[:, :2]).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def thread_count(spec: dict) -> int | None:
    """Threads per job: env GANBENCH_THREADS, else spec 'threads' (>0), else None (framework default)."""
    env = os.environ.get("GANBENCH_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"GANBENCH_THREADS must be an integer, got {env!r}") from None
        return n if n > 0 else None
    n = spec.get("threads", 0)
    return int(n) if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def curve_steps(spec: dict) -> list[int]:
    """Iterations after which curve samples are written: each curve fraction of ``steps``
    (rounded to the nearest iteration, at least 1), plus the end; none without fractions."""
    fr = spec.get("curve_fractions") or []
    if not fr:
        return []
    steps = spec["steps"]
    return sorted({min(steps, max(1, int(round(f * steps)))) for f in fr} | {steps})


def chunk_ends(spec: dict) -> list[int]:
    """Last iteration of each chunk: 1 (the first step alone), then log/grid/curve boundaries."""
    steps, log_every, grid_every = spec["steps"], spec["log_every"], spec["grid_every"]
    per_iter = rdata.noise_batches_per_iteration(spec) * spec["batch_size"] * spec["z_dim"]
    max_chunk = max(1, MAX_CHUNK_FLOATS // per_iter)
    curve = curve_steps(spec)
    ends, cur = [1], 1
    while cur < steps:
        nxt = min(steps, (cur // log_every + 1) * log_every, cur + max_chunk)
        if grid_every > 0:
            nxt = min(nxt, (cur // grid_every + 1) * grid_every)
        later = [c for c in curve if c > cur]
        if later:
            nxt = min(nxt, later[0])
        ends.append(nxt)
        cur = nxt
    return ends


class Probes:
    """Fixed probe batches (``probe_size`` training and test images, drawn once from the
    ``probe`` stream) and mean D(x) on them, D in inference mode."""

    def __init__(self, spec: dict, data_path, train_images: np.ndarray, rng: np.random.Generator):
        self.n, self.spec = spec["probe_size"], spec
        self.kind = rdata.output_kind(spec)
        self.train = self.test = None
        if self.n == 0:
            return
        pick = rng.choice(len(train_images), size=min(self.n, len(train_images)), replace=False)
        self.train = rdata.scale_np(train_images[np.sort(pick)], self.kind)
        test = rdata.read_npz_arrays(data_path, ("test_images",), required=False).get("test_images")
        if test is None:
            print(f"[ganbench] {data_path}: no 'test_images'; d_probe_test stays NaN", file=sys.stderr)
            return
        pick = rng.choice(len(test), size=min(self.n, len(test)), replace=False)
        self.test = rdata.scale_np(rdata.prepare_images(test[np.sort(pick)], spec), self.kind)

    def _mean_d(self, engine, x) -> float:
        if x is None:
            return math.nan
        logits = np.concatenate(in_inference_batches(lambda b: engine.forward_d(b, training=False), x, self.spec))
        return float(np.mean(1.0 / (1.0 + np.exp(-logits.astype(np.float64)))))

    def measure(self, engine) -> tuple[float, float]:
        return self._mean_d(engine, self.train), self._mean_d(engine, self.test)


def in_inference_batches(fn, x: np.ndarray, spec: dict) -> list[np.ndarray]:
    """``fn`` (a network in inference mode) over ``x`` in batches: of EVAL_BATCH rows, or of exactly
    batch_size rows where BN normalises with each batch's own statistics (arch.bn_inference 'batch':
    the DCGAN post's graph only ran batches of its batch size). There the last batch is filled up
    with ``x``'s first rows, and their outputs are dropped."""
    if not bn_batch_inference(spec):
        return [fn(x[i : i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)]
    size, parts = spec["batch_size"], []
    for i in range(0, len(x), size):
        batch = x[i : i + size]
        kept = len(batch)
        if kept < size:
            batch = np.concatenate([batch, np.resize(x, (size - kept, *x.shape[1:]))])  # x's rows, cyclically
        parts.append(np.asarray(fn(batch))[:kept])
    return parts


def generate_images(engine, spec: dict, z: np.ndarray) -> np.ndarray:
    """uint8 [N, S, S, C] from noise ``z`` (G in inference mode, see :func:`in_inference_batches`)."""
    kind = rdata.output_kind(spec)
    parts = in_inference_batches(engine.generate, z, spec)
    out = np.concatenate(parts, axis=0) if parts else np.zeros((0,), np.float32)
    return rdata.to_image_layout(rdata.to_uint8(out, kind), spec)


@dataclass
class TrainingRun:
    """One run's state between chunks: what :func:`run_training`'s three phases share."""

    spec: dict
    out: Path
    streams: Any
    engine: Any
    planner: Any
    grid_z: np.ndarray
    curve_z: np.ndarray | None
    curve: set
    probes: Probes
    flow: GradientFlow
    ckpt: Checkpointer
    resumed: dict | None
    setup_s: float
    log: Any = None
    bar: Any = None
    status: dict = field(default_factory=lambda: {"status": "ok"})
    first_step_s: float | None = None
    chunk_times: list = field(default_factory=list)  # (seconds, iterations) of the steady chunks
    steps_done: int = 0
    last_saved: int = 0
    t_train: float = 0.0  # perf_counter origin of log.csv's elapsed_s (continued from a checkpoint)
    seed_group: int | None = None  # trained as one of this many seeds in one batched step (runkit.seed_group)


def run_training(spec: dict, data_path, out_dir, engine_cls, t0: float | None = None,
                 checkpoint_dir=None) -> int:
    """Train ``spec`` with ``engine_cls`` and write every contract file to ``out_dir``
    (resuming from this run's checkpoint when there is a valid one)."""
    run = start_run(spec, data_path, Path(out_dir), engine_cls, time.perf_counter() if t0 is None else t0,
                    checkpoint_dir)
    try:
        for end in chunk_ends(spec):
            if end > run.steps_done and not train_chunk(run, end):
                break  # diverged
    finally:
        run.bar.close()
        run.log.close()
    finish_run(run)
    return 0


def start_run(spec: dict, data_path, out: Path, engine_cls, t0: float, checkpoint_dir) -> TrainingRun:
    """Streams, data and engine of one run, then :func:`attach_run`."""
    st = rstreams.make_streams(spec["seed"])
    images = rdata.load_train_images(data_path, spec)
    engine = engine_cls(spec, st.framework_seed())
    check_engine(engine)
    engine.set_data(images)
    return attach_run(spec, data_path, out, st, images, engine, t0, checkpoint_dir)


def attach_run(spec: dict, data_path, out: Path, st, images: np.ndarray, engine, t0: float,
               checkpoint_dir, loaded: tuple | None = None) -> TrainingRun:
    """One run's initial weights, planner, probes and noise on ``engine`` (which holds the data); the
    checkpoint restored when there is one. A seed group's member runs through here too, with a view
    of the group engine and ``loaded`` = (its Checkpointer, what its ``load()`` returned), read
    before the engine was built (runkit.seed_group)."""
    out.mkdir(parents=True, exist_ok=True)
    engine.load_state(params.init_params(spec, st.init))
    planner = rdata.ChunkPlanner(spec, len(images), st.batches, st.noise)
    # the order of these draws is part of every run's identity: grid noise, probes, gradient flow, curve noise
    grid_z = rdata.sample_noise(st.grid, spec["prior"], (spec["grid_size"], spec["z_dim"]))
    probes = Probes(spec, data_path, images, st.probe)
    flow = GradientFlow(spec, st.probe)  # after the probe images: they stay what they were
    curve = set(curve_steps(spec))
    curve_z = rdata.sample_noise(st.curve, spec["prior"], (spec["curve_samples"], spec["z_dim"])) if curve else None
    if loaded is None:
        ckpt = Checkpointer(spec, data_path, out, engine, checkpoint_dir)
        resumed = ckpt.load()
    else:
        ckpt, resumed = loaded
        ckpt.engine = engine
    if resumed is None:
        shutil.rmtree(out / "curve", ignore_errors=True)  # stale points of an earlier run must not be scored
    else:
        ckpt.restore(resumed, st, planner)
        print(f"[ganbench] resuming from the checkpoint at step {resumed['step']} ({ckpt.path})",
              file=sys.stderr, flush=True)
    engine.synchronize()
    run = TrainingRun(spec, out, st, engine, planner, grid_z, curve_z, curve, probes, flow, ckpt, resumed,
                      setup_s=time.perf_counter() - t0)
    run.log = outputs.LogWriter(out / "log.csv", resume=None if resumed is None else
                                resumed["arrays"]["log_csv"].tobytes())
    if resumed is not None:
        run.first_step_s = resumed["first_step_s"]
        run.chunk_times = [(dt, k) for dt, k in resumed["chunk_times"]]
        run.steps_done = run.last_saved = resumed["step"]
    run.t_train = time.perf_counter() - (0.0 if resumed is None else resumed["elapsed_s"])
    run.bar = progress_bar(spec["steps"], desc=spec.get("run_id", "train"))
    run.bar.update(run.steps_done)
    return run


def train_chunk(run: TrainingRun, end: int) -> bool:
    """Iterations up to ``end`` in one chunk, then :func:`record_chunk`."""
    engine, start = run.engine, run.steps_done
    t = time.perf_counter()
    idx, noise = run.planner.plan(end - start)
    metrics = engine.fetch(engine.train_chunk(idx, noise))  # [k, 4]: d_loss, g_loss, D(x), D(G(z))
    return record_chunk(run, end, metrics, time.perf_counter() - t)


def record_chunk(run: TrainingRun, end: int, metrics: np.ndarray, dt: float) -> bool:
    """A trained chunk's timing (``dt`` seconds), log rows, curve samples, grid and checkpoint;
    False when a loss went non-finite (``run.status`` then says where)."""
    spec, engine, start = run.spec, run.engine, run.steps_done
    k = end - start
    bad = check_finite(metrics)
    if start == 0 and k == 1:
        run.first_step_s = dt  # the first step alone: tracing / compilation, warm-up
    elif bad is None:
        run.chunk_times.append((dt, k))
    run.steps_done = end if bad is None else start + bad + 1
    run.bar.update(run.steps_done - start)
    last = len(metrics) if bad is None else bad + 1
    elapsed = time.perf_counter() - run.t_train
    for i in range(last):
        step = start + i + 1
        if bad is not None and i == bad:
            run.log.row(step, *metrics[i], elapsed)  # probes NaN: the weights may be NaN
        elif step % spec["log_every"] == 0 or step == spec["steps"]:
            # logged steps end a chunk (chunk_ends), so the probes see the state after `step`
            run.log.row(step, *metrics[i], elapsed, *run.probes.measure(engine), *run.flow.measure(engine))
    run.bar.set_postfix(d_loss=f"{metrics[last - 1, 0]:.3f}", g_loss=f"{metrics[last - 1, 1]:.3f}", refresh=False)
    if bad is not None:
        step = start + bad + 1
        which = [n for n, v in zip(("d_loss", "g_loss"), metrics[bad, :2]) if not math.isfinite(v)]
        run.status = {"status": "diverged", "step": step,
                      "reason": f"non-finite {' and '.join(which)} at step {step} "
                                f"(d_loss={metrics[bad, 0]}, g_loss={metrics[bad, 1]})"}
        return False
    out = run.out
    if end in run.curve:
        (out / "curve").mkdir(exist_ok=True)
        outputs.write_samples(out / "curve" / f"samples_{end}.npz", generate_images(engine, spec, run.curve_z))
        run.ckpt.record_output(out / "curve" / f"samples_{end}.npz")
    if spec["grid_every"] > 0 and end % spec["grid_every"] == 0 and end != spec["steps"]:
        outputs.write_grid(out / f"grid_{end}.png", generate_images(engine, spec, run.grid_z))
        run.ckpt.record_output(out / f"grid_{end}.png")
    if run.ckpt.due(run.last_saved, end):
        run.ckpt.save(end, run.streams, run.planner, out / "log.csv", time.perf_counter() - run.t_train,
                      run.first_step_s, run.chunk_times)
        run.last_saved = end
    run.ckpt.chunk_done(start, end)
    return True


def finish_run(run: TrainingRun) -> None:
    """samples.npz, grid.png, timing.json and status.json; the checkpoint removed."""
    spec, out, engine = run.spec, run.out, run.engine
    iters = sum(k for _, k in run.chunk_times)
    if iters:
        train_s = sum(dt for dt, _ in run.chunk_times)
        median_ms = float(np.median([dt / k for dt, k in run.chunk_times])) * 1e3
        ips = spec["batch_size"] * spec["d_steps"] * 1e3 / median_ms if median_ms > 0 else None
    else:  # no steady chunk (only the first step ran, or the run diverged before one finished)
        train_s = median_ms = ips = None
    size, ch = spec["image_size"], spec["channels"]
    ok = run.status["status"] == "ok"
    if ok:
        eval_z = rdata.sample_noise(run.streams.eval, spec["prior"], (spec["eval_samples"], spec["z_dim"]))
        outputs.write_samples(out / "samples.npz", generate_images(engine, spec, eval_z))
        outputs.write_grid(out / "grid.png", generate_images(engine, spec, run.grid_z))
    else:  # never images from non-finite weights: no samples, a blank grid
        outputs.write_samples(out / "samples.npz", np.zeros((0, size, size, ch), np.uint8))
        outputs.write_grid(out / "grid.png", np.zeros((spec["grid_size"], size, size, ch), np.uint8))
    outputs.write_timing(out / "timing.json", {
        "device": engine.device,
        "framework": engine.framework,
        "framework_version": engine.framework_version,
        "setup_s": run.setup_s,
        "first_step_s": run.first_step_s,
        "train_s": train_s,
        "median_step_ms": median_ms,
        "images_per_s": ips,
        "peak_host_mb": outputs.peak_host_mb(),
        "peak_device_mb": engine.peak_device_mb(),
        "steps_done": run.steps_done,
        "timed_iterations": iters,
        "timed_chunks": len(run.chunk_times),
        "timing_method": "synchronised chunks at log/grid/curve boundaries; first step and non-finite chunks apart",
        "threads": thread_count(spec),
        "compile": bool(spec["compile"]),
        "resumed_from_step": None if run.resumed is None else run.resumed["step"],
        # a seed group's chunk times are the group's: every member advanced by one iteration in each
        **({} if run.seed_group is None else {"seed_group_size": run.seed_group}),
    })
    if ok:
        outputs.write_status(out / "status.json", "ok")
    else:
        outputs.write_status(out / "status.json", "diverged", run.status["step"], run.status["reason"])
        print(f"[ganbench] run diverged: {run.status['reason']}", file=sys.stderr)
    run.ckpt.discard()  # the outputs are complete: the checkpoint has done its job
