"""Arms and pairing. The SEED is the unit of replication.

A seed's twin impls share weights, batches and noise, so they are one replicate, not
several: within a seed the impls present in both arms are averaged (on the endpoint's
scale: log FID for FID-like scores), and n is the number of seeds. Every run of an arm
that does not reach the seed-level data gets a reason (``Exclusion``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganbench.observations import DERIVED, LOG_SCALES, REFERENCE_IMPLS, Endpoint


@dataclass
class Exclusion:
    run_id: str
    where: str  # "<observation>/<group>/<endpoint>"
    reason: str


def impl_comparisons(impls) -> list[tuple[str, str]]:
    """(reference, other) pairs: every impl against each reference impl present, each pair once."""
    refs = [i for i in REFERENCE_IMPLS if i in impls]
    return [(a, b) for a in refs for b in sorted(impls)
            if b != a and not (b in refs and refs.index(b) < refs.index(a))]


def arm_rows(df: pd.DataFrame, recipe: str, deviations: dict) -> pd.DataFrame:
    """Every run (any status) of the arm (recipe, deviations)."""
    key = recipe + " " + json.dumps(deviations, sort_keys=True)
    return df[df["arm_key"] == key]


def run_values(rows: pd.DataFrame, endpoint: Endpoint) -> tuple[pd.Series, pd.Series]:
    """(value on the endpoint's scale, reason it is unusable or "") per run."""
    reasons = pd.Series("", index=rows.index, dtype=object)
    reasons[rows["status"] == "failed"] = "failed: the training job did not finish"
    reasons[rows["status"] == "diverged"] = "diverged: no quality score (divergence is its own endpoint)"
    if endpoint.metric in DERIVED:
        num, den = DERIVED[endpoint.metric]
        a, b = rows[num].astype(float), rows[den].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            vals = np.log(a / b)
        raw = a * b
    else:
        raw = rows["fid" if endpoint.metric == "spread" else endpoint.metric].astype(float)
        vals = raw
        if endpoint.scale in (*LOG_SCALES, "spread"):
            with np.errstate(divide="ignore", invalid="ignore"):
                vals = np.log(raw.where(raw > 0))
    ok = reasons == ""
    reasons[ok & raw.isna()] = f"{endpoint.metric}: NaN score"
    reasons[ok & np.isinf(raw)] = f"{endpoint.metric}: infinite score"
    reasons[ok & np.isfinite(raw) & ~np.isfinite(vals)] = f"{endpoint.metric}: non-positive score (no log)"
    return vals.where(reasons == ""), reasons


def paired_seeds(t_rows: pd.DataFrame, c_rows: pd.DataFrame, endpoint: Endpoint, where: str,
                 excluded: list[Exclusion], unit: str = "seed", within: str = "impl") -> pd.DataFrame:
    """Per ``unit`` (the seed): mean over the ``within`` values (impls) scored in both arms of
    treatment, control and their difference. Columns seed, t, c, d, n_impls."""
    tv, tr = run_values(t_rows, endpoint)
    cv, cr = run_values(c_rows, endpoint)
    for rows, reasons in ((t_rows, tr), (c_rows, cr)):
        for rid, why in zip(rows.loc[reasons != "", "run_id"], reasons[reasons != ""]):
            excluded.append(Exclusion(rid, where, why))
    cols = ["run_id", unit, within]
    t = t_rows.loc[tv.notna(), cols].assign(v=tv.dropna()).rename(columns={unit: "seed", within: "impl"})
    c = c_rows.loc[cv.notna(), cols].assign(v=cv.dropna()).rename(columns={unit: "seed", within: "impl"})
    # several runs of one (seed, impl) in an arm: averaged
    tg = t.groupby(["seed", "impl"])["v"].mean()
    cg = c.groupby(["seed", "impl"])["v"].mean()
    common = tg.index.intersection(cg.index)
    for frame, other in ((t, cg.index), (c, tg.index)):
        keys = pd.MultiIndex.from_frame(frame[["seed", "impl"]]) if len(frame) else pd.MultiIndex.from_tuples(
            [], names=["seed", "impl"])
        unmatched = ~keys.isin(other)
        for rid in frame.loc[unmatched, "run_id"]:
            excluded.append(Exclusion(rid, where, "unmatched: no scored run of the same seed and impl in the other arm"))
    if len(common) == 0:
        return pd.DataFrame(columns=["seed", "t", "c", "d", "n_impls"])
    pairs = pd.DataFrame({"t": tg.loc[common], "c": cg.loc[common]})
    pairs["d"] = pairs["t"] - pairs["c"]
    out = pairs.groupby(level="seed").agg(t=("t", "mean"), c=("c", "mean"), d=("d", "mean"), n_impls=("d", "size"))
    return out.reset_index()


def seed_values(rows: pd.DataFrame, endpoint: Endpoint, where: str, excluded: list[Exclusion]) -> pd.Series:
    """One value per seed (mean over its impls) for an arm on its own (seed spread)."""
    vals, reasons = run_values(rows, endpoint)
    for rid, why in zip(rows.loc[reasons != "", "run_id"], reasons[reasons != ""]):
        excluded.append(Exclusion(rid, where, why))
    frame = rows.loc[vals.notna(), ["seed"]].assign(v=vals.dropna())
    return frame.groupby("seed")["v"].mean()


def seed_failure(rows: pd.DataFrame, where: str, excluded: list[Exclusion]) -> pd.Series:
    """Per seed: 1 if at least half of its finished runs failed to train (diverged, or finished
    without learning: guard.failed_to_learn, e.g. collapsed to one image), else 0. Failed jobs
    (the process crashed) are not outcomes of training and are left out."""
    from ganbench.stats.guard import failed_to_learn

    for rid in rows.loc[rows["status"] == "failed", "run_id"]:
        excluded.append(Exclusion(rid, where, "failed: the training job did not finish"))
    done = rows[rows["status"] != "failed"]
    if done.empty:
        return pd.Series(dtype=float)
    share = failed_to_learn(done).groupby(done["seed"]).mean()
    return (share >= 0.5).astype(int)
