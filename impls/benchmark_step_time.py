"""Step time of each impl on every recipe x model of the named configs, as one table.

    python impls/benchmark_step_time.py [--configs quick study] [--threads 1] [--repeat 3]
        [--device cpu|cuda|auto] [--compile both|on|off] [--impls pytorch tensorflow] [--steps N]

The same measurement as the pipeline's exclusive `benchmark` rule (ganbench.benchmark):
each (config, recipe x model) times every impl through its real entry point, each
repetition a separate process with a fixed thread count (default 1), the impls'
repetitions interleaved; the number is the median over repetitions of each run's
median step time (first step and setup apart). `--compile both` times the eager and the
whole-step-captured engines side by side and prints the speed-up. Its whole output
(``> docs/speed/benchmark-<config>-<date>.log 2>&1``) is what ``./ganbench run -n`` reads back
for its study-time estimate (ganbench.step_times).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from ganbench.benchmark import benchmark_shape, shape_spec, shapes
from ganbench.config import load_config
from ganbench.impls import discover_impls
from ganbench.step_times import size_label
from ganbench.provenance import cpu_model


def config_path(name: str) -> Path:
    """config/NAME.yaml (study = config/config.yaml), .test/config/NAME.yaml, or a path."""
    if name.endswith((".yaml", ".yml")):
        return Path(name)
    shipped = REPO / "config" / ("config.yaml" if name == "study" else f"{name}.yaml")
    return shipped if shipped.is_file() else REPO / ".test" / "config" / f"{name}.yaml"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO / "results" / "data" / "mnist.npz")
    p.add_argument("--impls", nargs="+", default=None, help="default: every impl folder")
    p.add_argument("--configs", nargs="+", default=["quick", "study"], help="configs whose recipe sizes to time")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per timed run")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--compile", default="off", choices=["off", "on", "both"],
                   help="whole-step capture (torch.compile / XLA): off, on, or both side by side")
    p.add_argument("--steps", type=int, default=0, help="timed iterations per run (default: the config's)")
    p.add_argument("--repeat", type=int, default=3, help="interleaved runs per impl")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    p.add_argument("--shapes", nargs="+", default=None, help="only these <recipe>-<model> shapes")
    args = p.parse_args(argv)
    if not args.data.is_file():
        p.error(f"{args.data} not found; build it with: python -m ganbench.data --out {args.data}")
    found = discover_impls(REPO / "impls")
    names = args.impls or sorted(found)
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    device = args.device if args.device != "auto" else ("cuda" if shutil.which("nvidia-smi") else "cpu")
    # the line ganbench.step_times reads back: where these times were measured
    print(f"# machine: {cpu_model()} ({os.cpu_count()} cores); device {device}; threads {args.threads}; "
          f"{datetime.date.today()}", file=sys.stderr)
    rows = []
    for config_arg in args.configs:
        config = load_config(config_path(config_arg))
        config_name = Path(config_arg).stem if config_arg.endswith((".yaml", ".yml")) else config_arg
        config.update(device=args.device, impls=names)
        config["benchmark"].update(threads=args.threads, repeats=args.repeat)
        if args.steps:
            config["benchmark"]["steps"] = {"basic": args.steps, "dcgan": args.steps}
        for shape in [s for s in shapes(config, names) if args.shapes is None or s in args.shapes]:
            model = shape.rsplit("-", 1)[1]
            impls = {n: found[n].entry for n in names if model in found[n].models}
            for compiled in modes:
                config["compile"] = compiled
                label = size_label(shape_spec(config, shape, names[0]))
                print(f"{config_name} {shape} ({label}) compile={compiled}", file=sys.stderr)
                record = benchmark_shape(config, shape, impls, args.data)
                for row in record["rows"]:
                    rows.append(dict(row, config=config_name, size=label))
    eager = {(r["config"], r["shape"], r["impl"]): r["median_step_ms"] for r in rows if not r["compile"]}
    head = (f"{'config':7s} {'shape':24s} {'size':38s} {'impl':11s} {'compile':7s} {'ms/step':>9s} "
            f"{'images/s':>9s} {'first step s':>12s} {'speed-up':>8s}  all runs' ms/step")
    print(head)
    print("-" * len(head))
    for r in rows:
        base = eager.get((r["config"], r["shape"], r["impl"]))
        speedup = f"{base / r['median_step_ms']:8.2f}" if r["compile"] and base and r["median_step_ms"] else " " * 8
        print(f"{r['config']:7s} {r['shape']:24s} {r['size']:38s} {r['impl']:11s} {str(bool(r['compile'])):7s} "
              f"{r['median_step_ms']:9.2f} {r['images_per_s'] or 0:9.0f} {r['first_step_s'] or 0:12.2f} {speedup}  "
              f"{r['all_median_step_ms']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
