"""The framework-neutral training driver every impl's ``train.py`` calls.

An impl supplies an *engine* (a class built as ``Engine(spec, framework_seed)``)
with this interface; everything else (streams, data, chunking, timing, logging,
divergence, outputs) happens here, identically for every framework.

``framework``, ``framework_version``, ``device``  strings for timing.json
``load_state(state)``        canonical state dict (runkit.params) -> model
``export_state()``           model -> canonical state dict (numpy float32)
``set_data(images_uint8)``   the prepared uint8 training set, kept on the device
``train_chunk(idx, noise)``  run ``len(idx)`` iterations; ``idx`` int64
                             ``[K, d_steps, B]``, ``noise`` float32 ``[K, n_noise, B, z]``;
                             returns an opaque device handle of per-iteration stats
``fetch(handle)``            host copy ``[K, 4]`` = d_loss, g_loss, d_real, d_fake
                             (the only host sync of a chunk)
``generate(z)``              G in inference mode, float32 canonical layout, numpy
``forward_d(x, training)``   D's logits for model-range float32 inputs (canonical layout),
                             numpy; ``training=False`` = inference mode (the log probes)
                             (inference mode: BN with its running statistics; with
                             ``arch.bn_inference: batch``, the batch's own statistics and
                             the running ones left as they are)
``synchronize()``            wait for queued device work
``peak_device_mb()``         float, or None on CPU

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
import signal
import sys
import time
from pathlib import Path

import numpy as np

from . import data as rdata
from . import outputs, params, streams as rstreams
from .checkpoint import Checkpointer, kill_step
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


def test_nan_step() -> int | None:
    """GANBENCH_TEST_NAN_AT_STEP=N (tests only): report a NaN d_loss at iteration N."""
    env = os.environ.get("GANBENCH_TEST_NAN_AT_STEP", "").strip()
    return int(env) if env else None


test_nan_step.__test__ = False  # not a pytest test


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


def run_training(spec: dict, data_path, out_dir, engine_cls, t0: float | None = None,
                 checkpoint_dir=None) -> int:
    """Train ``spec`` with ``engine_cls`` and write every contract file to ``out_dir``
    (resuming from this run's checkpoint when there is a valid one)."""
    t0 = time.perf_counter() if t0 is None else t0
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    st = rstreams.make_streams(spec["seed"])
    images = rdata.load_train_images(data_path, spec)
    engine = engine_cls(spec, st.framework_seed())
    engine.load_state(params.init_params(spec, st.init))
    engine.set_data(images)
    planner = rdata.ChunkPlanner(spec, len(images), st.batches, st.noise)
    grid_z = rdata.sample_noise(st.grid, spec["prior"], (spec["grid_size"], spec["z_dim"]))
    probes = Probes(spec, data_path, images, st.probe)
    flow = GradientFlow(spec, st.probe)  # after the probe images: they stay what they were
    curve = set(curve_steps(spec))
    curve_z = rdata.sample_noise(st.curve, spec["prior"], (spec["curve_samples"], spec["z_dim"])) if curve else None
    nan_at, kill_at = test_nan_step(), kill_step()
    ckpt = Checkpointer(spec, data_path, out, engine, checkpoint_dir)
    resumed = ckpt.load()
    if resumed is None:
        shutil.rmtree(out / "curve", ignore_errors=True)  # stale points of an earlier run must not be scored
    else:
        ckpt.restore(resumed, st, planner)
        print(f"[ganbench] resuming from the checkpoint at step {resumed['step']} ({ckpt.path})",
              file=sys.stderr, flush=True)
    engine.synchronize()
    setup_s = time.perf_counter() - t0

    log = outputs.LogWriter(out / "log.csv", resume=None if resumed is None else
                            resumed["arrays"]["log_csv"].tobytes())
    status = {"status": "ok"}
    first_step_s = None if resumed is None else resumed["first_step_s"]
    # steady chunks only: after the first step, all finite
    chunk_times: list[tuple[float, int]] = [] if resumed is None else [(dt, k) for dt, k in resumed["chunk_times"]]
    steps_done = 0 if resumed is None else resumed["step"]
    last_saved = steps_done
    # elapsed_s continues from the checkpoint's
    t_train = time.perf_counter() - (0.0 if resumed is None else resumed["elapsed_s"])
    bar = progress_bar(spec["steps"], desc=spec.get("run_id", "train"))
    bar.update(steps_done)
    try:
        for end in chunk_ends(spec):
            if end <= steps_done:
                continue  # done before the checkpoint
            k = end - steps_done
            t = time.perf_counter()
            idx, noise = planner.plan(k)
            stats = engine.fetch(engine.train_chunk(idx, noise))
            dt = time.perf_counter() - t
            start = steps_done
            if nan_at is not None and start < nan_at <= end:
                stats[nan_at - start - 1, 0] = math.nan
            bad = check_finite(stats)
            if start == 0 and k == 1:
                first_step_s = dt
            elif bad is None:
                chunk_times.append((dt, k))
            steps_done = end if bad is None else start + bad + 1
            bar.update(steps_done - start)
            last = len(stats) if bad is None else bad + 1
            elapsed = time.perf_counter() - t_train
            for i in range(last):
                step = start + i + 1
                if bad is not None and i == bad:
                    log.row(step, *stats[i], elapsed)  # probes NaN: the weights may be NaN
                elif step % spec["log_every"] == 0 or step == spec["steps"]:
                    # logged steps end a chunk (chunk_ends), so the probes see the state after `step`
                    log.row(step, *stats[i], elapsed, *probes.measure(engine), *flow.measure(engine))
            bar.set_postfix(d_loss=f"{stats[last - 1, 0]:.3f}", g_loss=f"{stats[last - 1, 1]:.3f}", refresh=False)
            if bad is not None:
                step = start + bad + 1
                which = [n for n, v in zip(("d_loss", "g_loss"), stats[bad, :2]) if not math.isfinite(v)]
                status = {"status": "diverged", "step": step,
                          "reason": f"non-finite {' and '.join(which)} at step {step} "
                                    f"(d_loss={stats[bad, 0]}, g_loss={stats[bad, 1]})"}
                break
            if end in curve:
                (out / "curve").mkdir(exist_ok=True)
                outputs.write_samples(out / "curve" / f"samples_{end}.npz", generate_images(engine, spec, curve_z))
                ckpt.record_output(out / "curve" / f"samples_{end}.npz")
            if spec["grid_every"] > 0 and end % spec["grid_every"] == 0 and end != spec["steps"]:
                outputs.write_grid(out / f"grid_{end}.png", generate_images(engine, spec, grid_z))
                ckpt.record_output(out / f"grid_{end}.png")
            if ckpt.due(last_saved, end):
                ckpt.save(end, st, planner, out / "log.csv", time.perf_counter() - t_train, first_step_s, chunk_times)
                last_saved = end
            if kill_at is not None and start < kill_at <= end:  # tests only: a hard kill, no clean-up
                os.kill(os.getpid(), signal.SIGKILL)
    finally:
        bar.close()
        log.close()

    iters = sum(k for _, k in chunk_times)
    if iters:
        train_s = sum(dt for dt, _ in chunk_times)
        median_ms = float(np.median([dt / k for dt, k in chunk_times])) * 1e3
        ips = spec["batch_size"] * spec["d_steps"] * 1e3 / median_ms if median_ms > 0 else None
    else:  # no steady chunk (only the first step ran, or the run diverged before one finished)
        train_s = median_ms = ips = None

    size, ch = spec["image_size"], spec["channels"]
    if status["status"] == "ok":
        eval_z = rdata.sample_noise(st.eval, spec["prior"], (spec["eval_samples"], spec["z_dim"]))
        outputs.write_samples(out / "samples.npz", generate_images(engine, spec, eval_z))
        outputs.write_grid(out / "grid.png", generate_images(engine, spec, grid_z))
    else:  # never images from non-finite weights: no samples, a blank grid
        outputs.write_samples(out / "samples.npz", np.zeros((0, size, size, ch), np.uint8))
        outputs.write_grid(out / "grid.png", np.zeros((spec["grid_size"], size, size, ch), np.uint8))
    outputs.write_timing(out / "timing.json", {
        "device": engine.device,
        "framework": engine.framework,
        "framework_version": engine.framework_version,
        "setup_s": setup_s,
        "first_step_s": first_step_s,
        "train_s": train_s,
        "median_step_ms": median_ms,
        "images_per_s": ips,
        "peak_host_mb": outputs.peak_host_mb(),
        "peak_device_mb": engine.peak_device_mb(),
        "steps_done": steps_done,
        "timed_iterations": iters,
        "timed_chunks": len(chunk_times),
        "timing_method": "synchronised chunks at log/grid/curve boundaries; first step and non-finite chunks apart",
        "threads": thread_count(spec),
        "compile": bool(spec["compile"]),
        "resumed_from_step": None if resumed is None else resumed["step"],
    })
    if status["status"] == "ok":
        outputs.write_status(out / "status.json", "ok")
    else:
        outputs.write_status(out / "status.json", "diverged", status["step"], status["reason"])
        print(f"[ganbench] run diverged: {status['reason']}", file=sys.stderr)
    ckpt.discard()  # the outputs are complete: the checkpoint has done its job
    return 0
