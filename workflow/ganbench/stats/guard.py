"""The "did it learn" guard: an observation's baseline arm must have trained before its
verdict can be a finding.

The baseline is the recipe's own setting (the arm with no deviations: the source's setup,
which the source reports as trained); where it is the treatment (e.g. leaky ReLU in the
notebook's recipe) the guard checks the treatment, so a claim that the control learns
*worse* is not silenced by the control learning worse. Where neither arm is the recipe
itself, the control is the baseline.

Rule (per observation and model): at least half of the baseline arm's seeds finished
without diverging, and every finished baseline run scores FID <= ``max_fid(model, image
size, dataset)`` and, on datasets with classes, covers at least ``MIN_CLASSES`` of them.
Otherwise the verdict is "inconclusive: the baseline did not train", with the figures. For
stability claims the same rule applies: a treatment that diverges says something only
against a baseline that trained.

Thresholds, per dataset (each FID lives in its dataset's own feature space):

* MNIST (the committed MNIST classifier; real-data floor ~3, one digit ~1355, a clearly
  trained BasicGAN ~350-450, the untrained quick study 920-970 with 1 class): 28 px
  (BasicGAN) and 32 px (DCGAN, whose 32 -> 28 crop round trip is exact, so it is scored
  against the same 28 px reference): FID <= 450. 64 px (DCGAN scored against the
  28 -> 64 -> 28 reference): the same content scores ~37% lower there (digits 0-4 only:
  159 vs 250, ratio 0.64), so 450 x 0.64 = 286.
* Fashion-MNIST (its own classifier, whose FIDs are ~2.8x smaller: one repeated training
  image scores 489 against MNIST's 1355): the MNIST thresholds scaled by 489/1355, i.e. the
  same fraction of the one-image score: 162 (28/32 px), 103 (64 px). Checked at the quick
  budgets (TensorFlow, seed 0, 10k samples; docs/budgets/curves-quick-fashion.csv): the
  carpedm20 DCGAN passes with margin (1500 steps: FID 93, 10 classes), the BasicGAN recipes
  do not yet (vanilla 20k steps: 187, 7 classes; the BasicGAN post's 20k: 261, 4 classes),
  so a Fashion-MNIST study needs longer BasicGAN budgets than the MNIST quick study.
* CelebA (Inception-v3, 64 px RGB; no classes, so FID alone): FID <= 150. Not measured by
  this suite (no CelebA offline): published DCGANs reach ~15-50 on 64 px CelebA, while noise,
  blobs or one repeated face score > 300; 150 sits between, and a run there shows faces.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

MIN_CLASSES = 8
MAX_FID_28 = 450.0
RATIO_64_TO_28 = 159.0 / 250.0
FASHION_TO_MNIST = 489.0 / 1355.0  # one repeated training image: Fashion-MNIST net vs MNIST net
MAX_FID_CELEBA = 150.0


def _pixel_thresholds(at_28: float) -> dict[tuple[str, int], float]:
    return {("basic", 28): at_28, ("dcgan", 32): at_28, ("dcgan", 64): round(at_28 * RATIO_64_TO_28)}


MAX_FID_BY_DATASET: dict[str, dict[tuple[str, int], float]] = {
    "mnist": _pixel_thresholds(MAX_FID_28),
    "fashion_mnist": _pixel_thresholds(round(MAX_FID_28 * FASHION_TO_MNIST)),
    "celeba": {("basic", 64): MAX_FID_CELEBA, ("dcgan", 64): MAX_FID_CELEBA, ("dcgan", 32): MAX_FID_CELEBA},
}
# datasets whose evaluator counts classes (the guard's collapse check); CelebA has none
CLASSES_BY_DATASET = {"mnist": MIN_CLASSES, "fashion_mnist": MIN_CLASSES, "celeba": None}


def _fmt(dataset: str) -> str:
    t = MAX_FID_BY_DATASET[dataset]
    return "; ".join(f"{m} {s} px {v:g}" for (m, s), v in sorted(t.items()))


RULE = (f"The baseline arm (the recipe's own setting: the source's setup, which the source reports as trained; "
        f"the control arm where neither arm is the recipe itself) trained when at least half of its seeds finished "
        f"without diverging and every finished baseline run scores FID <= the threshold for its dataset, model and "
        f"resolution and, where the dataset has classes, covers >= {MIN_CLASSES} of them. MNIST: {_fmt('mnist')} "
        f"(DCGAN 32 px crops exactly to the 28 px reference; the 64 px reference scores the same content ~37% lower: "
        f"450 x 159/250). Fashion-MNIST (its own network, FIDs ~2.8x smaller): the MNIST thresholds x 489/1355: "
        f"{_fmt('fashion_mnist')}. CelebA (Inception-v3, no classes): {_fmt('celeba')}, from published ranges, "
        "not measured here. Otherwise: 'inconclusive: the baseline did not train', never a finding.")


def _dataset_of(row) -> str:
    value = row.get("dataset") if hasattr(row, "get") else None
    return value if isinstance(value, str) and value else "mnist"


def max_fid(model: str, image_size, dataset: str = "mnist") -> float:
    try:
        size = int(image_size)
    except (TypeError, ValueError):
        return math.nan
    table = MAX_FID_BY_DATASET.get(dataset)
    if table is None:
        return math.nan
    return table.get((model, size), math.nan)


def min_classes(dataset: str = "mnist") -> int | None:
    """The classes a trained run must cover on ``dataset`` (None: the dataset has no classes)."""
    return CLASSES_BY_DATASET.get(dataset, MIN_CLASSES)


def run_limits(row) -> tuple[float, int | None]:
    """(FID limit, classes needed or None) of one run, by its dataset, model and resolution."""
    dataset = _dataset_of(row)
    return max_fid(row["model"], row["image_size"], dataset), min_classes(dataset)


def run_verdict(row) -> tuple[str, float, int | None]:
    """(verdict, FID limit, classes needed) of one run against the per-run rule: 'passes', 'misses',
    'not measured', or the run's status when it did not finish ('diverged', 'failed')."""
    limit, need = run_limits(row)
    if row["status"] != "ok":
        return str(row["status"]), limit, need
    fid = float(row["fid"]) if row.get("fid") is not None else math.nan
    classes = float(row["classes_covered"]) if row.get("classes_covered") is not None else math.nan
    if (math.isfinite(fid) and math.isfinite(limit) and fid > limit) or (
            need is not None and math.isfinite(classes) and classes < need):
        return "misses", limit, need
    if not (math.isfinite(fid) and math.isfinite(limit)) or (need is not None and not math.isfinite(classes)):
        return "not measured", limit, need
    return "passes", limit, need


def failed_to_learn(rows: pd.DataFrame) -> pd.Series:
    """Per finished run: True when it diverged, or finished without learning by the per-run rule
    (FID over its threshold, or too few classes covered); unmeasured = False."""
    return pd.Series([run_verdict(r)[0] in ("diverged", "misses") for _, r in rows.iterrows()],
                     index=rows.index, dtype=bool)


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
    verdicts = [run_verdict(r) for _, r in ok.iterrows()]
    states = np.array([v[0] for v in verdicts])
    limits = np.array([v[1] for v in verdicts], dtype=float)
    needs = [v[2] for v in verdicts]
    uses_classes = any(n is not None for n in needs)
    bad = states == "misses"
    if bad.any():
        worst = ok[bad]
        out["state"] = "failed"
        classes = (f"; classes down to {worst['classes_covered'].min():.0f} vs >= {max(n for n in needs if n)}"
                   if uses_classes else "")
        out["reason"] = (f"{int(bad.sum())} of {len(ok)} finished baseline runs miss the rule (FID up to "
                         f"{worst['fid'].max():.0f} vs <= {np.nanmax(limits[bad]):.0f}{classes})")
        return out
    if (states != "passes").any():
        out["reason"] = ("FID" + (" / classes covered" if uses_classes else "")
                         + " not measured for every baseline run (or no threshold for its size)")
        return out
    out["state"] = "passed"
    fid = ok["fid"].to_numpy(float)
    classes = f", >= {ok['classes_covered'].min():.0f} classes" if uses_classes else ""
    out["reason"] = f"{len(ok_seeds)} of {len(seeds)} control seeds finished; FID <= {fid.max():.0f}{classes}"
    return out
