"""Tidy summary.csv rows: typed columns, canonical deviations, an arm key per run.

Tolerant of old summaries: a column that is absent stays absent from ``measured`` (an
endpoint on it is "not measured"), never a crash.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ganbench.observations import METRICS

NUMERIC = tuple(METRICS) + (
    "seed", "steps", "batch_size", "image_size", "images_seen", "diverged_step", "kid_std", "is_std",
    "setup_s", "first_step_s", "train_s", "peak_host_mb", "peak_device_mb", "curve_n", "classes_mid",
)
TEXT = ("impl", "framework", "model", "dataset", "recipe", "status_reason", "device", "framework_version",
        "extractor_fid", "run_dir", "study")


def framework_key(name) -> str:
    """Canonical framework name: 'pytorch', 'tensorflow' or the lower-cased text."""
    text = str(name or "").strip().lower()
    if "torch" in text:
        return "pytorch"
    if "tensorflow" in text or text in ("tf", "keras"):
        return "tensorflow"
    return text


def canonical_deviations(value) -> str | None:
    """JSON text with sorted keys; None when missing or unreadable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    try:
        parsed = json.loads(str(value))
    except (TypeError, ValueError):
        return None
    return json.dumps(parsed, sort_keys=True) if isinstance(parsed, dict) else None


def normalize(summary: pd.DataFrame | None) -> tuple[pd.DataFrame, set[str]]:
    """(typed copy, set of metric columns present in the input with at least one value)."""
    df = (summary if summary is not None else pd.DataFrame()).copy().reset_index(drop=True)
    measured = {c for c in df.columns if c in NUMERIC and pd.to_numeric(df[c], errors="coerce").notna().any()}
    if "run_id" not in df:
        df["run_id"] = [f"run{i}" for i in range(len(df))]
    df["run_id"] = df["run_id"].astype(str)
    for col in TEXT:
        if col not in df:
            df[col] = ""
        df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
    df.loc[df["impl"] == "", "impl"] = "unknown"
    df.loc[df["model"] == "", "model"] = "unknown"
    df.loc[df["framework"] == "", "framework"] = df["impl"]
    df["framework_key"] = df["framework"].map(framework_key)
    if "status" not in df:
        df["status"] = "ok"
    status = df["status"].astype(object).where(df["status"].notna(), "failed").astype(str).str.strip().str.lower()
    df["status"] = status.where(status.isin(["ok", "diverged", "failed"]), "failed")
    for col in NUMERIC:
        if col not in df:
            df[col] = np.nan
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["deviations"] = (df["deviations"] if "deviations" in df else pd.Series([None] * len(df), dtype=object)
                        ).map(canonical_deviations)
    has_recipe = (df["recipe"] != "") & df["deviations"].notna()
    df["has_recipe"] = has_recipe
    # Arm key: (recipe, deviations), or for old summaries the factor columns present.
    legacy = [c for c in ("prior", "d_steps", "g_steps", "g_loss", "label_smoothing", "freeze_d", "fresh_noise",
                          "optim_preset", "hidden_activation", "output", "batch_norm", "steps", "batch_size",
                          "image_size") if c in df.columns]
    # map(str), not astype(str): pandas keeps NaN missing under astype(str)
    legacy_key = (df[legacy].apply(lambda col: col.map(str)).agg("|".join, axis=1) if legacy and len(df)
                  else pd.Series("", index=df.index))
    df["arm_key"] = np.where(has_recipe, df["recipe"] + " " + df["deviations"].fillna(""), "legacy " + legacy_key)
    df["condition"] = np.where(has_recipe, df["recipe"] + " " + df["deviations"].fillna("").replace("{}", "(recipe)"),
                               "legacy " + legacy_key)
    df["arm_seed"] = df["arm_key"] + "#" + df["seed"].astype(str)
    return df, measured
