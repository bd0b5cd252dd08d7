"""Synthetic summary.csv rows (new schema: recipe + deviations) with known effects, and
optional tiny run folders. Used by tests/test_stats*.py, tests/test_calibration.py and
tests/test_report.py. No deep-learning framework.

The generator follows the study's design: every arm of every observation (deduplicated),
each run in every impl for every seed. Scores come from a seed-level random-effects model:

    value(arm, seed, impl) = base + effect(arm) + seed_effect(recipe, seed)
                             + arm_seed_noise(arm, seed) + twin_noise(impl)

The seed effect is shared by the arms of a recipe (the seed fixes the initial weights);
the arm x seed noise is shared by a seed's twin impls, which differ only by ``twin_sd``
(near-duplicates, as the real twins are). FID-like scores are generated on the log scale.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.observations import OBSERVATIONS, RECIPE_MODELS

BASE = {
    "log_fid": {"basic": math.log(300.0), "dcgan": math.log(250.0)},
    "recall": 0.30, "coverage": 0.45, "fid_end_vs_mid": -0.20,  # log(end/mid): the end is 18% better
    "d_collapse_frac": 0.30, "d_probe_gap": 0.06, "precision": 0.6, "final_d_gap": 0.3,
    "diversity": 0.75, "fid_trend_late": -0.20, "d_heldout_sep": 0.20, "classes_covered": 10.0,
    "loss_dominance": 0.5, "g_grad_late": -3.0,
}
# noise SDs per seed (shared by the arms of a recipe) and per arm x seed (shared by twins),
# in SESOI units of each endpoint's scale so every endpoint has the same signal to noise
SESOI = {"log_fid": math.log(1.10), "recall": 0.05, "coverage": 0.05, "fid_end_vs_mid": math.log(1.10),
         "d_collapse_frac": 0.10, "d_probe_gap": 0.02, "precision": 0.05, "final_d_gap": 0.05,
         "diversity": 0.05, "fid_trend_late": math.log(1.10), "d_heldout_sep": 0.05, "classes_covered": 1.0,
         "loss_dominance": math.log(1.25), "g_grad_late": math.log(1.25)}
ENDPOINT_KEY = {"fid": "log_fid", "recall": "recall", "coverage": "coverage", "fid_end_vs_mid": "fid_end_vs_mid",
                "d_collapse_frac": "d_collapse_frac", "d_probe_gap": "d_probe_gap", "diversity": "diversity",
                "fid_trend_late": "fid_trend_late", "d_heldout_sep": "d_heldout_sep",
                "classes_covered": "classes_covered", "loss_dominance": "loss_dominance",
                "g_grad_late": "g_grad_late"}
IMAGE_SIZE = {"basic": 28, "dcgan": 32}
CONFIG = {"name": "synthetic", "seeds": [0, 1, 2, 3, 4]}


def design_arms(observations=OBSERVATIONS, extra: tuple = ()) -> list[tuple[str, str]]:
    """Deduplicated (recipe, deviations JSON) of every observation arm (+ ``extra``)."""
    arms = []
    for obs in observations:
        for _, recipe, dev in obs.arms():
            key = (recipe, json.dumps(dev, sort_keys=True))
            if key not in arms:
                arms.append(key)
    for key in extra:
        if key not in arms:
            arms.append(key)
    return arms


def arm_shifts(effects: dict) -> dict:
    """Per (recipe, deviations) and endpoint key: the shift that makes treatment - control
    equal ``effects[obs_id][endpoint]`` (effects on the endpoint's scale, e.g. log FID).
    The shift goes on whichever arm deviates from the recipe."""
    shifts: dict = {}
    for obs in OBSERVATIONS:
        for metric, value in (effects.get(obs.id) or {}).items():
            key = ENDPOINT_KEY.get(metric, metric)
            for recipe in obs.recipes:
                if obs.treatment:
                    arm, sign = (recipe, json.dumps(obs.treatment, sort_keys=True)), 1.0
                else:
                    arm, sign = (recipe, json.dumps(obs.control, sort_keys=True)), -1.0
                shifts.setdefault(arm, {}).setdefault(key, 0.0)
                shifts[arm][key] += sign * value
    return shifts


def make_summary(
    seeds=(0, 1, 2, 3, 4),
    impls=("pytorch", "tensorflow"),
    effects: dict | None = None,
    diverge: dict | None = None,
    seed_sd: float = 1.0,
    arm_sd: float = 0.5,
    twin_sd: float = 1e-4,
    impl_shift: dict | None = None,
    rng_seed: int = 0,
    root: Path | None = None,
    extra_arms: tuple = (),
    untrained: tuple = (),
    drop_columns: tuple = (),
) -> pd.DataFrame:
    """One row per run.

    effects: {obs_id: {endpoint metric: treatment - control on its scale}}.
    diverge: {(recipe, deviations JSON): probability that a seed diverges} (twins together).
    seed_sd / arm_sd / twin_sd: noise SDs in SESOI units of each endpoint.
    impl_shift: {(impl, model): log-FID shift of that impl}.
    untrained: recipes (or (recipe, deviations JSON) arms) whose runs did not learn (FID ~950, 1 class).
    """
    rng = np.random.default_rng(rng_seed)
    shifts = arm_shifts(effects or {})
    diverge = diverge or {}
    impl_shift = impl_shift or {}
    rows = []
    arms = design_arms(extra=extra_arms)
    seed_fx = {(recipe, s): {k: rng.normal(0, seed_sd * SESOI[k]) for k in SESOI}
               for recipe in RECIPE_MODELS for s in seeds}
    for recipe, dev_json in arms:
        dev = json.loads(dev_json)
        model = dev.get("model", RECIPE_MODELS[recipe])
        base_model = RECIPE_MODELS[recipe]
        p_div = diverge.get((recipe, dev_json), 0.0)
        for s in seeds:
            noise = {k: rng.normal(0, arm_sd * SESOI[k]) for k in SESOI}
            diverged = rng.random() < p_div
            for impl in impls:
                v = {}
                for k in SESOI:
                    base = BASE[k][base_model] if k == "log_fid" else BASE[k]
                    v[k] = (base + shifts.get((recipe, dev_json), {}).get(k, 0.0) + seed_fx[(recipe, s)][k]
                            + noise[k] + rng.normal(0, twin_sd * SESOI[k]))
                v["log_fid"] += impl_shift.get((impl, model), 0.0)
                fid = math.exp(v["log_fid"])
                # classes covered: all ten, less an effect's shift, without noise (seed noise would
                # fail the guard's >= 8 classes at random)
                classes = float(np.clip(round(10.0 + shifts.get((recipe, dev_json), {}).get("classes_covered", 0.0)),
                                        0, 10))
                if recipe in untrained or (recipe, dev_json) in untrained:
                    fid, classes = 950.0 + rng.normal(0, 10), 1.0
                run_id = f"{impl}-{recipe}-{'-'.join(f'{a}={b}' for a, b in sorted(dev.items())) or 'recipe'}-s{s}"
                row = {
                    "run_id": run_id, "study": "synthetic", "impl": impl, "framework": impl, "model": model,
                    "recipe": recipe, "deviations": dev_json, "seed": s, "steps": 100, "batch_size": 64,
                    "image_size": IMAGE_SIZE[model], "images_seen": 6400, "run_dir": f"runs/{run_id}",
                    "status": "diverged" if diverged else "ok",
                    "diverged_step": 40.0 if diverged else np.nan,
                    "status_reason": "loss is NaN" if diverged else "",
                    "fid": fid, "fid_end_curve": fid * math.exp(rng.normal(0, 0.01)),
                    "kid_mean": fid / 1000, "is_mean": 9 - fid / 100, "precision": v["precision"],
                    "recall": v["recall"], "coverage": v["coverage"], "density": 1.0,
                    "classes_covered": classes, "class_kl": 0.05, "diversity": v["diversity"],
                    "extractor_fid": "mnist-net:1a2b3c4d", "fid_inception": np.nan,
                    "d_collapse_frac": float(np.clip(v["d_collapse_frac"], 0, 1)), "d_probe_gap": v["d_probe_gap"],
                    "d_heldout_sep": v["d_heldout_sep"], "fid_trend_late": v["fid_trend_late"],
                    "loss_dominance": v["loss_dominance"], "g_grad_late": v["g_grad_late"],
                    "final_d_loss": 1.2, "final_g_loss": 0.9, "final_d_real": 0.6, "final_d_fake": 0.4,
                    "final_d_gap": v["final_d_gap"], "device": "cpu",
                    "framework_version": "9.9.9" if impl == "pytorch" else "8.8.8",
                    "setup_s": 1.0, "first_step_s": 0.5, "train_s": 10.0,
                    "median_step_ms": (5.0 if impl == "pytorch" else 6.0) * math.exp(rng.normal(0, 0.02)),
                    "images_per_s": 1600.0 if impl == "pytorch" else 1333.0, "peak_host_mb": 500.0,
                    "peak_device_mb": np.nan,
                }
                row["fid_mid"] = row["fid_end_curve"] / math.exp(v["fid_end_vs_mid"])
                if diverged:
                    for col in ("fid", "fid_end_curve", "kid_mean", "is_mean", "precision", "recall", "coverage",
                                "density", "classes_covered", "class_kl", "diversity", "fid_mid", "fid_trend_late"):
                        row[col] = np.nan
                rows.append(row)
    df = pd.DataFrame(rows).drop(columns=list(drop_columns))
    if root is not None:
        df["run_dir"] = [str(Path(root) / "runs" / f"r{i}") for i in range(len(df))]
        for i, run_dir in enumerate(df["run_dir"]):
            write_run_folder(Path(run_dir), seed=i)
    return df


def duplicate_impl(df: pd.DataFrame, source: str = "pytorch", name: str = "pytorch_copy") -> pd.DataFrame:
    """The rows of ``source`` copied under a third impl name (a copied impl folder)."""
    copy = df[df["impl"] == source].copy()
    copy["impl"] = name
    copy["run_id"] = name + copy["run_id"].str[len(source):]
    return pd.concat([df, copy], ignore_index=True)


def write_run_folder(path: Path, seed: int = 0, steps: int = 100, log_every: int = 10) -> None:
    from PIL import Image

    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    img = (rng.random((28, 28)) * 255).astype(np.uint8)
    Image.fromarray(img, mode="L").save(path / "grid.png")
    lines = ["step,d_loss,g_loss,d_real,d_fake,d_probe_train,d_probe_test,elapsed_s"]
    for k, step in enumerate(range(0, steps + 1, log_every)):
        lines.append(f"{step},{1.3 - 0.002 * step + rng.normal(0, 0.02):.4f},{0.7 + 0.003 * step:.4f},"
                     f"{0.5 + 0.001 * step:.4f},{0.5 - 0.001 * step:.4f},0.6,0.55,{0.1 * k:.2f}")
    (path / "log.csv").write_text("\n".join(lines) + "\n")
    curve = [{"step": s, "fraction": s / steps, "n": 100, "fid": 500.0 - 2 * s + rng.normal(0, 5),
              "classes_covered": 10, "recall": 0.2, "coverage": 0.4} for s in (25, 50, 75, 100)]
    hist = rng.dirichlet(np.ones(10) * 5).tolist()
    (path / "metrics.json").write_text(json.dumps({"status": "ok", "metrics": {}, "curve": curve,
                                                   "class_hist": hist}))
    (path / "curve").mkdir(exist_ok=True)
    for point in curve:  # the curve samples: 16 images (the progress figure shows 16)
        np.savez(path / "curve" / f"samples_{point['step']}.npz",
                 images=(rng.random((16, 28, 28, 1)) * 255).astype(np.uint8))


SPEED_COLUMNS = ("impl", "shape", "model", "batch_size", "d_steps", "g_steps", "steps", "repeats", "median_step_ms",
                 "images_per_s", "first_step_s", "setup_s", "peak_host_mb", "peak_device_mb", "device", "framework",
                 "framework_version", "compile", "threads", "ratio_to_fastest")


def write_speed_csv(path: Path, step_ms: dict | None = None) -> Path:
    """A benchmark rule's speed.csv: one row per impl x shape. ``step_ms``: {(impl, shape): ms};
    default: PyTorch 2.5 ms and TensorFlow 4.0 ms on a BasicGAN shape (ratio 0.625), 30 / 24 ms on
    a DCGAN shape (ratio 1.25)."""
    step_ms = step_ms or {("pytorch", "basic_tutorial-basic"): 2.5, ("tensorflow", "basic_tutorial-basic"): 4.0,
                          ("pytorch", "dcgan_carpedm20-dcgan"): 30.0, ("tensorflow", "dcgan_carpedm20-dcgan"): 24.0}
    rows = []
    for (impl, shape), ms in step_ms.items():
        model = shape.rsplit("-", 1)[1]
        fastest = min(v for (i, s), v in step_ms.items() if s == shape)
        rows.append({"impl": impl, "shape": shape, "model": model, "batch_size": 64, "d_steps": 1, "g_steps": 2,
                     "steps": 50, "repeats": 3, "median_step_ms": ms, "images_per_s": 64 * 1000 / ms,
                     "first_step_s": 0.2, "setup_s": 1.5, "peak_host_mb": 600.0, "peak_device_mb": np.nan,
                     "device": "cpu", "framework": impl, "framework_version": "1.0", "compile": False,
                     "threads": 1, "ratio_to_fastest": ms / fastest})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(SPEED_COLUMNS)).to_csv(path, index=False)
    return path
