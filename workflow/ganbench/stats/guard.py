"""The "did it learn" guard: an observation's baseline arm must have trained before its
verdict can be a finding.

The baseline is the recipe's own setting (the arm with no deviations: the source's setup,
which the source reports as trained); where it is the treatment (e.g. leaky ReLU in the
notebook's recipe) the guard checks the treatment, so a claim that the control learns
*worse* is not silenced by the control learning worse. Where neither arm is the recipe
itself, the control is the baseline.

Rule (per observation and model): at least half of the baseline arm's seeds finished
without diverging, and every finished baseline run covers at least ``MIN_CLASSES`` digit
classes with FID <= ``max_fid(model, image size)`` (this suite's MNIST-classifier feature
space). Otherwise the verdict is "inconclusive: the baseline did not train", with the
figures. For stability claims the same rule applies: a treatment that diverges says
something only against a baseline that trained.

Thresholds (FID in the MNIST feature space; real-data floor ~3, one digit ~1355, a
clearly trained BasicGAN ~350-450, the untrained quick study 920-970 with 1 class):

* 28 px (BasicGAN) and 32 px (DCGAN, whose 32 -> 28 crop round trip is exact, so it is
  scored against the same 28 px reference): FID <= 450.
* 64 px (DCGAN scored against the 28 -> 64 -> 28 reference): the same content scores ~37%
  lower there (digits 0-4 only: 159 vs 250, ratio 0.64), so 450 x 0.64 = 285.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

MIN_CLASSES = 8
MAX_FID_28 = 450.0
RATIO_64_TO_28 = 159.0 / 250.0
MAX_FID: dict[tuple[str, int], float] = {
    ("basic", 28): MAX_FID_28,
    ("dcgan", 32): MAX_FID_28,
    ("dcgan", 64): round(MAX_FID_28 * RATIO_64_TO_28),
}

RULE = (f"The baseline arm (the recipe's own setting: the source's setup, which the source reports as trained; "
        f"the control arm where neither arm is the recipe itself) trained when at least half of its seeds finished "
        f"without diverging and every finished baseline run covers >= {MIN_CLASSES} classes with FID <= the threshold for its model and "
        f"resolution: BasicGAN 28 px {MAX_FID[('basic', 28)]:g}; DCGAN 32 px {MAX_FID[('dcgan', 32)]:g} "
        f"(exact crop to the same 28 px reference); DCGAN 64 px {MAX_FID[('dcgan', 64)]:g} (the 64 px reference "
        "scores the same content ~37% lower: 450 x 159/250). Otherwise: 'inconclusive: the baseline did not "
        "train', never a finding.")


def max_fid(model: str, image_size) -> float:
    try:
        size = int(image_size)
    except (TypeError, ValueError):
        return math.nan
    if (model, size) in MAX_FID:
        return MAX_FID[(model, size)]
    if size <= 32:
        return MAX_FID_28
    if size == 64:
        return MAX_FID[("dcgan", 64)]
    return math.nan


def failed_to_learn(rows: pd.DataFrame) -> pd.Series:
    """Per finished run: True when it diverged, or finished without learning by the per-run rule
    (fewer than MIN_CLASSES classes, or FID over its model's threshold); unmeasured = False."""
    limits = np.array([max_fid(m, s) for m, s in zip(rows["model"], rows["image_size"])], dtype=float)
    fid = rows["fid"].to_numpy(float)
    classes = rows["classes_covered"].to_numpy(float)
    bad = (np.isfinite(fid) & np.isfinite(limits) & (fid > limits)) | (np.isfinite(classes) & (classes < MIN_CLASSES))
    return pd.Series((rows["status"].to_numpy() == "diverged") | ((rows["status"].to_numpy() == "ok") & bad),
                     index=rows.index)


def check(control: pd.DataFrame) -> dict:
    """{"state": "passed" | "failed" | "unknown", "reason": ..., figures}."""
    done = control[control["status"] != "failed"]
    seeds = done["seed"].dropna().unique()
    out = {"state": "unknown", "reason": "", "n_seeds": len(seeds)}
    if len(seeds) == 0:
        out["reason"] = "no finished baseline run"
        return out
    ok = done[done["status"] == "ok"]
    ok_seeds = ok["seed"].dropna().unique()
    out.update(n_ok_seeds=len(ok_seeds), fid_max=float(ok["fid"].max()) if len(ok) else math.nan,
               classes_min=float(ok["classes_covered"].min()) if len(ok) else math.nan)
    if len(ok_seeds) * 2 < len(seeds):
        out["state"] = "failed"
        out["reason"] = (f"every baseline run diverged ({len(seeds)} seeds)" if len(ok_seeds) == 0 else
                         f"only {len(ok_seeds)} of {len(seeds)} control seeds finished without diverging")
        return out
    limits = np.array([max_fid(m, s) for m, s in zip(ok["model"], ok["image_size"])], dtype=float)
    fid = ok["fid"].to_numpy(float)
    classes = ok["classes_covered"].to_numpy(float)
    known = np.isfinite(fid) & np.isfinite(classes) & np.isfinite(limits)
    bad = known & ((fid > limits) | (classes < MIN_CLASSES))
    if bad.any():
        worst = ok[bad]
        out["state"] = "failed"
        out["reason"] = (f"{int(bad.sum())} of {len(ok)} finished baseline runs miss the rule (FID up to "
                         f"{worst['fid'].max():.0f} vs <= {np.nanmax(limits[bad]):.0f}; classes down to "
                         f"{worst['classes_covered'].min():.0f} vs >= {MIN_CLASSES})")
        return out
    if not known.all():
        out["reason"] = "FID / classes covered not measured for every baseline run (or no threshold for its size)"
        return out
    out["state"] = "passed"
    out["reason"] = (f"{len(ok_seeds)} of {len(seeds)} control seeds finished; FID <= {fid.max():.0f}, "
                     f">= {classes.min():.0f} classes")
    return out
