"""The GPU check, ready for the day a GPU machine is lent: one command, about 8 minutes, one
markdown table. ``scripts/gpu_check.sh`` sets up and runs it; ``--cpu`` runs the same steps at
tiny sizes on the CPU (the test suite does, so the check cannot rot).

    python -m ganbench.gpu_check [--cpu] [--out results/gpu_check] [--minutes 8]

Steps, each in its own processes (one framework per process), each under its share of the time:

1. environment: Python, each framework's version and the devices it sees, Snakemake;
2. twins on the device: the same BasicGAN and DCGAN specs trained by PyTorch and each other
   framework present, their logged losses compared as the CLI twin tests do (d_loss, g_loss,
   D(x), D(G(z)): the difference relative to the column's scale, 1e-5 at the first iteration and
   1e-3 over the run);
3. the step-time benchmark (impls/benchmark_step_time.py, eager and captured) on the study's
   shapes, its log kept beside the table (copy it into docs/speed: `./ganbench run -n` reads it);
3b. seed groups (impls with a ``seed_group:`` engine): each seed of a 3-seed group against its
   single-seed run (the twins' bounds), then groups of K = 1, 8, 32 seeds timed per seed-step;
4. a short slice of the study through Snakemake (``--resources gpu=1``): two runs at cut
   budgets, trained, scored and checked end to end.

A framework or Snakemake that is not installed is skipped with a note (a GPU machine may have
only PyTorch and JAX).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ganbench.benchmark import shape_spec, shapes
from ganbench.config import load_config
from ganbench.grid import expand_runs
from ganbench.impl_entry import entry_command
from ganbench.impls import discover_impls
from ganbench.step_times import read_log

REPO = Path(__file__).resolve().parents[2]
FRAMEWORK_MODULES = {"pytorch": "torch", "tensorflow": "tensorflow", "jax": "jax"}
# Twin agreement, as |difference| over each logged column's largest |value| (PyTorch's): at the first
# iteration (same weights, data and noise: the forward passes and losses) within FIRST_RTOL; over the
# whole run within RUN_RTOL, looser because GAN training amplifies round-off step by step (measured
# on the CPU: 2e-7 over 50 BasicGAN steps; 3e-7 at the first and 6e-5 by the third step of the
# DCGAN post's model with BN over 16 images).
FIRST_RTOL, RUN_RTOL = 1e-5, 1e-3
LOG_COLUMNS = ("d_loss", "g_loss", "d_real", "d_fake")
PROBE = {
    "pytorch": "import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() "
               "else 'no CUDA device')",
    "tensorflow": "import tensorflow as tf; print(tf.__version__, [d.name for d in tf.config.list_physical_devices('GPU')]"
                  " or 'no GPU')",
    "jax": "import jax; print(jax.__version__, [str(d) for d in jax.devices()])",
}


@dataclass
class Mode:
    device: str  # "cuda" or "cpu"
    config: Path  # the study whose shapes and runs are checked
    twin_steps: dict  # iterations of each model's twin run
    bench_steps: int
    compile: str  # benchmark_step_time.py --compile: off | on | both
    slice_steps: dict  # per-model budget of the Snakemake slice's runs
    shapes: int  # benchmark shapes at most (the first ones of the config)
    group_sizes: tuple = (1, 8, 32)  # seed groups timed (K seeds in one step)


GPU = Mode("cuda", REPO / "config" / "config.yaml", {"basic": 200, "dcgan": 10}, 50, "both",
           {"basic": 500, "dcgan": 100}, 99)
# CPU mode: every step at the smallest size that still runs it; eager only (capture costs ~20 s a run)
CPU = Mode("cpu", REPO / ".test" / "config" / "smoke.yaml", {"basic": 50, "dcgan": 3}, 5, "off",
           {"basic": 30, "dcgan": 4}, 1, (1, 2))


@dataclass
class Row:
    step: str
    result: str  # pass / FAIL / skipped / ms per step ...
    detail: str
    seconds: float = 0.0


def run(cmd: list[str], timeout: float, merged: bool = False, **kw) -> subprocess.CompletedProcess:
    """``cmd`` under a time limit; ``merged``: stderr into stdout, in the order written."""
    streams = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT) if merged else dict(capture_output=True)
    try:
        return subprocess.run(cmd, text=True, timeout=max(5.0, timeout), **streams, **kw)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(cmd, 124, exc.stdout or "", f"timed out after {timeout:.0f} s")


def environment(present: dict) -> list[Row]:
    rows = [Row("environment", "python", sys.version.split()[0])]
    for fw, module in FRAMEWORK_MODULES.items():
        proc = run([sys.executable, "-c", PROBE[fw]], 120) if present[fw] else None
        if proc is None:
            rows.append(Row("environment", "skipped", f"{fw}: {module} is not installed"))
        else:
            ok = proc.returncode == 0
            rows.append(Row("environment", fw if ok else "FAIL",
                            proc.stdout.strip() if ok else (proc.stderr.strip().splitlines() or ["?"])[-1]))
    if _importable("snakemake"):
        rows.append(Row("environment", "snakemake", "importable"))
    else:
        rows.append(Row("environment", "skipped", "snakemake is not installed (scripts/gpu_check.sh --wheels DIR)"))
    return rows


def synthetic_mnist(path: Path, n: int = 256, n_test: int = 64) -> Path:
    """uint8 [n, 28, 28, 1] noise images with a blank top band (a little structure), random labels;
    the test split is the first ``n_test`` of them. Step times and twin agreement do not depend on
    the pixels (the contract and resume tests train on it too)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    images[:, :4] = 0
    labels = rng.integers(0, 10, n).astype(np.uint8)
    np.savez(path, train_images=images, train_labels=labels, test_images=images[:n_test],
             test_labels=labels[:n_test])
    return path


def first_of_each_model(names, model_of) -> list:
    """The first of ``names`` for each model (``model_of(name)``), in order of appearance."""
    chosen: dict = {}
    for name in names:
        chosen.setdefault(model_of(name), name)
    return list(chosen.values())


def read_losses(log_csv: Path) -> np.ndarray:
    with open(log_csv, newline="") as fh:
        return np.array([[float(r[c]) for c in LOG_COLUMNS] for r in csv.DictReader(fh)])


def compare_logs(a: np.ndarray, b: np.ndarray) -> tuple[float, float, bool]:
    """Two runs' logged [steps, columns] values: their difference relative to each column's scale
    at the first iteration and over the run, and whether both are within bounds."""
    rel = np.abs(a - b) / np.maximum(np.abs(a).max(axis=0), 1e-6)
    first, whole = float(rel[0].max()), float(rel.max())
    return first, whole, first <= FIRST_RTOL and whole <= RUN_RTOL


def twins(mode: Mode, config: dict, impls: dict, data: Path, out: Path, budget: float) -> list[Row]:
    """PyTorch against each other framework present, one BasicGAN and one DCGAN shape each."""
    others = [name for name in impls if name != "pytorch"]
    if "pytorch" not in impls or not others:
        return [Row("twins", "skipped", "needs PyTorch and one more framework")]
    rows, deadline = [], time.monotonic() + budget
    for shape in first_of_each_model(shapes(config, list(impls)), lambda s: s.rsplit("-", 1)[1]):
        model = shape.rsplit("-", 1)[1]
        logs = {}
        t0 = time.monotonic()
        for name in ["pytorch", *others]:
            spec = shape_spec(config, shape, name)
            spec.update(steps=mode.twin_steps[model], log_every=1, device=mode.device, run_id=f"twin-{name}-{shape}")
            run_dir = out / "twins" / f"{name}-{shape}"
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "spec.json").write_text(json.dumps(spec))
            proc = run([*entry_command(impls[name].entry), "--spec", str(run_dir / "spec.json"), "--data", str(data),
                        "--out", str(run_dir)], deadline - time.monotonic(), env=dict(os.environ, GANBENCH_THREADS="1"))
            logs[name] = read_losses(run_dir / "log.csv") if proc.returncode == 0 else proc.stderr.strip()[-300:]
        for name in others:
            a, b = logs["pytorch"], logs[name]
            if isinstance(a, str) or isinstance(b, str):
                rows.append(Row("twins", "FAIL", f"{shape} pytorch vs {name}: a run failed: {a if isinstance(a, str) else b}"))
                continue
            if a.shape != b.shape:
                rows.append(Row("twins", "FAIL", f"{shape} pytorch vs {name}: logs of different lengths"))
                continue
            first, whole, ok = compare_logs(a, b)
            rows.append(Row("twins", "pass" if ok else "FAIL",
                            f"{shape} pytorch vs {name} on {mode.device}: logged losses and D outputs differ by "
                            f"{first:.1e} of their scale at the first iteration (bound {FIRST_RTOL:g}), {whole:.1e} "
                            f"over {mode.twin_steps[model]} (bound {RUN_RTOL:g})", time.monotonic() - t0))
    return rows


def benchmark(mode: Mode, impls: dict, data: Path, out: Path, budget: float) -> list[Row]:
    """impls/benchmark_step_time.py on the study's shapes; its log is kept for docs/speed."""
    log = out / f"benchmark-{mode.config.stem}-{datetime.date.today()}.log"
    config = load_config(mode.config)
    chosen = shapes(config, list(impls))[: mode.shapes]
    cmd = [sys.executable, str(REPO / "impls" / "benchmark_step_time.py"), "--configs", str(mode.config),
           "--device", mode.device, "--compile", mode.compile, "--repeat", "1", "--steps", str(mode.bench_steps),
           "--impls", *impls, "--data", str(data), "--shapes", *chosen]
    t0 = time.monotonic()
    proc = run(cmd, budget, merged=True)  # each shape's header line before its timings
    log.write_text(proc.stdout)
    if proc.returncode != 0:
        return [Row("benchmark", "FAIL", (proc.stdout.strip().splitlines() or ["?"])[-1], time.monotonic() - t0)]
    rows = [Row("benchmark", f"{m.ms_per_step:.2f} ms/step",
                f"{impl} {size}{' captured' if compiled else ' eager'} on {device}", time.monotonic() - t0)
            for (device, size, impl, compiled), m in sorted(read_log(log).items())]
    return rows


def _group_run(impl, spec: dict, seeds, data: Path, out: Path, timeout: float) -> tuple[list[Path], str | None]:
    """One seed group (impl_entry --seed-group) of ``spec`` for ``seeds``: its run folders, or an error."""
    cmd = [sys.executable, "-m", "ganbench.impl_entry", "--impl", str(impl.dir), "--seed-group", "--data", str(data)]
    folders = []
    for seed in seeds:
        run_dir = out / f"{spec['run_id']}-s{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "spec.json").write_text(json.dumps({**spec, "seed": seed, "run_id": run_dir.name}))
        cmd += ["--spec", str(run_dir / "spec.json"), "--out", str(run_dir)]
        folders.append(run_dir)
    proc = run(cmd, timeout, env=dict(os.environ, GANBENCH_THREADS="1"))
    return folders, None if proc.returncode == 0 else (proc.stderr.strip() or "?")[-300:]


def seed_groups(mode: Mode, config: dict, impls: dict, data: Path, out: Path, budget: float) -> list[Row]:
    """Seed k of a 3-seed group against the single-seed run of seed k (first and last seed), on each
    model's first shape; then the BasicGAN shape's groups of ``mode.group_sizes`` seeds, timed."""
    grouped = {name: impl for name, impl in impls.items() if impl.seed_group}
    if not grouped:
        return [Row("seed groups", "skipped", "no impl present has a seed-group engine")]
    rows, deadline = [], time.monotonic() + budget
    chosen = first_of_each_model(shapes(config, list(grouped)), lambda s: s.rsplit("-", 1)[1])
    for name, impl in grouped.items():
        for shape in chosen:
            model, t0 = shape.rsplit("-", 1)[1], time.monotonic()
            spec = {**shape_spec(config, shape, name), "steps": mode.twin_steps[model], "log_every": 1,
                    "device": mode.device, "run_id": f"group-{name}-{shape}"}
            folders, err = _group_run(impl, spec, (0, 1, 2), data, out / "seed_groups", deadline - time.monotonic())
            worst, ok = 0.0, err is None
            for seed in (0, 2) if ok else ():
                single = out / "seed_groups" / f"single-{name}-{shape}-s{seed}"
                single.mkdir(parents=True, exist_ok=True)
                (single / "spec.json").write_text(json.dumps({**spec, "seed": seed, "run_id": single.name}))
                proc = run([*entry_command(impl.entry), "--spec", str(single / "spec.json"), "--data", str(data),
                            "--out", str(single)], deadline - time.monotonic(), env=dict(os.environ, GANBENCH_THREADS="1"))
                if proc.returncode != 0:
                    ok, err = False, proc.stderr.strip()[-300:]
                    break
                first, whole, good = compare_logs(read_losses(single / "log.csv"), read_losses(folders[seed] / "log.csv"))
                worst, ok = max(worst, whole), ok and good
            rows.append(Row("seed groups", "pass" if ok else "FAIL",
                            f"{name} {shape}: seeds 0 and 2 of a 3-seed group vs alone on {mode.device}: " +
                            (err or f"logged values differ by {worst:.1e} of their scale (bound {RUN_RTOL:g})"),
                            time.monotonic() - t0))
        shape = chosen[0]
        for k in mode.group_sizes:
            t0 = time.monotonic()
            # ten chunks: the first two (lengths bench_steps - 1 and bench_steps) compile in JAX, the median skips them
            spec = {**shape_spec(config, shape, name), "steps": mode.bench_steps * 10, "log_every": mode.bench_steps,
                    "device": mode.device, "run_id": f"bench-{name}-k{k}", "eval_samples": 64, "probe_size": 0,
                    "curve_fractions": [], "grid_every": 0, "checkpoint_every": 0}
            folders, err = _group_run(impl, spec, range(k), data, out / "seed_groups", deadline - time.monotonic())
            ms = None if err else json.loads((folders[0] / "timing.json").read_text())["median_step_ms"]
            rows.append(Row("seed groups", "FAIL" if err else f"{ms / k:.2f} ms/seed-step",
                            err or f"{name} {shape} K={k} on {mode.device} ({ms:.2f} ms per group step)",
                            time.monotonic() - t0))
    return rows


def snakemake_slice(mode: Mode, impls: dict, out: Path, budget: float) -> list[Row]:
    """Two runs of the study (a BasicGAN and a DCGAN, PyTorch) at cut budgets, trained and scored."""
    if not _importable("snakemake"):
        return [Row("snakemake slice", "skipped", "snakemake is not installed")]
    config = yaml.safe_load(mode.config.read_text())
    config.update(name="gpu_check", device=mode.device, gpus=1 if mode.device == "cuda" else 0)
    config.setdefault("benchmark", {})["enabled"] = False
    for recipe in config.get("recipes", {}).values():
        recipe["steps"] = {model: min(steps, mode.slice_steps[model]) for model, steps in recipe["steps"].items()}
    work = out / "snakemake"
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    impl = "pytorch" if "pytorch" in impls else next(iter(impls))
    runs = expand_runs(load_config(work / "config.yaml"), [impl])
    picked = first_of_each_model(runs, lambda run_id: runs[run_id].spec["model"])
    targets = [f"results/gpu_check/runs/{run_id}/metrics.json" for run_id in picked]
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "config.yaml"), "--cores", str(os.cpu_count() or 1),
           "--resources", f"gpu={1 if mode.device == 'cuda' else 0}"]
    t0 = time.monotonic()
    proc = run(cmd, budget)
    (out / "snakemake.log").write_text(proc.stdout + proc.stderr)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        return [Row("snakemake slice", "FAIL", f"exit {proc.returncode}; see snakemake.log", seconds)]
    rows = []
    for run_id in picked:
        metrics = json.loads((work / "results" / "gpu_check" / "runs" / run_id / "metrics.json").read_text())
        fid = metrics.get("metrics", {}).get("fid")
        rows.append(Row("snakemake slice", "pass" if metrics.get("status") == "ok" else metrics.get("status", "?"),
                        f"{run_id}: FID {fid if fid is None else round(fid, 2)}", seconds))
    return rows


def table(rows: list[Row], mode: Mode) -> str:
    lines = [f"# GPU check ({'CPU mode' if mode.device == 'cpu' else 'CUDA'}, {datetime.date.today()})", "",
             f"Study checked: `{mode.config.relative_to(REPO)}`.", "",
             "| step | result | detail | s |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.step} | {r.result} | {r.detail.replace('|', '/')} | {r.seconds:.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpu", action="store_true", help="the same steps at tiny sizes on the CPU")
    p.add_argument("--out", type=Path, default=REPO / "results" / "gpu_check")
    p.add_argument("--minutes", type=float, default=8.0, help="time for the whole check")
    args = p.parse_args(argv)
    mode = CPU if args.cpu else GPU
    args.out.mkdir(parents=True, exist_ok=True)
    budget = args.minutes * 60.0
    present = {fw: _importable(module) for fw, module in FRAMEWORK_MODULES.items()}
    impls = {name: impl for name, impl in discover_impls(REPO / "impls").items() if present.get(impl.framework)}
    config = load_config(mode.config)
    data = synthetic_mnist(args.out / "synthetic_mnist.npz", n=512)
    rows = environment(present)
    rows += twins(mode, config, impls, data, args.out, 0.2 * budget)
    rows += benchmark(mode, impls, data, args.out, 0.2 * budget)
    rows += seed_groups(mode, config, impls, data, args.out, 0.3 * budget)
    rows += snakemake_slice(mode, impls, args.out, 0.3 * budget)
    (args.out / "gpu_check.md").write_text(table(rows, mode))
    print(table(rows, mode))
    return 1 if any(r.result == "FAIL" for r in rows) else 0


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
