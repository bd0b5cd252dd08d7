"""Report tables: per-condition means, the speed comparison, the excluded-runs list and the
flat observations table written next to the report."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ganbench.observations import METRICS
from ganbench.stats.arms import Exclusion, impl_comparisons
from ganbench.stats.guard import run_verdict
from ganbench.stats.inference import t_interval

QUALITY_METRICS = ("fid", "kid_mean", "is_mean", "precision", "recall", "coverage", "classes_covered")


def condition_table(df: pd.DataFrame, metrics: Sequence[str] = QUALITY_METRICS) -> pd.DataFrame:
    """One row per (model, condition, impl): mean and 95% t-CI over runs that have a score
    (diverged runs are counted in their own column). ``best_<metric>``: best mean among the
    conditions whose every run trained by the guard's per-run rule (``n_trained``), so a collapsed
    arm's precision (one sharp image) or a did-not-learn arm is never marked best."""
    if df.empty:
        return pd.DataFrame()
    rows = []
    for (model, condition, impl), group in df.groupby(["model", "condition", "impl"], sort=True):
        usable = group[group["status"] == "ok"]
        row = {"model": model, "condition": condition, "impl": impl, "framework": group["framework"].iloc[0],
               "recipe": group["recipe"].iloc[0], "n_runs": len(group),
               "n_ok": int((group["status"] == "ok").sum()), "n_diverged": int((group["status"] == "diverged").sum()),
               "n_failed": int((group["status"] == "failed").sum()),
               "n_trained": sum(run_verdict(r)[0] == "passes" for _, r in group.iterrows()),
               "seeds": ",".join(str(int(s)) for s in sorted(group["seed"].dropna().unique())),
               "params_g": group["params_g"].iloc[0] if "params_g" in group else math.nan,
               "params_d": group["params_d"].iloc[0] if "params_d" in group else math.nan,
               "run_ids": list(group.sort_values("seed")["run_id"])}
        for metric in metrics:
            mean, lo, hi, n = t_interval(usable[metric]) if metric in usable else (math.nan,) * 3 + (0,)
            row.update({f"{metric}_mean": mean, f"{metric}_lo": lo, f"{metric}_hi": hi, f"{metric}_n": n})
        rows.append(row)
    table = pd.DataFrame(rows)
    trained = table["n_trained"] == table["n_runs"]
    for metric in metrics:
        col = table[f"{metric}_mean"]
        eligible = col.where(trained)
        better = METRICS[metric].better if metric in METRICS else None
        table[f"best_{metric}"] = False
        if better and eligible.notna().any():
            best = eligible.min() if better == "lower" else eligible.max()
            table[f"best_{metric}"] = np.isclose(col.to_numpy(float), best) & eligible.notna().to_numpy()
    base = ~table["condition"].str.endswith("(recipe)")
    return table.assign(_o=base).sort_values(["model", "_o", "condition", "impl"]).drop(columns="_o").reset_index(drop=True)


def speed(df: pd.DataFrame) -> dict:
    """Per model, every impl vs each reference impl: geometric mean of the step-time ratio over
    runs paired on (arm, seed), averaged per seed first (n = seeds), with a t-CI on the log scale.
    Training jobs share the machine: a benchmark rule's figures, where present, take precedence."""
    out = {"models": [], "impls": sorted(df["impl"].unique()) if len(df) else []}
    ok = df[(df["status"] != "failed") & np.isfinite(df["median_step_ms"]) & (df["median_step_ms"] > 0)]
    for model in sorted(ok["model"].unique()) if len(ok) else []:
        rows = ok[ok["model"] == model]
        entry = {"model": model, "impls": [], "ratios": []}
        for impl, g in rows.groupby("impl"):
            entry["impls"].append({"impl": impl, "median_step_ms": t_interval(g["median_step_ms"]),
                                   "images_per_s": t_interval(g["images_per_s"]),
                                   "first_step_s": float(g["first_step_s"].mean()),
                                   "setup_s": float(g["setup_s"].mean()),
                                   "peak_host_mb": float(g["peak_host_mb"].mean()),
                                   "peak_device_mb": float(g["peak_device_mb"].mean()), "n_runs": len(g)})
        impls = sorted(rows["impl"].unique())
        for a, b in impl_comparisons(impls):
            pa = rows[rows["impl"] == a].groupby(["arm_key", "seed"])["median_step_ms"].mean()
            pb = rows[rows["impl"] == b].groupby(["arm_key", "seed"])["median_step_ms"].mean()
            common = pa.index.intersection(pb.index)
            logs = np.log(pb.loc[common] / pa.loc[common]).groupby(level="seed").mean() if len(common) else pd.Series(dtype=float)
            mean, lo, hi, n = t_interval(logs.to_numpy())
            entry["ratios"].append({"impl": b, "reference": a, "ratio": math.exp(mean) if n else math.nan,
                                    "lo": math.exp(lo) if np.isfinite(lo) else math.nan,
                                    "hi": math.exp(hi) if np.isfinite(hi) else math.nan, "n_seeds": n})
        out["models"].append(entry)
    return out


def excluded_table(df: pd.DataFrame, exclusions: list[Exclusion]) -> list[dict]:
    """One row per run that is left out of at least one test, with every place and why."""
    by_run: dict[str, list[str]] = {}
    for e in exclusions:
        by_run.setdefault(e.run_id, [])
        text = f"{e.where}: {e.reason}"
        if text not in by_run[e.run_id]:
            by_run[e.run_id].append(text)
    info = df.set_index("run_id")[["impl", "model", "seed", "status", "status_reason"]] if len(df) else None
    rows = []
    for rid, reasons in sorted(by_run.items()):
        row = {"run_id": rid, "reasons": reasons}
        if info is not None and rid in info.index:
            r = info.loc[rid]
            if isinstance(r, pd.DataFrame):
                r = r.iloc[0]
            row.update(impl=r["impl"], model=r["model"], seed=r["seed"], status=r["status"],
                       status_reason=r["status_reason"])
        rows.append(row)
    return rows


def observations_frame(analysis: dict) -> pd.DataFrame:
    """One row per (observation, model / comparison, primary endpoint): written as CSV."""
    rows = []
    for res in analysis["observations"]:
        for g in res["groups"] or [{"group": "", "primary": [], "verdict": "", "rule": "", "reason": ""}]:
            for r in g["primary"] or [{}]:
                dec = res.get("decision") or {}
                verdict, reason = (res["shown_verdict"], res["not_run_reason"]) if res.get("not_run") else \
                    (res["verdict"], res["reason"])  # policy.mark_not_run: no run of the claim's arms
                rows.append({"id": res["id"], "verdict": verdict, "rule": res["rule"], "reason": reason,
                             "status": dec.get("status"), "look": dec.get("look"), "looks": dec.get("looks"),
                             "look_n": dec.get("n"), "next_n": dec.get("next_n"),
                             "group": g["group"], "group_verdict": g["verdict"], "group_reason": g["reason"],
                             "endpoint": r.get("metric"), "scale": r.get("scale"), "expected": r.get("expected"),
                             "sesoi": r.get("sesoi"), "endpoint_verdict": r.get("verdict"),
                             "endpoint_rule": r.get("rule"), "estimate": r.get("estimate"),
                             "ci_lo": r.get("ci_lo"), "ci_hi": r.get("ci_hi"), "p": r.get("p"),
                             "p_holm": r.get("p_holm"), "p_holm_study": r.get("p_holm_study"), "m": r.get("m"),
                             "crit_p": r.get("crit_p"), "p_ruled": r.get("p_ruled"),
                             "p_ruled_holm": r.get("p_ruled_holm"), "p_ruled_holm_study": r.get("p_ruled_holm_study"),
                             "crit_p_ruled": r.get("crit_p_ruled"), "min_p": r.get("min_p"),
                             "min_p_ruled": r.get("min_p_ruled"), "test": r.get("test"), "n_seeds": r.get("n")})
    return pd.DataFrame(rows)
