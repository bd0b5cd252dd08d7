"""From tidy runs to one result per observation: arms per recipe (model), seed-level data
per endpoint, tests, the guard, the premise, each claim's Holm family and the verdicts (at
one look of a sequential design, or the fixed-n design)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ganbench.observations import DERIVED, OBSERVATIONS, Endpoint, Observation
from ganbench.stats import guard, inference, policy
from ganbench.stats.arms import Exclusion, arm_rows, impl_comparisons, paired_seeds, seed_failure, seed_values


def _measured(endpoint: Endpoint, rows: pd.DataFrame, measured: set[str]) -> bool:
    if endpoint.metric == "divergence":
        return True
    cols = DERIVED.get(endpoint.metric, ("fid",) if endpoint.metric == "spread" else (endpoint.metric,))
    return all(c in measured and rows[c].notna().any() for c in cols)


def endpoint_result(obs_id: str, group: str, endpoint: Endpoint) -> dict:
    return {"observation": obs_id, "group": group, "metric": endpoint.metric, "label": endpoint.label,
            "scale": endpoint.scale, "expected": endpoint.expected, "sesoi": endpoint.sesoi,
            "sesoi_text": endpoint.sesoi_text, "why_endpoint": endpoint.why, "state": "tested", "why": "",
            "n": 0, "estimate": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "p": math.nan,
            "p_ruled": math.nan, "min_p": math.nan, "test": "", "seeds": [], "p_holm": math.nan,
            "p_ruled_holm": math.nan, "verdict": "", "rule": "", "reason": "", "m": 0}


def run_endpoint(obs_id: str, group: str, endpoint: Endpoint, t_rows: pd.DataFrame, c_rows: pd.DataFrame,
                 measured: set[str], excluded: list[Exclusion], unit: str = "seed", within: str = "impl") -> dict:
    """Seed-level data and the test of one endpoint (before the guard and the family)."""
    r = endpoint_result(obs_id, group, endpoint)
    where = f"{obs_id}/{group}/{endpoint.metric}"
    if t_rows.empty or c_rows.empty:
        r.update(state="arm missing", why="arm missing: no " + ("treatment" if t_rows.empty else "control")
                 + " run in this study")
        return r
    if not _measured(endpoint, pd.concat([t_rows, c_rows]), measured):
        r.update(state="not measured", why=f"endpoint not measured: no run has {endpoint.metric}")
        return r
    if endpoint.scale == "divergence":
        dt, dc = seed_failure(t_rows, where, excluded), seed_failure(c_rows, where, excluded)
        res = inference.divergence(int(dt.sum()), len(dt), int(dc.sum()), len(dc), endpoint.expected, endpoint.sesoi)
        r.update(res)
        r["seeds"] = sorted(set(dt.index) | set(dc.index))
        if min(len(dt), len(dc)) == 0:
            r.update(state="too few seeds", why="an arm has no finished run")
        return r
    if endpoint.scale == "spread":
        vt, vc = (seed_values(_learned(rows, where, excluded), endpoint, where, excluded) for rows in (t_rows, c_rows))
        res = inference.spread(vt.to_numpy(), vc.to_numpy(), endpoint.expected, endpoint.sesoi)
        r.update(res)
        r["values_t"], r["values_c"] = vt.to_dict(), vc.to_dict()
        if min(len(vt), len(vc)) < inference.MIN_SEEDS:
            r.update(state="too few seeds", why=f"seed spread needs >= {inference.MIN_SEEDS} scored seeds per arm "
                     f"that trained (treatment {len(vt)}, control {len(vc)}); diverged runs have no FID and runs "
                     "that did not learn are training failures (the failure-rate endpoint)")
        return r
    pairs = paired_seeds(t_rows, c_rows, endpoint, where, excluded, unit, within)
    d = pairs["d"].to_numpy(float)
    if endpoint.scale == "equivalence":
        r.update(inference.equivalence(d, endpoint.sesoi))
    else:
        r.update(inference.difference(d, endpoint.expected, endpoint.sesoi))
    r["pairs"] = pairs
    r["seeds"] = list(pairs["seed"])
    r["mean_t"], r["mean_c"] = (float(pairs["t"].mean()), float(pairs["c"].mean())) if len(pairs) else (math.nan,) * 2
    if len(d) < inference.MIN_SEEDS:
        r.update(state="too few seeds", why=f"{r['test']}: only {len(d)} seed(s) with a scored run in both arms "
                 f"(needs {inference.MIN_SEEDS})")
    elif endpoint.metric in policy.PREMISES:
        check_premise(r, pairs["t"].to_numpy(float), pairs["c"].to_numpy(float))
    return r


def check_premise(r: dict, t: np.ndarray, c: np.ndarray) -> None:
    """An endpoint about preventing an event (policy.PREMISES) says nothing when no seed of either
    arm had the event: state 'premise not met' (rule P), with the counts."""
    what, event = policy.PREMISES[r["metric"]]
    k_t, k_c = int((np.asarray(t) > 0).sum()), int((np.asarray(c) > 0).sum())
    r["premise"] = {"k_t": k_t, "n_t": len(t), "k_c": k_c, "n_c": len(c), "event": event}
    if k_t == 0 and k_c == 0 and r["state"] == "tested":
        r.update(state="premise not met", why=f"the premise did not occur ({what}): {event} in 0 of {len(t)} "
                 f"treatment seeds and 0 of {len(c)} control seeds")


def _learned(rows: pd.DataFrame, where: str, excluded: list[Exclusion]) -> pd.DataFrame:
    """Runs for the seed spread: those that finished and learned. A run that did not learn (the
    guard's per-run rule, e.g. collapsed to one image) is a training failure, counted by the
    failure-rate endpoint; its FID would say 'no spread' about runs that all failed alike."""
    if rows.empty:
        return rows
    bad = guard.failed_to_learn(rows) & (rows["status"] == "ok")
    for rid in rows.loc[bad, "run_id"]:
        excluded.append(Exclusion(rid, where, "did not learn (the guard's per-run rule): a training failure, "
                                              "counted in the failure rate, not in the seed spread"))
    return rows[~bad]


def _arm_counts(rows: pd.DataFrame) -> dict:
    return {"n_runs": len(rows), "n_ok": int((rows["status"] == "ok").sum()),
            "n_diverged": int((rows["status"] == "diverged").sum()),
            "n_failed": int((rows["status"] == "failed").sum()),
            "seeds": sorted(int(s) for s in rows["seed"].dropna().unique()),
            "impls": sorted(rows["impl"].unique())}


def _group_label(recipe: str, rows: pd.DataFrame) -> str:
    models = sorted(rows["model"].unique()) if len(rows) else []
    return f"{recipe} ({', '.join(models)})" if models else recipe


def difference_observation(obs: Observation, df: pd.DataFrame, measured: set[str],
                           excluded: list[Exclusion]) -> dict:
    groups = []
    for recipe in obs.recipes:
        t_rows, c_rows = arm_rows(df, recipe, obs.treatment), arm_rows(df, recipe, obs.control)
        b_rows = t_rows if obs.baseline_role == "treatment" else c_rows  # the recipe's own setting
        label = _group_label(recipe, c_rows if len(c_rows) else t_rows)
        g = {"group": label, "recipe": recipe, "treatment": _arm_counts(t_rows), "control": _arm_counts(c_rows),
             "guard": guard.check(b_rows) if len(b_rows) else {"state": "unknown", "reason": "no baseline run"}}
        g["primary"] = [run_endpoint(obs.id, label, e, t_rows, c_rows, measured, excluded) for e in obs.primary]
        for r in g["primary"]:
            # an untrained baseline is the first reason, even where too few seeds would also stop the test
            failed = g["guard"]["state"] == "failed" and r["state"] in ("tested", "too few seeds", "premise not met")
            if failed or (r["state"] == "tested" and g["guard"]["state"] != "passed"):
                r["state"] = "not trained"
                r["why"] = ("the baseline did not train: " if g["guard"]["state"] == "failed" else
                            "the baseline's training could not be checked: ") + g["guard"]["reason"]
        sec_excluded: list[Exclusion] = []  # secondary endpoints: same runs, descriptive
        g["secondary"] = [run_endpoint(obs.id, label, e, t_rows, c_rows, measured, sec_excluded)
                          for e in obs.secondary]
        g["references"] = []
        for ref_label, dev in obs.references:
            rr = arm_rows(df, recipe, dev)
            ref = run_endpoint(obs.id, label, obs.primary[0], rr, c_rows, measured, [])
            g["references"].append({"label": ref_label, "counts": _arm_counts(rr), **{
                k: ref[k] for k in ("n", "estimate", "ci_lo", "ci_hi", "p", "test", "state", "why", "scale")}})
        groups.append(g)
    return {"groups": groups}


def frameworks_observation(obs: Observation, df: pd.DataFrame, measured: set[str],
                           excluded: list[Exclusion]) -> dict:
    endpoint = obs.primary[0]
    groups = []
    usable = df
    for model in sorted(usable["model"].unique()):
        rows = usable[usable["model"] == model]
        impls = sorted(rows["impl"].unique())
        for a, b in impl_comparisons(impls):
            label = f"{model}: {b} vs {a}"
            ra, rb = rows[rows["impl"] == a], rows[rows["impl"] == b]
            # pair on (arm, seed): the 'seed' of paired_seeds is (arm, seed), then averaged per seed
            r = run_endpoint(obs.id, label, endpoint, rb, ra, measured, excluded, unit="arm_seed", within="seed")
            pairs = r.get("pairs")
            if isinstance(pairs, pd.DataFrame) and len(pairs):
                pairs = pairs.assign(seed=pairs["seed"].str.rsplit("#", n=1).str[1].astype(float))
                per_seed = pairs.groupby("seed").agg(t=("t", "mean"), c=("c", "mean"), d=("d", "mean"),
                                                     n_impls=("d", "size")).reset_index()
                r.update(inference.equivalence(per_seed["d"].to_numpy(float), endpoint.sesoi))
                r["pairs"], r["seeds"] = per_seed, list(per_seed["seed"])
                r["n_arms"] = int(pairs["n_impls"].sum())
                if len(per_seed) < inference.MIN_SEEDS:
                    r.update(state="too few seeds", why=f"only {len(per_seed)} seed(s) with both impls scored")
                elif r["state"] == "too few seeds":
                    r.update(state="tested", why="")
            base_rows = ra[ra["deviations"] == "{}"] if (ra["deviations"] == "{}").any() else ra
            chk = guard.check(base_rows) if len(base_rows) else {"state": "unknown", "reason": "no run"}
            failed = chk["state"] == "failed" and r["state"] in ("tested", "too few seeds")
            if failed or (r["state"] == "tested" and chk["state"] != "passed"):
                r["state"] = "not trained"
                r["why"] = ("the baseline did not train: " if chk["state"] == "failed" else
                            "the baseline's training could not be checked: ") + f"{a} runs: " + chk["reason"]
            # discordant divergence: one impl diverged and its twin did not (descriptive)
            st = pd.merge(ra[["arm_key", "seed", "status"]], rb[["arm_key", "seed", "status"]],
                          on=["arm_key", "seed"], suffixes=("_a", "_b"))
            disc = int(((st["status_a"] == "diverged") != (st["status_b"] == "diverged")).sum())
            groups.append({"group": label, "recipe": "", "model": model, "impl": b, "reference": a,
                           "guard": chk, "primary": [r], "secondary": [], "references": [],
                           "treatment": _arm_counts(rb), "control": _arm_counts(ra),
                           "divergence_discordant": disc, "divergence_pairs": len(st)})
    return {"groups": groups}


def analyse_observations(df: pd.DataFrame, measured: set[str], observations=OBSERVATIONS, design=None,
                         look: int = 0) -> tuple[list[dict], list[Exclusion]]:
    excluded: list[Exclusion] = []
    results = []
    for obs in observations:
        body = (frameworks_observation if obs.kind == "equivalence" else difference_observation)(
            obs, df, measured, excluded)
        results.append({"obs": obs, **body})
    decide(results, design, look)
    return results, excluded


def decide_claim(res: dict, design=None, look: int = 0) -> None:
    """One claim: its family (admission one test at a time), Holm's step-down against alpha / j or
    the look's boundary, per-endpoint verdicts."""
    primary = [r for g in res["groups"] for r in g["primary"]]
    for key in ("p", "p_ruled"):
        policy.admit(primary, key=key, design=design, look=look)
    policy.adjust(primary, design=design, look=look)
    for r in primary:
        r["verdict"], r["rule"], r["reason"] = policy.endpoint_verdict(r)


def decide(results: list[dict], design=None, look: int = 0) -> None:
    """Per claim: family, Holm, per-endpoint verdicts, then per model and per observation; then the
    study-wide Holm (descriptive). ``design``: a sequential.Design (None: fixed-n at the seeds
    present); ``look``: 0-based look of that design whose boundary applies.
    ``results``: [{"obs": Observation, "groups": [{"group", "primary": [endpoint results]}]}]."""
    for res in results:
        decide_claim(res, design, look)
        res["look"] = look
    policy.study_wide([r for res in results for g in res["groups"] for r in g["primary"]])
    for res in results:
        obs = res["obs"]
        effects = {}
        for g in res["groups"]:
            labelled = [(r["label"], r["verdict"], r["rule"], r["reason"]) for r in g["primary"]]
            g["verdict"], g["rule"], g["reason"] = policy.combine_endpoints(labelled, obs.combine)
            first = g["primary"][0]
            if isinstance(first.get("pairs"), pd.DataFrame) and len(first["pairs"]):
                effects[g["group"]] = first["pairs"]["d"].to_numpy(float)
        res["interaction"] = inference.interaction(effects) if obs.kind == "difference" else {"p": math.nan}
        if obs.kind == "equivalence":
            by_model: dict[str, list[dict]] = {}
            for g in res["groups"]:
                by_model.setdefault(g.get("model", g["group"]), []).append(g)
            res["models"] = []
            for model, gs in by_model.items():
                v, rule, why = policy.combine_groups(gs, {})
                res["models"].append({"group": model, "verdict": v, "rule": rule, "reason": why})
            res["verdict"], res["rule"], res["reason"] = policy.combine_groups(res["models"], {})
        else:
            res["verdict"], res["rule"], res["reason"] = policy.combine_groups(res["groups"], res["interaction"])


def runs_not_in_any_arm(df: pd.DataFrame, observations=OBSERVATIONS) -> list[Exclusion]:
    keys = set()
    for obs in observations:
        for _, recipe, dev in obs.arms():
            keys.add(recipe + " " + json.dumps(dev, sort_keys=True))
    out = []
    for rid, key, has in zip(df["run_id"], df["arm_key"], df["has_recipe"]):
        if key not in keys:
            why = ("not in any observation arm (no recipe / deviations in the summary: the study predates "
                   "source recipes)" if not has else "not in any observation arm (e.g. a robustness cross): "
                   "used only by the frameworks comparison and the tables")
            out.append(Exclusion(rid, "observations", why))
    return out
