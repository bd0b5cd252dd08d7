"""Calibration of the decision rules by simulation (issue 8's acceptance).

Each simulated study has every observation of observations.py with its real family
structure (recipes, endpoints, Holm family, min-p admission, combination rules). Data are
generated per seed with seed-level random effects shared by the arms, arm x seed noise, and
twin impls that are near-duplicates within a seed (2 impls, SD 1e-3 SESOI); impls are
averaged within a seed exactly as ganbench.stats.arms does. Noise per arm x seed is
0.5 SESOI (paired differences SD ~0.71 SESOI), divergence 10% per seed in every arm.
Everything after the seed-level data is the production code: inference.*, then
analysis.decide (policy.admit / adjust / endpoint_verdict / combine_*).

The end-to-end path (summary rows -> arms -> pairing) is covered by test_stats.py and
by ``test_end_to_end_null_with_twins`` below on a few full studies.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from ganbench import stats
from ganbench.observations import OBSERVATIONS, RECIPE_MODELS
from ganbench.stats import inference
from ganbench.stats.analysis import decide, endpoint_result
from report_fixtures import make_summary

ARM_SD, SEED_SD, TWIN_SD, P_DIV = 0.5, 1.0, 1e-3, 0.1
FALSE = ("reproduced", "weaker than claimed")  # plus "not reproduced" by rule O


def _seed_means(rng, n, shift, seed_fx, sesoi, arm_sd=None):
    """Per seed: mean over 2 near-duplicate twins of one arm's value."""
    arm = rng.normal(0, (ARM_SD if arm_sd is None else arm_sd) * sesoi, n)
    twins = rng.normal(0, TWIN_SD * sesoi, (2, n))
    return (seed_fx + arm + shift + twins).mean(axis=0)


def simulate_study(rng, n: int, effect_in_sesoi: float = 0.0, div_effect: float = 0.0,
                   spread_ratio: float = 1.0, arm_sd: float | None = None) -> list[dict]:
    results = []
    for obs in OBSERVATIONS:
        groups = []
        if obs.kind == "equivalence":
            for model in sorted(set(RECIPE_MODELS.values())):
                e = obs.primary[0]
                r = endpoint_result(obs.id, f"{model}: tensorflow vs pytorch", e)
                fx = rng.normal(0, SEED_SD * e.sesoi, n)
                a = fx + rng.normal(0, TWIN_SD * e.sesoi, n)
                b = fx + rng.normal(0, TWIN_SD * e.sesoi, n)
                r.update(inference.equivalence(b - a, e.sesoi))
                r["truth"] = 0.0
                groups.append({"group": r["group"], "model": model, "primary": [r]})
        else:
            for recipe in obs.recipes:
                prim = []
                for e in obs.primary:
                    r = endpoint_result(obs.id, recipe, e)
                    sign = 1.0 if e.expected == "higher" else -1.0
                    if e.scale == "divergence":
                        p_t = min(1.0, P_DIV + div_effect)
                        r.update(inference.divergence(int(rng.binomial(n, p_t)), n, int(rng.binomial(n, P_DIV)), n,
                                                      e.expected, e.sesoi))
                        r["truth"] = p_t - P_DIV
                    elif e.scale == "spread":
                        sd = 0.1
                        r.update(inference.spread(rng.normal(0, sd * spread_ratio, n), rng.normal(0, sd, n),
                                                  e.expected, e.sesoi))
                        r["truth"] = math.log(spread_ratio)
                    else:
                        fx = rng.normal(0, SEED_SD * e.sesoi, n)
                        truth = sign * effect_in_sesoi * e.sesoi
                        t = _seed_means(rng, n, truth, fx, e.sesoi, arm_sd)
                        c = _seed_means(rng, n, 0.0, fx, e.sesoi, arm_sd)
                        r.update(inference.difference(t - c, e.expected, e.sesoi))
                        r["truth"] = truth
                    prim.append(r)
                groups.append({"group": recipe, "primary": prim})
        results.append({"obs": obs, "groups": groups})
    decide(results)
    return results


def false_verdict(res: dict) -> bool:
    if res["obs"].kind == "equivalence":
        return res["verdict"] == "not reproduced"
    groups = res["groups"]
    return any(g["verdict"] in FALSE or g["rule"] == "O" or any(r.get("rule") == "O" for r in g["primary"])
               for g in groups) or res["verdict"] in FALSE


def run_null(n: int, sims: int, seed: int):
    rng = np.random.default_rng(seed)
    per_obs = {o.id: 0 for o in OBSERVATIONS}
    family, covered, total = 0, 0, 0
    for _ in range(sims):
        study = simulate_study(rng, n)
        any_false = False
        for res in study:
            f = false_verdict(res)
            per_obs[res["obs"].id] += f
            any_false |= f
            for g in res["groups"]:
                for r in g["primary"]:
                    if r["scale"] in ("log_ratio", "difference") and np.isfinite(r["ci_lo"]):
                        total += 1
                        covered += r["ci_lo"] <= r["truth"] <= r["ci_hi"]
        family += any_false
    return {k: v / sims for k, v in per_obs.items()}, family / sims, covered / max(total, 1)


def mc_bound(rate: float, sims: int) -> float:
    return rate + 2 * math.sqrt(rate * (1 - rate) / sims)


SIMS = 400


@pytest.mark.parametrize("n", [3, 5])
def test_null_false_verdict_rates(n, record_property):
    per_obs, family, coverage = run_null(n, SIMS, seed=100 + n)
    record_property("per_obs", per_obs)
    record_property("family", family)
    print(f"\nn={n}, {SIMS} studies: family-wise false verdicts {family:.3f}; per observation {per_obs}; "
          f"CI coverage {coverage:.3f}")
    bound = mc_bound(0.05, SIMS)
    assert max(per_obs.values()) <= bound
    assert family <= bound
    if n == 5:
        assert coverage >= 0.93


POWER_ARM_SD = 0.4  # arm x seed noise for the power check: per-seed differences SD ~0.57 SESOI


def test_power_at_twice_the_sesoi_five_seeds():
    """Every claim true at 2 x SESOI, 5 seeds. Asserted per primary endpoint and for the
    single-endpoint observations; the conjunction (prior: 3 endpoints) and the two-model
    schedule claim need every part and are printed."""
    rng = np.random.default_rng(7)
    sims = 200
    obs_hits: dict = {}
    ep_hits: dict = {}
    for _ in range(sims):
        study = simulate_study(rng, 5, effect_in_sesoi=2.0, div_effect=0.8, spread_ratio=3.0, arm_sd=POWER_ARM_SD)
        for res in study:
            obs_hits[res["obs"].id] = obs_hits.get(res["obs"].id, 0) + (res["verdict"] == "reproduced")
            for g in res["groups"]:
                for r in g["primary"]:
                    if r["scale"] in ("log_ratio", "difference"):
                        key = (res["obs"].id, g["group"], r["metric"])
                        ep_hits[key] = ep_hits.get(key, 0) + (r["verdict"] == "reproduced")
    obs_rates = {k: v / sims for k, v in obs_hits.items()}
    ep_rates = {k: v / sims for k, v in ep_hits.items()}
    print(f"\npower at 2 SESOI, n=5, {sims} studies, arm x seed SD {POWER_ARM_SD} SESOI: observations {obs_rates}; "
          f"endpoints {ep_rates}")
    assert min(ep_rates.values()) >= 0.80
    for o in OBSERVATIONS:
        if o.kind == "difference" and len(o.primary) == 1 and len(o.recipes) == 1:
            assert obs_rates[o.id] >= 0.80, o.id


def test_power_single_true_effect_against_a_null_family():
    """Only g_loss has the 2 x SESOI effect; the 15 other primary tests are null (Holm's
    hardest case for that one test)."""
    rng = np.random.default_rng(8)
    sims, hits = 200, 0
    for _ in range(sims):
        study = simulate_study(rng, 5)
        # replace g_loss's data with a true effect and decide again
        for res in study:
            if res["obs"].id == "g_loss":
                r = res["groups"][0]["primary"][0]
                e = res["obs"].primary[0]
                fx = rng.normal(0, SEED_SD * e.sesoi, 5)
                d = _seed_means(rng, 5, 2 * e.sesoi, fx, e.sesoi) - _seed_means(rng, 5, 0.0, fx, e.sesoi)
                r.update(inference.difference(d, e.expected, e.sesoi), state="tested")
        for res in study:
            for g in res["groups"]:
                for r in g["primary"]:
                    if r["state"] == "too few seeds" and r["min_p"] < 0.05:
                        r["state"] = "tested"
        decide(study)
        hits += next(r for r in study if r["obs"].id == "g_loss")["verdict"] == "reproduced"
    print(f"\nsingle true effect (g_loss, 2 SESOI, n=5) in a null family: reproduced {hits / sims:.3f}")
    assert hits / sims >= 0.5


def test_end_to_end_null_with_twins():
    """Full studies through stats.analyse (summary rows, pairing, averaging of twins): with
    no effect anywhere and 3 seeds, false verdicts stay rare (pairing by impl would count the
    twins as replicates and double n)."""
    false = total = 0
    for k in range(8):
        a = stats.analyse(make_summary(seeds=(0, 1, 2), rng_seed=500 + k))
        for r in a["observations"]:
            total += 1
            if r["kind"] == "difference":
                false += r["verdict"] in FALSE or any(g["rule"] == "O" for g in r["groups"])
                assert all(e["n"] <= 3 for g in r["groups"] for e in g["primary"])
            else:
                false += r["verdict"] == "not reproduced"
    assert false <= 2, false
