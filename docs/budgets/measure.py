"""Measure how FID and classes covered evolve with training steps, per recipe x model.

    python docs/budgets/measure.py [--config quick] [--impl tensorflow] [--seed 0]
        [--steps-basic 20000] [--steps-dcgan 4000] [--points 20] [--out docs/budgets]

For every recipe x model the config trains (its own setting, the control arm of
its observations), one run of the impl at a long budget writes learning-curve
samples at `--points` evenly spaced points; the shared evaluator scores each
(curve_samples images, the same noise at every point). Writes curves.csv and
curves.png; docs/budgets/README.md explains the budgets chosen from them.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

from ganbench.benchmark import shape_spec, shapes
from ganbench.config import load_config
from ganbench.impl_entry import entry_command
from ganbench.launch import child_env


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="quick", help="a config name under config/ or a .yaml path")
    p.add_argument("--impl", default="tensorflow")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps-basic", type=int, default=20000)
    p.add_argument("--steps-dcgan", type=int, default=4000)
    p.add_argument("--points", type=int, default=20)
    p.add_argument("--shapes", nargs="*", default=None, help="default: every recipe x model of the config")
    p.add_argument("--data", type=Path, default=REPO / "results" / "data" / "mnist.npz")
    p.add_argument("--work", type=Path, default=REPO / "results" / "budgets")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "budgets")
    args = p.parse_args(argv)
    from ganbench.metrics.evaluate import score_curve

    config = load_config(Path(args.config) if args.config.endswith(".yaml") else REPO / "config" / f"{args.config}.yaml")
    rows = []
    for shape in args.shapes or shapes(config, [args.impl]):
        spec = shape_spec(config, shape, args.impl)
        steps = args.steps_basic if spec["model"] == "basic" else args.steps_dcgan
        spec.update(run_id=f"budget-{shape}-s{args.seed}", seed=args.seed, steps=steps,
                    log_every=max(1, steps // 100), eval_samples=config["curve_samples"],
                    curve_fractions=[i / args.points for i in range(1, args.points)],
                    curve_samples=config["curve_samples"], probe_size=0)
        out = args.work / spec["run_id"]
        out.mkdir(parents=True, exist_ok=True)
        (out / "spec.json").write_text(json.dumps(spec))
        if not (out / "status.json").is_file():
            subprocess.run([*entry_command(REPO / "impls" / args.impl), "--spec", str(out / "spec.json"), "--data", str(args.data),
                            "--out", str(out)], env=child_env("", 1), check=True)
        timing = json.loads((out / "timing.json").read_text())
        status = json.loads((out / "status.json").read_text())
        for point in score_curve(out, spec, args.data, REPO / "results" / "cache"):
            rows.append({"shape": shape, "impl": args.impl, "seed": args.seed, "status": status["status"],
                         "ms_per_step": timing["median_step_ms"], **point})
            print(f"{shape} step {point['step']}: fid {point['fid']:.1f} classes {point['classes_covered']} "
                  f"recall {point['recall']:.3f}", flush=True)
    import pandas as pd

    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    csv = args.out / f"curves-{Path(args.config).stem}.csv"
    if csv.is_file() and args.shapes:
        old = pd.read_csv(csv)
        frame = pd.concat([old[~old["shape"].isin(frame["shape"])], frame], ignore_index=True)
    frame.to_csv(csv, index=False)
    plot(frame, args.out / f"curves-{Path(args.config).stem}.png")
    return 0


def plot(frame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for shape, rows in frame.groupby("shape"):
        axes[0].plot(rows["step"], rows["fid"], marker=".", label=shape)
        axes[1].plot(rows["step"], rows["classes_covered"], marker=".", label=shape)
    axes[0].set(xlabel="training step", ylabel="FID (MNIST net, 2000 samples)", yscale="log", title="FID")
    axes[1].set(xlabel="training step", ylabel="classes covered (>= 1%)", title="classes covered", ylim=(0, 10.5))
    axes[0].axhline(450, color="grey", ls="--", lw=0.8)
    axes[1].axhline(8, color="grey", ls="--", lw=0.8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
