"""The exclusive step-time benchmark: each impl's real entry point, alone on the machine.

One benchmark job per *shape* (a recipe's model: the network, batch size and
schedule a study trains) times every impl of the study on it. Repetitions are
interleaved across impls (impl A, impl B, impl A, ...), so a slow phase of the
machine hits every framework alike; each repetition is an ordinary training
run of the recipe's spec, cut to a few iterations, in its own process with a
fixed thread count. The numbers are those runs' timing.json (median over
synchronised log chunks, first step and setup apart). The Snakemake rule gives
the job every core (and every GPU of the study, claiming one), so nothing else
runs beside it.

    python -m ganbench.benchmark --config results/<study>/config.json --shape basic_tutorial-basic \
        --data results/data/mnist.npz --out results/<study>/benchmark/basic_tutorial-basic.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ganbench.grid import arm_factors, make_spec, planned_arms
from ganbench.impl_entry import entry_command
from ganbench.launch import child_env

REPO = Path(__file__).resolve().parents[2]  # the checkout: the package is installed from it, editable

TIMING_KEYS = ("median_step_ms", "images_per_s", "first_step_s", "setup_s", "peak_host_mb", "peak_device_mb")


def shape_impls(config: dict, impl_names: list[str]) -> dict[str, list[str]]:
    """``<recipe>-<model>`` -> the impls the study trains it in, for every recipe and model, stably ordered."""
    found: dict[str, list[str]] = {}
    for arm in planned_arms(config, impl_names):
        impls = found.setdefault(f"{arm.recipe}-{arm.factors['model']}", [])
        impls.extend(i for i in arm.impls if i not in impls)
    return {shape: sorted(impls) for shape, impls in found.items()}


def shapes(config: dict, impl_names: list[str]) -> list[str]:
    """``<recipe>-<model>`` for every recipe and model the study trains, in a stable order."""
    return list(shape_impls(config, impl_names))


def shape_spec(config: dict, shape: str, impl: str) -> dict:
    """The recipe's own spec for the shape's model, cut to the benchmark's iterations."""
    recipe_name, model = shape.rsplit("-", 1)
    recipe = config["recipes"][recipe_name]
    deviations = {} if model == recipe["model"] else {"model": model}
    spec = make_spec(config, impl, recipe_name, arm_factors(recipe, deviations), seed=0)
    bench = config["benchmark"]
    steps = bench["steps"][model]
    spec.update(run_id=f"benchmark-{impl}-{shape}", steps=steps, eval_samples=16, grid_size=16, grid_every=0,
                log_every=max(1, steps // 6), probe_size=0, curve_fractions=[])
    return spec


def run_once(spec: dict, impl_entry: Path, data: Path, workdir: Path, gpu: str, threads: int) -> dict:
    out = workdir / spec["run_id"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps(spec))
    t = time.monotonic()
    proc = subprocess.run([*entry_command(impl_entry), "--spec", str(out / "spec.json"), "--data", str(data),
                           "--out", str(out)], env=child_env(gpu, threads), capture_output=True, text=True)
    wall = time.monotonic() - t
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise RuntimeError(f"{impl_entry} failed on {spec['run_id']}: {tail}")
    timing = json.loads((out / "timing.json").read_text())
    return {"wall_s": wall, **{k: timing.get(k) for k in (*TIMING_KEYS, "device", "framework",
                                                          "framework_version", "compile")}}


def benchmark_shape(config: dict, shape: str, impls: dict, data: Path, gpu: str = "") -> dict:
    """Interleaved repetitions of every impl on one shape; returns the benchmark record."""
    bench = config["benchmark"]
    specs = {name: shape_spec(config, shape, name) for name in impls}
    runs: dict[str, list[dict]] = {name: [] for name in impls}
    with tempfile.TemporaryDirectory(prefix="ganbench-benchmark-") as tmp:
        for rep in range(bench["repeats"]):
            for name, entry in impls.items():
                r = run_once(specs[name], entry, data, Path(tmp) / f"rep{rep}", gpu, bench["threads"])
                runs[name].append(r)
                print(f"[{rep + 1}/{bench['repeats']}] {name} {shape}: {r['median_step_ms']:.3f} ms/step", flush=True)
    rows = []
    for name, rs in runs.items():
        times = [r["median_step_ms"] for r in rs if r["median_step_ms"] is not None]
        row = {"impl": name, "shape": shape, "model": specs[name]["model"], "batch_size": specs[name]["batch_size"],
               "d_steps": specs[name]["d_steps"], "g_steps": specs[name]["g_steps"], "steps": specs[name]["steps"],
               "repeats": len(rs), "median_step_ms": statistics.median(times) if times else None,
               "all_median_step_ms": [round(t, 4) for t in times]}
        for key in ("images_per_s", "first_step_s", "setup_s", "peak_host_mb", "peak_device_mb"):
            vals = [r[key] for r in rs if r[key] is not None]
            row[key] = statistics.median(vals) if vals else None
        for key in ("device", "framework", "framework_version", "compile"):
            row[key] = rs[-1][key]
        rows.append(row)
    return {"shape": shape, "threads": bench["threads"], "gpu": gpu or None, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    from ganbench.gpu_slots import claim_gpu
    from ganbench.impls import discover_impls

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, type=Path, help="resolved config.json of the study")
    p.add_argument("--shape", required=True, help="<recipe>-<model>")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--gpus", type=int, default=0, help="GPUs the study may claim (0 = CPU)")
    args = p.parse_args(argv)
    config = json.loads(args.config.read_text())
    found = discover_impls(REPO / (config.get("impls_dir") or "impls"))
    names = shape_impls(config, config["impls"] or sorted(found))[args.shape]  # the impls the study trains it in
    impls = {name: found[name].entry for name in names}
    with claim_gpu(args.gpus) as gpu:
        record = benchmark_shape(config, args.shape, impls, args.data, gpu)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
