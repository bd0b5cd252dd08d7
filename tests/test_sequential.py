"""The sequential seed design (ganbench.stats.sequential): the alpha-spending boundary, the
interim engine (decided claims stay fixed, open claims get the next look), the per-claim
family across looks, and the one-look design being the plain analysis.

The error rates of the design by simulation are in test_calibration.py."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from ganbench import stats
from ganbench.stats import sequential
from ganbench.stats.analysis import decide
from ganbench.stats.sequential import Design, one_sided_bounds, sequential_decisions, spent
from report_fixtures import make_summary

LOG10 = math.log(1.1)


def test_obrien_fleming_boundary_matches_the_published_values():
    """Lan-DeMets O'Brien-Fleming-type spending, one-sided 0.025, three equally spaced looks:
    the standard tabulated z boundaries 3.7103, 2.5114, 1.9930."""
    b = one_sided_bounds((1 / 3, 2 / 3, 1.0), 0.025, "obrien-fleming")
    assert b == pytest.approx((3.7103, 2.5114, 1.9930), abs=2e-4)
    # the first boundary is the spent alpha's quantile, whatever the integration
    assert b[0] == pytest.approx(sps.norm.isf(spent("obrien-fleming", 1 / 3, 0.025)))


@pytest.mark.parametrize("spending", sequential.SPENDINGS)
def test_boundary_spends_alpha_as_planned_by_monte_carlo(spending):
    """Brownian motion at the looks' information (3/10, 6/10, 1): the probability of crossing by
    look k is the spending function at t_k (MC, 400k paths, +-4 SE)."""
    info = (0.3, 0.6, 1.0)
    b = np.array(one_sided_bounds(info, 0.025, spending))
    rng = np.random.default_rng(11)
    w = (rng.standard_normal((400_000, 3)) * np.sqrt(np.diff((0.0,) + info))).cumsum(axis=1)
    crossed = np.maximum.accumulate(w / np.sqrt(info) >= b, axis=1).mean(axis=0)
    want = [spent(spending, t, 0.025) for t in info]
    se = np.sqrt(np.array(want) * (1 - np.array(want)) / 400_000)
    assert np.all(np.abs(crossed - want) < 4 * se + 1e-4), (crossed, want)


def test_design_table_and_the_fixed_design():
    d = Design((3, 6, 10), "obrien-fleming")
    rows = d.boundary_table()
    assert [r["n"] for r in rows] == [3, 6, 10] and rows[-1]["spent_effect"] == pytest.approx(0.05)
    assert all(a["spent_effect"] < b["spent_effect"] for a, b in zip(rows, rows[1:]))
    # O'Brien-Fleming: nothing much at 3 seeds, nearly alpha at the cap
    assert rows[0]["crit_effect"] < 1e-3 < rows[1]["crit_effect"] < rows[2]["crit_effect"] < 0.05
    assert rows[2]["crit_effect"] > 0.04
    # the |t| printed is the critical p's t quantile at n - 1 df
    assert rows[1]["t_effect"] == pytest.approx(sps.t.isf(rows[1]["crit_effect"] / 2, 5))
    one = Design((5,))
    assert one.fixed and one.crit(0, 0.05 / 3, 2) == pytest.approx(0.05 / 3)
    assert one.boundary_table()[0]["crit_effect"] == 0.05
    with pytest.raises(ValueError):
        Design((6, 3))
    with pytest.raises(ValueError):
        Design((3, 6), "linear")


def _claim(verdicts: dict[int, str]):
    """A fake claim result per look: verdict by look index (default inconclusive)."""
    def result(j):
        v = verdicts.get(j, "inconclusive")
        return {"verdict": v, "rule": "R" if v == "reproduced" else "I", "reason": f"look {j}",
                "groups": [{"primary": [{"state": "tested"}]}]}
    return result


def test_engine_decided_claims_stay_fixed_and_open_claims_get_the_next_look():
    design = Design((3, 6, 10))
    claims = {"a": _claim({0: "reproduced", 1: "inconclusive", 2: "not reproduced"}),
              "b": _claim({1: "not reproduced"}), "c": _claim({})}
    calls = []

    def evaluate(j, ids):
        calls.append((j, tuple(ids)))
        return {cid: claims[cid](j) for cid in ids}

    at0 = sequential_decisions(evaluate, design, 0, list(claims))
    assert (at0["a"].status, at0["a"].look, at0["a"].n, at0["a"].verdict) == ("decided", 0, 3, "reproduced")
    assert (at0["b"].status, at0["b"].next_n) == ("open", 6) and at0["c"].status == "open"
    calls.clear()
    at2 = sequential_decisions(evaluate, design, 2, list(claims))
    # a keeps the verdict of look 0 (its later 'data' would say otherwise); b decided at 6 seeds;
    # c reaches the cap and is decided there, inconclusive
    assert (at2["a"].look, at2["a"].verdict) == (0, "reproduced")
    assert (at2["b"].status, at2["b"].look, at2["b"].n, at2["b"].verdict) == ("decided", 1, 6, "not reproduced")
    assert (at2["c"].status, at2["c"].look, at2["c"].n, at2["c"].verdict) == ("decided", 2, 10, "inconclusive")
    # only open claims are evaluated at later looks
    assert calls == [(0, ("a", "b", "c")), (1, ("b", "c")), (2, ("c",))]
    with pytest.raises(ValueError):
        sequential_decisions(evaluate, design, 3, list(claims))


def test_untrained_baseline_or_unmeasured_endpoint_is_decided_at_once():
    """More seeds cannot make a failed guard pass (every finished baseline run counts): decided,
    inconclusive, at the look that found it."""
    res = {"verdict": "inconclusive", "groups": [{"primary": [{"state": "not trained"}, {"state": "not measured"}]}]}
    assert sequential.decisive(res)
    res["groups"][0]["primary"][0]["state"] = "too few seeds"
    assert not sequential.decisive(res)


def _sim_claims(rng, n):
    """A small fixed study through the calibration's simulator (seed-level data, production decide)."""
    from test_calibration import build, generate

    return build(generate(rng, n, effect_in_sesoi=1.0, div_effect=0.3, spread_ratio=2.0), n)


def test_one_look_is_the_plain_per_claim_analysis():
    rng = np.random.default_rng(5)
    for _ in range(5):
        a = _sim_claims(rng, 5)
        b = [{"obs": r["obs"], "groups": [{**g, "primary": [dict(e) for e in g["primary"]]} for g in r["groups"]]}
             for r in a]
        decide(a)
        decide(b, Design((5,)), 0)
        for ra, rb in zip(a, b):
            assert ra["verdict"] == rb["verdict"]
            for ea, eb in zip([e for g in ra["groups"] for e in g["primary"]],
                              [e for g in rb["groups"] for e in g["primary"]]):
                assert (ea["verdict"], ea["rule"], ea["m"], ea["p_holm"], ea["crit_p"]) == pytest.approx(
                    (eb["verdict"], eb["rule"], eb["m"], eb["p_holm"], eb["crit_p"]), nan_ok=True)


def test_sequential_family_is_fixed_by_the_cap_and_uses_the_boundary_at_alpha_over_j():
    """A stability claim at look 1 of (3, 6, 10): both tests are in its family (they can reach the
    boundary by the cap), m = 2, and each step's critical p is the boundary at alpha / j; at 3 vs 3
    Brown-Forsythe cannot reject (its smallest p is 0.116) but still counts in m."""
    design = Design((3, 6, 10), "obrien-fleming")
    rng = np.random.default_rng(2)
    study = [r for r in _sim_claims(rng, 3) if r["obs"].id == "dcgan_batchnorm"]
    decide(study, design, 0)
    div, sd = study[0]["groups"][0]["primary"]
    assert div["in_p"] and sd["in_p"] and div["m"] == sd["m"] == 2
    crits = sorted([div["crit_p"], sd["crit_p"]])
    assert crits == pytest.approx([design.crit(0, 0.025, 2), design.crit(0, 0.05, 2)])
    assert sd["min_p"] == pytest.approx(0.1161, abs=1e-4) and not sd["reject_p"]
    # the fixed design at 3 seeds: Brown-Forsythe leaves the family first and Barnard is alone
    study = [r for r in _sim_claims(np.random.default_rng(2), 3) if r["obs"].id == "dcgan_batchnorm"]
    decide(study)
    div, sd = study[0]["groups"][0]["primary"]
    assert sd["state"] == "too few seeds" and div["m"] == 1 and div["crit_p"] == 0.05


def test_interim_on_summaries_is_deterministic_and_keeps_earlier_verdicts():
    """The pipeline's call: with 3 seeds of every arm, g_loss (a large effect) is decided at look 1;
    after more seeds of every arm (6), its verdict, look and n are those of look 1, and open claims
    are analysed on the 6 seeds. The same input gives the same answer."""
    looks = (3, 6)
    full = make_summary(seeds=tuple(range(6)), effects={"g_loss": {"fid": math.log(1.6)}}, arm_sd=0.2, rng_seed=21)
    first = stats.interim(full[full["seed"] < 3], looks=looks, look=0)
    g = first["claims"]["g_loss"]
    assert (g["status"], g["verdict"], g["look"], g["n"]) == ("decided", "reproduced", 1, 3), g
    assert set(first["open"]) and all(first["claims"][c]["next_n"] == 6 for c in first["open"])
    assert first["claims"]["schedule"]["arms"] == [("basic_tutorial", {}), ("basic_tutorial", {"g_steps": 1}),
                                                   ("dcgan_carpedm20", {}), ("dcgan_carpedm20", {"g_steps": 1})]
    second = stats.interim(full, looks=looks, look=1)
    assert second["claims"]["g_loss"] == g
    assert not second["open"] and all(c["status"] == "decided" for c in second["claims"].values())
    assert all(c["n"] == 6 for cid, c in second["claims"].items() if cid in first["open"])
    assert stats.interim(full, looks=looks, look=1) == second
    # a different seed order is a different design: seeds 3..5 first
    other = stats.interim(full, looks=looks, look=0, seed_order=[3, 4, 5, 0, 1, 2])
    assert other["claims"]["g_loss"]["n"] == 3
