"""Calibration of the decision rules by simulation (issues 8 and 20).

Each simulated study has every observation of observations.py with its real family
structure (recipes, endpoints, one Holm family per claim, min-p admission one test at a time,
combination rules). Data are generated per seed with seed-level random effects shared by the
arms, arm x seed noise, and twin impls that are near-duplicates within a seed (2 impls, SD
1e-3 SESOI); impls are averaged within a seed exactly as ganbench.stats.arms does. Noise per
arm x seed is 0.5 SESOI (paired differences SD ~0.71 SESOI), training failure 10% per seed
in every arm, seed SD of log FID 0.1. Everything after the seed-level data is the production
code: inference.*, then analysis.decide (policy.admit / adjust / endpoint_verdict /
combine_*) and, for the sequential design, sequential.sequential_decisions with each look's
boundary.

A true effect of k x SESOI means: k SESOIs on every difference endpoint, a training-failure
rate 0.1 + 0.2 k against 0.1, an SD ratio 1.5^k, (implementations) a shift of k margins, and
(a non-inferiority claim: the treatment no worse than the margin) a treatment worse by
(1 - k) margins: at k = 0 exactly at the margin, where the claim is false, at k = 1 no
difference, at k = 2 better by a margin.

The end-to-end path (summary rows -> arms -> pairing) is covered by test_stats.py and by the
end-to-end tests below on a few full studies.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from ganbench import stats
from ganbench.observations import OBSERVATIONS, RECIPE_MODELS
from ganbench.stats import inference
from ganbench.stats.analysis import analyse_observations, decide, endpoint_result
from ganbench.stats.tidy import normalize
from ganbench.stats.sequential import Design, sequential_decisions
from report_fixtures import duplicate_impl, make_summary

ARM_SD, SEED_SD, TWIN_SD, P_DIV = 0.5, 1.0, 1e-3, 0.1
LOG10 = math.log(1.1)
FALSE = ("reproduced", "weaker than claimed")  # plus "not reproduced" by rule O
SEQ = Design((3, 6, 10))  # the default spending (O'Brien-Fleming-type), the looks
# claims judged only on the training-failure rate and the seed spread
STABILITY_ONLY = {o.id for o in OBSERVATIONS if o.kind == "difference"
                  and all(e.scale in ("divergence", "spread") for e in o.primary)}
# claims with a difference endpoint; PURE: only difference endpoints (a null can be ruled out)
DIFFERENCE = [o.id for o in OBSERVATIONS if o.kind == "difference" and o.id not in STABILITY_ONLY]
PURE = [o.id for o in OBSERVATIONS if o.kind == "difference"
        and all(e.scale in ("log_ratio", "difference") for e in o.primary)]


def _seed_means(rng, n, shift, seed_fx, sesoi, arm_sd=None):
    """Per seed: mean over 2 near-duplicate twins of one arm's value."""
    arm = rng.normal(0, (ARM_SD if arm_sd is None else arm_sd) * sesoi, n)
    twins = rng.normal(0, TWIN_SD * sesoi, (2, n))
    return (seed_fx + arm + shift + twins).mean(axis=0)


def generate(rng, n: int, effect_in_sesoi: float = 0.0, div_effect: float = 0.0, spread_ratio: float = 1.0,
             arm_sd: float | None = None, impl_shift: float = 0.0) -> dict:
    """Seed-level data of every primary endpoint for ``n`` seeds (the cap of a sequential design:
    a look uses the first n_k seeds). Keyed by (observation, group, endpoint index)."""
    data = {}
    for obs in OBSERVATIONS:
        if obs.kind == "equivalence":
            for model in sorted(set(RECIPE_MODELS.values())):
                e = obs.primary[0]
                fx = rng.normal(0, SEED_SD * e.sesoi, n)
                a = fx + rng.normal(0, TWIN_SD * e.sesoi, n)
                b = fx + impl_shift * e.sesoi + rng.normal(0, TWIN_SD * e.sesoi, n)
                data[(obs.id, f"{model}: tensorflow vs pytorch", 0)] = {"d": b - a, "truth": impl_shift * e.sesoi}
            continue
        for recipe in obs.recipes:
            for i, e in enumerate(obs.primary):
                sign = 1.0 if e.expected == "higher" else -1.0
                if e.scale == "divergence":
                    p_t = min(1.0, P_DIV + div_effect)
                    data[(obs.id, recipe, i)] = {"f_t": rng.random(n) < p_t, "f_c": rng.random(n) < P_DIV,
                                                 "truth": p_t - P_DIV}
                elif e.scale == "spread":
                    sd = 0.1
                    data[(obs.id, recipe, i)] = {"x_t": rng.normal(0, sd * spread_ratio, n),
                                                 "x_c": rng.normal(0, sd, n), "truth": math.log(spread_ratio)}
                else:
                    fx = rng.normal(0, SEED_SD * e.sesoi, n)
                    k = (1.0 - effect_in_sesoi) if e.scale == "noninferiority" else effect_in_sesoi
                    truth = sign * k * e.sesoi
                    t = _seed_means(rng, n, truth, fx, e.sesoi, arm_sd)
                    c = _seed_means(rng, n, 0.0, fx, e.sesoi, arm_sd)
                    data[(obs.id, recipe, i)] = {"d": t - c, "truth": truth}
    return data


def build(data: dict, n: int, ids=None) -> list[dict]:
    """Endpoint results (production inference.*) on the first ``n`` seeds, before ``decide``."""
    results = []
    for obs in OBSERVATIONS:
        if ids is not None and obs.id not in ids:
            continue
        groups = []
        labels = ([f"{m}: tensorflow vs pytorch" for m in sorted(set(RECIPE_MODELS.values()))]
                  if obs.kind == "equivalence" else list(obs.recipes))
        for label in labels:
            prim = []
            for i, e in enumerate(obs.primary):
                x = data[(obs.id, label, i)]
                r = endpoint_result(obs.id, label, e)
                if obs.kind == "equivalence":
                    r.update(inference.equivalence(x["d"][:n], e.sesoi))
                elif e.scale == "divergence":
                    r.update(inference.divergence(int(x["f_t"][:n].sum()), n, int(x["f_c"][:n].sum()), n,
                                                  e.expected, e.sesoi))
                elif e.scale == "spread":
                    r.update(inference.spread(x["x_t"][:n], x["x_c"][:n], e.expected, e.sesoi))
                else:
                    r.update(inference.difference(x["d"][:n], e.expected, e.sesoi, descriptive=False))
                r["truth"] = x["truth"]
                prim.append(r)
            groups.append({"group": label, "model": label.split(":")[0], "primary": prim})
        results.append({"obs": obs, "groups": groups})
    return results


def simulate_study(rng, n: int, effect_in_sesoi: float = 0.0, div_effect: float = 0.0,
                   spread_ratio: float = 1.0, arm_sd: float | None = None) -> list[dict]:
    """One fixed-n study (every claim at n seeds), decided."""
    results = build(generate(rng, n, effect_in_sesoi, div_effect, spread_ratio, arm_sd), n)
    decide(results)
    return results


def simulate_sequential(rng, design: Design, **scenario) -> dict:
    """One sequential study: data for the cap, every claim decided by the production engine
    (sequential_decisions + analysis.decide with the look's boundary)."""
    data = generate(rng, design.cap, **scenario)

    def evaluate(j, ids):
        results = build(data, design.looks[j], set(ids))
        decide(results, design, j)
        return {r["obs"].id: r for r in results}

    return sequential_decisions(evaluate, design, design.k - 1, [o.id for o in OBSERVATIONS])


def false_verdict(res: dict, no_effect: bool = False) -> bool:
    """A false verdict of one claim under the null scenario; ``no_effect``: the data have no effect
    at all (make_summary's default), where a non-inferiority claim is true, else the simulator's
    null (k = 0), where it sits at its margin and is false."""
    if res["obs"].kind == "equivalence":
        return res["verdict"] == "not reproduced"
    if any(e.scale == "noninferiority" for e in res["obs"].primary):
        return res["verdict"] == ("not reproduced" if no_effect else "reproduced")
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


def mc_bound(rate: float, sims: int, z: float = 2.0) -> float:
    """Monte Carlo allowance: the nominal rate + z standard errors (z = 3 for the largest of the
    eleven claims' rates; z = 2 for one rate or a rate pooled over claims)."""
    return rate + z * math.sqrt(rate * (1 - rate) / sims)


SIMS = 300


@pytest.mark.parametrize("n", [3, 5])
def test_null_false_verdict_rates_per_claim(n, record_property):
    """Fixed-n design: each claim is its own family, so its false-verdict rate (reproduced /
    weaker, or significant the other way) is at most 5% (2.5% each way); across the whole study
    it is not controlled (printed)."""
    per_obs, family, coverage = run_null(n, SIMS, seed=100 + n)
    record_property("per_obs", per_obs)
    record_property("family", family)
    print(f"\nfixed n={n}, {SIMS} studies: per claim false verdicts {per_obs}; any claim (study-wide, not "
          f"controlled) {family:.3f}; CI coverage {coverage:.3f}")
    assert max(per_obs.values()) <= mc_bound(0.05, SIMS, z=3)
    pooled = np.mean([per_obs[c] for c in DIFFERENCE])
    assert pooled <= mc_bound(0.05, SIMS * len(DIFFERENCE)), pooled
    if n == 5:
        assert coverage >= 0.93


POWER_ARM_SD = 0.4  # arm x seed noise for the power check: per-seed differences SD ~0.57 SESOI


def test_power_at_twice_the_sesoi_five_seeds():
    """Every claim true at 2 x SESOI, 5 seeds, fixed design. Asserted per primary endpoint and for
    every difference claim (per-claim families: the conjunction and the two-model claim too)."""
    rng = np.random.default_rng(7)
    sims = 150
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
    assert min(ep_rates.values()) >= 0.90
    for o in OBSERVATIONS:
        if o.kind == "difference" and not all(e.scale in ("divergence", "spread") for e in o.primary):
            assert obs_rates[o.id] >= 0.80, o.id


def test_a_claims_verdict_does_not_depend_on_the_other_claims():
    """Per-claim families: g_loss's Holm-adjusted p and verdict are the same whether every other
    claim is null or every other claim has a large effect (one study-wide family would change
    its m and its adjusted p)."""
    rng = np.random.default_rng(8)
    null = generate(rng, 5)
    strong = generate(rng, 5, effect_in_sesoi=3.0)
    key = ("g_loss", "vanilla_mnist", 0)
    null[key] = strong[key] = generate(rng, 5, effect_in_sesoi=2.0)[key]
    out = []
    for data in (null, strong):
        study = build(data, 5)
        decide(study)
        r = next(res for res in study if res["obs"].id == "g_loss")["groups"][0]["primary"][0]
        out.append((r["p"], r["p_holm"], r["m"], r["verdict"], r["p_holm_study"]))
    assert out[0][:4] == out[1][:4] and out[0][2] == 1
    assert out[0][4] != out[1][4]  # the study-wide view does change


# --- the sequential design -------------------------------------------------------------------



def scenario(k: float) -> dict:
    return {"effect_in_sesoi": k, "div_effect": 0.2 * k, "spread_ratio": 1.5 ** k, "impl_shift": k}


def run_sequential(design: Design, k: float, sims: int, seed: int) -> dict:
    """Per claim: rates of each verdict, of a significant opposite effect (rule O), of a decision
    by the cap, and the expected seeds (the n of the look that decided it)."""
    rng = np.random.default_rng(seed)
    keys = ("reproduced", "weaker", "not reproduced", "opposite", "decided", "seeds")
    out = {o.id: dict.fromkeys(keys, 0.0) for o in OBSERVATIONS}
    for _ in range(sims):
        for cid, d in simulate_sequential(rng, design, **scenario(k)).items():
            o = out[cid]
            o["reproduced"] += d.verdict == "reproduced"
            o["weaker"] += d.verdict == "weaker than claimed"
            o["not reproduced"] += d.verdict == "not reproduced"
            o["opposite"] += any(g.get("rule") == "O" or any(r.get("rule") == "O" for r in g["primary"])
                                 for g in d.result["groups"])
            o["decided"] += d.verdict != "inconclusive"
            o["seeds"] += d.n
    return {cid: {key: v / sims for key, v in o.items()} for cid, o in out.items()}


def _table(title: str, rates: dict) -> str:
    lines = [f"\n{title}", f"  {'claim':16s} reprod  weaker  not-rep opposite decided E[seeds]"]
    for cid, r in rates.items():
        lines.append(f"  {cid:16s} {r['reproduced']:.3f}   {r['weaker']:.3f}   {r['not reproduced']:.3f}   "
                     f"{r['opposite']:.3f}    {r['decided']:.3f}   {r['seeds']:.2f}")
    return "\n".join(lines)


SEQ_SIMS = {0.0: 400, 1.0: 300, 2.0: 150}


@pytest.fixture(scope="module")
def sequential_runs():
    return {k: run_sequential(SEQ, k, sims, seed=300 + int(10 * k)) for k, sims in SEQ_SIMS.items()}


def test_sequential_null_false_reproduced_per_claim(sequential_runs, record_property):
    """No effect anywhere, looks 3, 6, 10: per claim, false 'reproduced' (or weaker) <= 2.5% and a
    significant opposite effect <= 2.5% across the looks; the implementations (truly equivalent)
    read 'not reproduced' <= 5%."""
    rates, sims = sequential_runs[0.0], SEQ_SIMS[0.0]
    record_property("null", rates)
    print(_table(f"sequential {SEQ.looks} ({SEQ.spending}), null, {sims} studies", rates))
    for cid, r in rates.items():
        if cid == "frameworks":
            assert r["not reproduced"] <= mc_bound(0.05, sims), r
            assert r["decided"] >= 0.95  # near-identical twins: equivalent at the first looks
        else:
            assert r["reproduced"] + r["weaker"] <= mc_bound(0.025, sims, z=3), (cid, r)
            assert r["opposite"] <= mc_bound(0.025, sims, z=3), (cid, r)
    claims = [c for c in rates if c != "frameworks"]
    pooled = np.mean([rates[c]["reproduced"] + rates[c]["weaker"] for c in claims])
    assert pooled <= mc_bound(0.025, sims * len(claims)), pooled
    assert np.mean([rates[c]["opposite"] for c in claims]) <= mc_bound(0.025, sims * len(claims))
    # a null claim with only difference endpoints is mostly ruled out ('not reproduced') by the cap
    for cid in PURE:
        assert rates[cid]["not reproduced"] >= 0.80 and rates[cid]["seeds"] < 9.0, cid


def test_sequential_one_sesoi_false_not_reproduced_and_decided_by_the_cap(sequential_runs, record_property):
    """Every claim true at exactly 1 x SESOI: 'not reproduced' <= 5% per claim (the ruled-out null
    is true at its boundary); decided by the cap >= 80% for every claim with a difference endpoint.
    The two stability-only claims (failure rate and seed spread) cannot reach it at 10 seeds with
    this noise (printed; see the docstring of test_sequential_two_sesoi_decided_by_the_cap)."""
    rates, sims = sequential_runs[1.0], SEQ_SIMS[1.0]
    record_property("one_sesoi", rates)
    print(_table(f"sequential {SEQ.looks} ({SEQ.spending}), every claim true at 1 x SESOI, {sims} studies", rates))
    for cid, r in rates.items():
        if cid == "frameworks":  # shifted by exactly one margin: 'equivalent' is the false verdict
            assert r["reproduced"] <= mc_bound(0.05, sims), r
            continue
        assert r["not reproduced"] <= mc_bound(0.05, sims, z=3), (cid, r)
    claims = [c for c in rates if c != "frameworks"]
    pooled = np.mean([rates[c]["not reproduced"] for c in claims])
    assert pooled <= mc_bound(0.05, sims * len(claims)), pooled
    for cid in DIFFERENCE:
        assert rates[cid]["decided"] >= 0.80, (cid, rates[cid])


def test_sequential_two_sesoi_decided_by_the_cap(sequential_runs, record_property):
    """Every claim true at 2 x SESOI: decided (and reproduced) by the cap >= 95% for every claim
    with a difference endpoint, on fewer seeds than the cap. The stability-only claims reach
    ~50% at 10 seeds (asserted >= 30%); by simulation they need looks up to 40 seeds for 95%
    at 2 x SESOI and up to 60 for 80% at 1 x SESOI (looks 3, 6, 10, 20, 40, 60)."""
    rates, sims = sequential_runs[2.0], SEQ_SIMS[2.0]
    record_property("two_sesoi", rates)
    print(_table(f"sequential {SEQ.looks} ({SEQ.spending}), every claim true at 2 x SESOI, {sims} studies", rates))
    for cid in DIFFERENCE:
        assert rates[cid]["reproduced"] >= 0.95 and rates[cid]["seeds"] < 8.0, (cid, rates[cid])
    for cid in STABILITY_ONLY:
        assert 0.30 <= rates[cid]["reproduced"] and rates[cid]["not reproduced"] == 0, (cid, rates[cid])
    assert rates["frameworks"]["not reproduced"] >= 0.95


def _analyse(df, design=None, look=0):
    """The summary-rows path (tidy -> arms -> pairing -> tests -> decide) without the report tables."""
    results, _ = analyse_observations(*normalize(df), design=design, look=look)
    return {r["obs"].id: r for r in results}


def test_end_to_end_null_with_twins():
    """Full studies through the summary-rows path (pairing, averaging of twins): with no effect
    anywhere and 3 seeds, false verdicts stay at the per-claim rate (pairing by impl would count
    the twins as replicates and double n)."""
    false = total = 0
    for k in range(8):
        for r in _analyse(make_summary(seeds=(0, 1, 2), rng_seed=500 + k)).values():
            total += 1
            false += false_verdict(r, no_effect=True)
            if r["obs"].kind == "difference":
                assert all(e["n"] <= 3 for g in r["groups"] for e in g["primary"])
    assert false <= 0.10 * total, (false, total)


def test_sequential_twin_duplicated_impl_changes_nothing():
    """A copied impl folder under the sequential design (looks 3, 6): every claim but the
    implementations comparison has the same decision (verdict, look, n)."""
    base = make_summary(seeds=tuple(range(6)), effects={"g_loss": {"fid": math.log(1.5)},
                                                        "tanh_output": {"fid": -math.log(1.3)}}, rng_seed=9)
    a = stats.interim(base, looks=(3, 6), look=1)
    b = stats.interim(duplicate_impl(base), looks=(3, 6), look=1)
    def decision(dec):  # everything but the reason's text, whose p-values carry the twins' round-off
        return {k: v for k, v in dec.items() if k != "reason"}

    for cid, dec in a["claims"].items():
        if cid != "frameworks":
            assert decision(dec) == decision(b["claims"][cid]), cid
    assert a["claims"]["g_loss"]["verdict"] == "reproduced"


def _no_collapse(df):
    df = df.copy()
    df.loc[df["recipe"].isin(["basic_tutorial", "dcgan_carpedm20"]), "d_collapse_frac"] = 0.0
    return df


def test_premise_that_never_occurs_is_inconclusive_never_not_reproduced():
    """No late D-loss collapse in either arm of the schedule claim (every seed 0): the ruled-out
    test would reject on the constant zeros (p = 0 before); the claim reads 'inconclusive: the
    premise did not occur', with the counts, at a fixed n and at every look of a design."""
    df = _no_collapse(make_summary(seeds=tuple(range(6)), rng_seed=12))
    res = _analyse(df)["schedule"]
    assert res["verdict"] == "inconclusive" and res["rule"] == "P", res["reason"]
    assert "the premise did not occur (no collapse in either arm)" in res["reason"]
    assert "in 0 of 6 treatment seeds and 0 of 6 control seeds" in res["reason"]
    for g in res["groups"]:
        r = g["primary"][0]
        assert r["state"] == "premise not met" and r["premise"]["k_t"] == r["premise"]["k_c"] == 0
    # sequential: open at the first look, decided inconclusive (P) at the cap
    first = stats.interim(df, looks=(3, 6), look=0)["claims"]["schedule"]
    assert (first["status"], first["rule"]) == ("open", "P")
    last = stats.interim(df, looks=(3, 6), look=1)["claims"]["schedule"]
    assert (last["status"], last["verdict"], last["rule"], last["n"]) == ("decided", "inconclusive", "P", 6)
    # one seed with a collapse in one arm: the premise occurred and the claim is tested
    df.loc[(df["recipe"] == "basic_tutorial") & (df["deviations"] == '{"g_steps": 1}') & (df["seed"] == 4),
           "d_collapse_frac"] = 0.3
    r = _analyse(df)["schedule"]["groups"][0]["primary"][0]
    assert r["state"] == "tested" and r["premise"]["k_c"] == 1


def test_identical_twins_are_reported_as_identical_with_n():
    """A copied impl scores identically on every seed: reported as exactly that, with n, and
    tested by exact sign tests (TOST p = 2^-n), not an infinite t (p = 0, 'equivalent' at any n)."""
    for n in (3, 6):
        res = _analyse(duplicate_impl(make_summary(seeds=tuple(range(n)), rng_seed=13)))["frameworks"]
        g = next(g for g in res["groups"] if g["group"] == "basic: pytorch_copy vs pytorch")
        r = g["primary"][0]
        assert r["identical"] and r["p"] == pytest.approx(0.5 ** n) and r["test"].startswith("TOST by exact sign")
        assert f"score identically on every seed (n = {n}" in r["reason"]
        # 6 comparisons in the family; the two identical ones come last in Holm's order (alpha / 2)
        assert r["m"] == 6 and r["crit_p"] == pytest.approx(0.025)
        assert r["verdict"] == ("inconclusive" if n == 3 else "reproduced"), (n, r["reason"])


def test_one_seed_flips_a_constant_difference():
    """g_loss with no noise: every seed's log FID ratio is exactly the effect (constant up to
    rounding). The exact sign test decides: p = 2^(1-n) (0.25 at 3 seeds: inconclusive, not an
    infinite t; 0.031 at 6: reproduced). One seed flipped to the opposite effect: the t-test."""
    effect = 2 * LOG10
    def g_loss(df, **kw):
        return _analyse(df, **kw)["g_loss"]["groups"][0]["primary"][0]

    quiet = dict(effects={"g_loss": {"fid": effect}}, arm_sd=0.0, twin_sd=0.0, rng_seed=14)
    r3 = g_loss(make_summary(seeds=(0, 1, 2), **quiet))
    assert r3["constant"] and r3["p"] == pytest.approx(0.25) and r3["p_ruled"] == 1.0
    assert r3["verdict"] == "inconclusive" and r3["rule"] == "I"
    six = make_summary(seeds=tuple(range(6)), **quiet)
    r6 = g_loss(six)
    assert r6["p"] == pytest.approx(2 / 64) and r6["verdict"] == "reproduced" and r6["test"].startswith("exact sign")
    # the sequential design: nothing at look 1 (3 seeds), the cap's boundary at look 2
    seq = g_loss(six, design=Design((3, 6)), look=1)
    assert seq["p"] == pytest.approx(2 / 64) and seq["crit_p"] == pytest.approx(Design((3, 6)).crit(1, 0.05, 2))
    assert seq["verdict"] == ("reproduced" if seq["crit_p"] > 2 / 64 else "inconclusive")
    flip = six.copy()
    arm = (flip["recipe"] == "vanilla_mnist") & (flip["deviations"] == '{"g_loss": "minimax"}') & (flip["seed"] == 2)
    flip.loc[arm, "fid"] = flip.loc[arm, "fid"] * math.exp(-2 * effect)
    rf = g_loss(flip)
    assert not rf["constant"] and rf["test"] == "paired t-test over seeds"
    d = np.array([effect] * 5 + [-effect])
    assert rf["p"] == pytest.approx(sps.ttest_1samp(d, 0).pvalue, rel=1e-6)
    assert rf["verdict"] == "inconclusive"
