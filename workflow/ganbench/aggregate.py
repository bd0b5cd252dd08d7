"""Collect every run of a study into one tidy table: results/<study>/summary.csv.

One row per run: its recipe and deviations, factors, status, evaluation metrics
(none for a diverged run), learning-curve endpoints (FID at mid-training and at the
end, from the same number of curve samples), training endpoints from log.csv and
timing:

* ``final_*``: means over the last 10% of log rows; ``final_d_gap`` = D(x) - D(G(z)).
* ``d_collapse_frac``: the fraction of logged steps in the second half of training
  whose d_loss is below 0.1 (D's loss collapsed toward zero).
* ``d_probe_gap``: mean D(x) on a fixed batch of training images minus mean D(x) on a
  fixed batch of held-out test images, over the last 10% of log rows (how much D
  has memorised its training data).
* ``d_heldout_sep``: mean D(x) on the held-out test images minus mean D(G(z)), over the
  last 10% of log rows: how well D still tells unseen real images from fakes (a damaged D
  separates them less).
* ``loss_dominance``: the mean of log(g_loss / d_loss) over the logged steps of the second
  half of training: > 0 when D "crushes" G (D's loss small, G's large, the BasicGAN post's
  picture of one network dominating), < 0 the other way round; rows with a loss <= 0 (the
  minimax G loss is negative) or not finite are left out.
* ``g_grad_late``: the mean of log(g_grad_norm) over the second half (the gradient of G's loss
  at G's first layer on a fixed noise batch, runkit.gradient_flow; BasicGAN only), and
  ``g_dead_late``: the mean share of G's hidden units off for every probe sample.

From the learning curve (metrics.json "curve"):

* ``fid_mid`` / ``fid_end_curve``: FID of the curve samples at mid-training and at the end;
* ``fid_trend_late``: the least-squares change of log FID over the second half of training,
  through the curve points at >= 50% of the steps (mid, ..., end): below 0 while FID still
  falls, about 0 once it has converged, above 0 when it gets worse.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.grid import expand_runs

METRIC_COLUMNS = (
    "fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall", "density",
    "coverage", "classes_covered", "class_kl", "diversity", "fid_inception",
    "is_inception_mean", "is_inception_std",
)
TIMING_COLUMNS = (
    "device", "framework", "framework_version", "setup_s", "first_step_s", "train_s",
    "median_step_ms", "images_per_s", "peak_host_mb", "peak_device_mb",
)
FINAL_FRACTION = 0.1  # training statistics are averaged over the last 10% of log rows
COLLAPSE_D_LOSS = 0.1  # a logged step whose d_loss is below this counts as D's loss collapsed
COLLAPSE_FROM = 0.5  # ... counted over the second half of training
MID_FRACTION = 0.5  # the learning-curve point reported as "mid-training"


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def training_endpoints(log_csv: Path, steps: int) -> dict:
    """End-of-training statistics from log.csv (see the module doc of each column)."""
    names = ("d_loss", "g_loss", "d_real", "d_fake")
    out = {f"final_{n}": math.nan for n in (*names, "d_gap")}
    out.update(d_collapse_frac=math.nan, d_probe_gap=math.nan, d_heldout_sep=math.nan, loss_dominance=math.nan,
               g_grad_late=math.nan, g_dead_late=math.nan)
    if not log_csv.is_file():
        return out
    log = pd.read_csv(log_csv)
    if log.empty:
        return out
    tail = log.tail(max(1, math.ceil(len(log) * FINAL_FRACTION)))
    out.update({f"final_{n}": float(tail[n].mean()) for n in names})
    out["final_d_gap"] = out["final_d_real"] - out["final_d_fake"]
    late = log[log["step"] > COLLAPSE_FROM * steps]
    if len(late):
        out["d_collapse_frac"] = float((late["d_loss"] < COLLAPSE_D_LOSS).mean())
        g, d = late["g_loss"].to_numpy(float), late["d_loss"].to_numpy(float)
        ok = np.isfinite(g) & np.isfinite(d) & (g > 0) & (d > 0)
        if ok.any():
            out["loss_dominance"] = float(np.mean(np.log(g[ok] / d[ok])))
        if "g_grad_norm" in late:  # logs written before the gradient-flow columns have neither
            grad = late["g_grad_norm"].to_numpy(float)
            grad = grad[np.isfinite(grad) & (grad > 0)]
            if len(grad):
                out["g_grad_late"] = float(np.mean(np.log(grad)))
            dead = late["g_dead_frac"].to_numpy(float)
            if np.isfinite(dead).any():
                out["g_dead_late"] = float(np.nanmean(dead))
    if {"d_probe_train", "d_probe_test"} <= set(log.columns):
        gap = (tail["d_probe_train"] - tail["d_probe_test"]).dropna()
        if len(gap):
            out["d_probe_gap"] = float(gap.mean())
        sep = (tail["d_probe_test"] - tail["d_fake"]).dropna()
        if len(sep):
            out["d_heldout_sep"] = float(sep.mean())
    return out


def curve_endpoints(curve: list[dict]) -> dict:
    """FID and classes covered at mid-training and at the end, from the learning-curve points."""
    out = {"fid_mid": math.nan, "classes_mid": math.nan, "fid_end_curve": math.nan, "curve_n": math.nan,
           "fid_trend_late": late_fid_trend(curve)}
    if not curve:
        return out
    mid = min(curve, key=lambda p: abs((p.get("fraction") or 0) - MID_FRACTION))
    if abs((mid.get("fraction") or 0) - MID_FRACTION) < 0.1:
        out["fid_mid"] = _number(mid.get("fid"))
        out["classes_mid"] = _number(mid.get("classes_covered"))
    end = max(curve, key=lambda p: p.get("fraction") or 0)
    if (end.get("fraction") or 0) >= 1.0:
        out["fid_end_curve"] = _number(end.get("fid"))
    out["curve_n"] = _number(mid.get("n"))
    return out


def late_fid_trend(curve: list[dict]) -> float:
    """The fitted change of log FID from mid-training to the end: the least-squares slope of log
    FID against the fraction of training, over the curve points at >= MID_FRACTION, times the
    half's length. NaN unless the points reach from mid-training (within 0.05) to the end."""
    points = sorted((float(p["fraction"]), float(p["fid"])) for p in curve
                    if p.get("fraction") is not None and p.get("fid") is not None
                    and float(p["fraction"]) >= MID_FRACTION - 0.05 and math.isfinite(float(p["fid"]))
                    and float(p["fid"]) > 0)
    if len(points) < 2 or points[0][0] > MID_FRACTION + 0.05 or points[-1][0] < 1.0:
        return math.nan
    fractions, fids = zip(*points)
    slope = float(np.polyfit(fractions, np.log(fids), 1)[0])
    return slope * (1.0 - MID_FRACTION)


def _number(value) -> float:
    return math.nan if value is None else float(value)


def run_row(run_dir: Path, spec: dict, sets: list[str], impl_framework: str | None = None) -> dict:
    status = read_json(run_dir / "status.json")
    timing = read_json(run_dir / "timing.json")
    evaluation = read_json(run_dir / "metrics.json")
    metrics = evaluation.get("metrics", {})
    arch = spec.get("arch", {})
    row = {
        "run_id": spec["run_id"],
        "study": spec["study"],
        "impl": spec["impl"],
        "model": spec["model"],
        "dataset": spec.get("dataset", "mnist"),
        "recipe": spec.get("recipe", ""),
        "deviations": json.dumps(spec.get("deviations", {}), sort_keys=True),
        "prior": spec["prior"],
        "d_steps": spec["d_steps"],
        "g_steps": spec["g_steps"],
        "schedule": f"{spec['d_steps']}:{spec['g_steps']}",
        "g_loss": spec["g_loss"],
        "label_smoothing": spec["label_smoothing"],
        "freeze_d": spec["freeze_d"],
        "fresh_noise": spec["fresh_noise"],
        "optim_preset": spec["optim_preset"],
        "hidden_activation": arch.get("hidden_activation", "") if spec["model"] == "basic" else "",
        "output": arch.get("output", "") if spec["model"] == "basic" else "tanh",
        "batch_norm": arch.get("batch_norm", True) if spec["model"] == "dcgan" else "",
        "seed": spec["seed"],
        "steps": spec["steps"],
        "batch_size": spec["batch_size"],
        "image_size": spec["image_size"],
        "images_seen": spec["steps"] * spec["batch_size"] * spec["d_steps"],
        **parameter_counts(spec),
        "sets": ";".join(sets),
        "run_dir": str(run_dir),
        "status": status.get("status", "failed"),
        "diverged_step": status.get("step", math.nan),
        "status_reason": status.get("reason", "" if status else "no status.json: the run did not finish"),
    }
    row.update({name: _number(metrics.get(name)) for name in METRIC_COLUMNS})
    row["extractor_fid"] = evaluation.get("extractor", {}).get("fid", "")
    row.update(curve_endpoints(evaluation.get("curve", [])))
    row.update(training_endpoints(run_dir / "log.csv", spec["steps"]))
    row.update({name: timing.get(name, math.nan) for name in TIMING_COLUMNS})
    if not isinstance(row["framework"], str) or not row["framework"]:
        row["framework"] = impl_framework or spec["impl"]
    for key in ("median_step_ms", "images_per_s"):
        value = row[key]
        row[key] = math.nan if value is None else value
    return row


def parameter_counts(spec: dict) -> dict:
    """Trainable scalars of G and D (BN running statistics excluded), from the canonical
    parameter list every impl matches (runkit.params); NaN for a spec it cannot read."""
    from ganbench.runkit.params import param_specs

    try:
        specs = param_specs(spec)
    except (KeyError, TypeError, ValueError):
        return {"params_g": math.nan, "params_d": math.nan}
    return {f"params_{net.lower()}": int(sum(math.prod(p.shape) for p in specs
                                             if p.trainable and p.name.startswith(net + "/")))
            for net in ("G", "D")}


def summarise(config: dict, runs_dir: Path, only: list[str] | None = None) -> pd.DataFrame:
    """One row per planned run (``only``: these run ids, e.g. one look's; in plan order)."""
    runs = expand_runs(config, config["impls"])
    if only is not None:
        unknown = sorted(set(only) - set(runs))
        if unknown:
            raise SystemExit(f"error: --runs names runs the config does not plan: {unknown[:5]}")
        runs = {run_id: run for run_id, run in runs.items() if run_id in set(only)}
    rows = []
    for run_id, run in runs.items():
        run_dir = runs_dir / run_id
        spec = read_json(run_dir / "spec.json") or run.spec
        rows.append(run_row(run_dir, spec, run.sets))
    frame = pd.DataFrame(rows)
    front = ["run_id", "study", "impl", "framework"]
    return frame[front + [c for c in frame.columns if c not in front]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="resolved config.json of the study")
    parser.add_argument("--runs-dir", required=True, type=Path)
    parser.add_argument("--runs", nargs="*", default=None,
                        help="only these run ids (one look of the sequential design; default: every planned run)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    frame = summarise(json.loads(args.config.read_text()), args.runs_dir, args.runs)
    tmp = args.out.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(args.out)
    counts = frame["status"].value_counts().to_dict()
    print(f"wrote {args.out}: {len(frame)} runs {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
