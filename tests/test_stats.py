"""Statistics of the report on synthetic summaries with known truth (no DL framework).

Deterministic scenarios of issue 8; the calibration by simulation is in test_calibration.py.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ganbench import stats
from ganbench.observations import OBSERVATIONS
from ganbench.stats import guard, inference, policy
from report_fixtures import duplicate_impl, make_summary

LOG10 = math.log(1.1)
ADAM = ("dcgan_carpedm20", json.dumps({"optim": "adam_default"}))
BLOG = ("dcgan_blog", "{}")
NOBN = ("dcgan_blog", json.dumps({"batch_norm": False}))


def by_id(analysis: dict) -> dict:
    return {r["id"]: r for r in analysis["observations"]}


def endpoint(res: dict, metric: str, group: int = 0) -> dict:
    return next(r for r in res["groups"][group]["primary"] if r["metric"] == metric)


def verdicts(analysis: dict) -> dict:
    return {r["id"]: (r["verdict"], tuple((g["group"], g["verdict"]) for g in r["groups"]))
            for r in analysis["observations"]}


@pytest.fixture(scope="module")
def null5():
    return stats.analyse(make_summary(rng_seed=1))


def test_every_observation_has_a_verdict_with_a_reason(null5):
    res = by_id(null5)
    assert list(res) == [o.id for o in OBSERVATIONS]
    for r in res.values():
        assert r["verdict"] in ("reproduced", "weaker than claimed", "not reproduced", "inconclusive")
        assert r["reason"]
    # schedule has a verdict per recipe (model); frameworks per model
    assert [g["group"] for g in res["schedule"]["groups"]] == ["basic_tutorial (basic)", "dcgan_carpedm20 (dcgan)"]
    assert {m["group"] for m in res["frameworks"]["models"]} == {"basic", "dcgan"}


def test_seed_is_the_unit_twins_are_averaged(null5):
    """2 impls x 5 seeds: n = 5, and the per-seed effect is the mean over the impls of the
    log-ratio, checked by hand on the g_loss arms."""
    r = endpoint(by_id(null5)["g_loss"], "fid")
    assert r["n"] == 5 and r["test"] == "paired t-test over seeds"
    df = null5["df"]
    t = df[(df["recipe"] == "vanilla_mnist") & (df["deviations"] == '{"g_loss": "minimax"}')]
    c = df[(df["recipe"] == "vanilla_mnist") & (df["deviations"] == "{}")]
    m = t.merge(c, on=["seed", "impl"], suffixes=("_t", "_c"))
    d = (np.log(m["fid_t"]) - np.log(m["fid_c"])).groupby(m["seed"]).mean().to_numpy()
    np.testing.assert_allclose(r["pairs"]["d"].to_numpy(), d)
    assert r["estimate"] == pytest.approx(d.mean())
    ci = sps.ttest_rel(m.groupby("seed")["fid_t"].apply(lambda x: np.log(x).mean()),
                       m.groupby("seed")["fid_c"].apply(lambda x: np.log(x).mean())).confidence_interval(0.95)
    assert (r["ci_lo"], r["ci_hi"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert r["p"] == pytest.approx(sps.ttest_1samp(d, 0).pvalue)


def test_ci_is_the_t_interval_not_min_max():
    d = np.array([0.1, 0.3, -0.05, 0.2, 0.12])
    r = inference.difference(d, "higher", LOG10)
    ci = sps.ttest_1samp(d, 0).confidence_interval(0.95)
    assert (r["ci_lo"], r["ci_hi"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert (r["ci_lo"], r["ci_hi"]) != (pytest.approx(d.min()), pytest.approx(d.max()))
    # ruled-out test: H0 effect >= SESOI, one-sided t
    assert r["p_ruled"] == pytest.approx(sps.ttest_1samp(d, LOG10, alternative="less").pvalue)


def test_bca_bootstrap_only_from_ten_seeds_and_matches_scipy():
    rng = np.random.default_rng(3)
    d = rng.normal(0.1, 0.1, 12)
    r = inference.difference(d, "higher", LOG10)
    ref = sps.bootstrap((d,), np.mean, confidence_level=0.95, n_resamples=inference.BCA_RESAMPLES, method="BCa",
                        random_state=np.random.default_rng(20250101)).confidence_interval
    assert (r["bca_lo"], r["bca_hi"]) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert r["bca_lo"] > d.min() and r["bca_hi"] < d.max()
    assert math.isnan(inference.difference(d[:5], "higher", LOG10)["bca_lo"])


def test_tost_uses_the_90_percent_interval():
    d = np.array([0.02, 0.05, 0.08, 0.04, 0.06, 0.07, 0.03])
    margin = 0.068
    r = inference.equivalence(d, margin)
    ci90 = sps.ttest_1samp(d, 0).confidence_interval(0.90)
    assert (r["ci_lo"], r["ci_hi"]) == (pytest.approx(ci90.low), pytest.approx(ci90.high))
    assert r["p"] == pytest.approx(max(sps.ttest_1samp(d, -margin, alternative="greater").pvalue,
                                       sps.ttest_1samp(d, margin, alternative="less").pvalue))
    # this case is equivalent at 90% (TOST at alpha = 0.05) but would not be at 95%
    assert 0.025 < r["p"] < 0.05
    ci95 = sps.ttest_1samp(d, 0).confidence_interval(0.95)
    assert ci95.high > margin
    r.update(state="tested", scale="equivalence", sesoi=margin, sesoi_text="±x", p_holm=r["p"],
             p_ruled_holm=r["p_ruled"])
    assert policy.endpoint_verdict(r)[0] == "reproduced"


def test_divergence_uses_barnard_and_exact_cis():
    r = inference.divergence(5, 5, 0, 5, "higher", 0.2)
    assert r["p"] == pytest.approx(sps.barnard_exact([[5, 0], [0, 5]]).pvalue)
    assert r["p"] < 0.05 / 16 < sps.fisher_exact([[5, 0], [0, 5]]).pvalue  # Fisher could not reach it
    assert r["ci_t"] == pytest.approx(tuple(sps.binomtest(5, 5).proportion_ci(method="exact")))
    assert r["ci_lo"] > 0 and r["estimate"] == 1.0
    assert inference.barnard_min_p(3, 3) == pytest.approx(0.03125)


def test_spread_is_brown_forsythe():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 6), rng.normal(0, 1, 6)
    a[0] = 8.0  # an outlier: center='median' and center='mean' differ
    r = inference.spread(a, b, "higher", math.log(1.5))
    assert r["p"] == pytest.approx(sps.levene(a, b, center="median").pvalue)
    assert r["p"] != pytest.approx(sps.levene(a, b, center="mean").pvalue)
    assert r["estimate"] == pytest.approx(math.log(a.std(ddof=1) / b.std(ddof=1)))


def test_holm_hand_computed():
    np.testing.assert_allclose(inference.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    adj = inference.holm([0.01, math.nan, 0.04])
    np.testing.assert_allclose(adj[[0, 2]], [0.02, 0.04])
    assert math.isnan(adj[1])


def _tested(**kw) -> dict:
    r = {"state": "tested", "scale": "log_ratio", "expected": "higher", "sesoi": LOG10, "sesoi_text": "+10%",
         "estimate": 0.2, "ci_lo": 0.1, "ci_hi": 0.3, "p_holm": 0.01, "p_ruled_holm": 1.0, "n": 5,
         "min_p_ruled": 0.0, "test": "paired t-test over seeds", "why": ""}
    r.update(kw)
    return r


def test_policy_rules_on_constructed_results():
    assert policy.endpoint_verdict(_tested())[:2] == ("reproduced", "R")
    # significant but the CI crosses zero (a test/CI mismatch): never "reproduced"
    assert policy.endpoint_verdict(_tested(ci_lo=-0.01))[0] == "inconclusive"
    assert policy.endpoint_verdict(_tested(estimate=0.03, ci_lo=0.01, ci_hi=0.05))[:2] == ("weaker than claimed", "W")
    assert policy.endpoint_verdict(_tested(estimate=-0.2, ci_lo=-0.3, ci_hi=-0.1))[:2] == ("not reproduced", "O")
    assert policy.endpoint_verdict(_tested(p_holm=0.2, p_ruled_holm=0.01))[:2] == ("not reproduced", "X")
    assert policy.endpoint_verdict(_tested(p_holm=0.2, p_ruled_holm=0.2))[:2] == ("inconclusive", "I")
    # claimed direction "lower"
    assert policy.endpoint_verdict(_tested(expected="lower", estimate=-0.2, ci_lo=-0.3, ci_hi=-0.1))[0] == "reproduced"


def test_ruled_out_direction_is_holm_adjusted_too():
    rs = [dict(_tested(p=0.5, p_ruled=p, min_p=0.0)) for p in (0.02, 0.03, 0.04)]
    for key in ("p", "p_ruled"):
        policy.admit(rs, key=key)
    policy.adjust(rs)
    np.testing.assert_allclose([r["p_ruled_holm"] for r in rs], [0.06, 0.06, 0.06])
    assert [r["crit_p_ruled"] for r in rs] == pytest.approx([0.05 / 3, 0.05 / 2, 0.05])
    assert not any(r["reject_p_ruled"] for r in rs)
    assert all(policy.endpoint_verdict(r)[0] == "inconclusive" for r in rs)
    # the step-down at alpha / j is Holm's adjusted p < alpha
    rs[0]["p_ruled"], rs[1]["p_ruled"] = 0.01, 0.02
    policy.adjust(rs)
    assert [r["reject_p_ruled"] for r in rs] == [True, True, True]
    assert all((r["p_ruled_holm"] < 0.05) == r["reject_p_ruled"] for r in rs)
    assert [policy.endpoint_verdict(r)[1] for r in rs] == ["X", "X", "X"]


def test_min_p_admission_drops_tests_that_cannot_reach_significance():
    rs = [dict(_tested(p=0.5, p_ruled=0.5, min_p=0.0)) for _ in range(15)]
    rs.append(dict(_tested(p=0.031, p_ruled=math.nan, min_p=0.031, test="Barnard", n=3, n_t=3, n_c=3)))
    policy.admit(rs)
    assert rs[-1]["state"] == "too few seeds" and "cannot reach p < 0.003125" in rs[-1]["why"]
    assert "at m = 16: alpha / 16" in rs[-1]["why"] and "3 vs 3" in rs[-1]["why"]
    assert [r["in_p"] for r in rs] == [True] * 15 + [False]


def test_admission_leaves_tests_out_one_at_a_time_worst_first():
    """Brown-Forsythe (smallest p 0.116 at 3 vs 3) and Barnard (0.031): at m = 2 neither can beat
    0.025; dropping the worst (Brown-Forsythe) first makes m = 1, where Barnard can (dropping both
    at once would leave the claim without a test)."""
    bf = dict(_tested(p=0.5, p_ruled=0.5, min_p=inference.brown_forsythe_min_p(3, 3), scale="spread",
                      test="Brown-Forsythe", n=3, n_t=3, n_c=3))
    barnard = dict(_tested(p=0.031, p_ruled=0.5, min_p=inference.barnard_min_p(3, 3), scale="divergence",
                           test="Barnard", n=3, n_t=3, n_c=3))
    family = policy.admit([bf, barnard])
    assert family == [barnard] and barnard["state"] == "tested" and bf["state"] == "too few seeds"
    assert "smallest p is 0.116" in bf["why"] and "at m = 2" in bf["why"]
    # with a t-test beside them (m = 3), Barnard goes too, after Brown-Forsythe
    t = dict(_tested(p=0.5, p_ruled=0.5, min_p=0.0))
    bf["state"] = barnard["state"] = "tested"
    assert policy.admit([bf, barnard, t]) == [t]
    assert "at m = 3" in bf["why"] and "at m = 2" in barnard["why"]


def test_all_treatment_runs_diverged_is_reproduced_for_a_stability_claim():
    df = make_summary(diverge={NOBN: 1.0}, rng_seed=2)
    res = by_id(stats.analyse(df))["dcgan_batchnorm"]
    div = endpoint(res, "divergence")
    assert (div["k_t"], div["n_t"], div["k_c"], div["n_c"]) == (5, 5, 0, 5)
    assert div["verdict"] == "reproduced" and div["test"].startswith("Barnard")
    assert endpoint(res, "spread")["state"] == "too few seeds"  # no FID in the diverged arm
    assert res["verdict"] == "reproduced"
    # the diverged runs are listed, not imputed
    fid = next(r for r in res["groups"][0]["secondary"] if r["metric"] == "fid")
    assert fid["n"] == 0


def test_collapsed_runs_count_as_training_failures_for_a_stability_claim():
    """Without batch norm the DCGAN may finish with finite losses but one image for every z
    (the quick study: FID 1041.6 in all three seeds, 1 class): that is a failure to train."""
    nobn = json.dumps({"batch_norm": False}, sort_keys=True)
    df = make_summary(untrained=((BLOG[0], nobn),), rng_seed=2)
    assert (df.loc[df["deviations"] == nobn, "status"] == "ok").all()
    res = by_id(stats.analyse(df))["dcgan_batchnorm"]
    fail = endpoint(res, "divergence")
    assert (fail["k_t"], fail["n_t"], fail["k_c"], fail["n_c"]) == (5, 5, 0, 5)
    assert fail["verdict"] == "reproduced" and res["verdict"] == "reproduced"


def test_both_arms_all_diverged_is_inconclusive_with_that_reason():
    df = make_summary(diverge={NOBN: 1.0, BLOG: 1.0}, rng_seed=2)
    res = by_id(stats.analyse(df))["dcgan_batchnorm"]
    assert res["verdict"] == "inconclusive"
    assert "did not train" in res["reason"] and "every baseline run diverged" in res["reason"]


def test_at_three_seeds_the_divergence_test_enters_its_own_claims_family():
    """Per-claim families: at 3 vs 3 Barnard's smallest p (0.031) beats alpha / 1 once the seed
    spread (no FID in the diverged arm) carries no test; in one study-wide family it could not."""
    df = make_summary(seeds=(0, 1, 2), diverge={NOBN: 1.0}, rng_seed=2)
    res = by_id(stats.analyse(df))["dcgan_batchnorm"]
    div = endpoint(res, "divergence")
    assert div["state"] == "tested" and div["m"] == 1 and div["p"] == pytest.approx(0.03125)
    assert div["verdict"] == "reproduced" and res["verdict"] == "reproduced"
    assert div["p_holm_study"] > 0.05  # the study-wide view: not significant across every claim


def test_one_experiment_judges_the_two_adam_claims_in_their_own_directions():
    """Default Adam 40% worse in FID: the DCGAN post's claim (2e-4 / 0.5 trains better) is reproduced
    and the walk-through's (Adam needs no tuning: no more than 25% worse) is not (rule B). No
    difference: the post's claim is not reproduced (a 10% effect ruled out, rule X) and the
    walk-through's is (worse by 25% ruled out, rule V)."""
    worse = by_id(stats.analyse(make_summary(effects={"dcgan_adam": {"fid": math.log(1.4)}}, arm_sd=0.2,
                                             rng_seed=11)))
    assert worse["dcgan_adam"]["verdict"] == "reproduced", worse["dcgan_adam"]["reason"]
    nt = endpoint(worse["adam_no_tuning"], "fid")
    assert nt["scale"] == "noninferiority" and nt["estimate"] == pytest.approx(math.log(1.4), abs=0.05)
    assert (nt["verdict"], nt["rule"]) == ("not reproduced", "B"), nt["reason"]
    same = by_id(stats.analyse(make_summary(arm_sd=0.2, rng_seed=12)))
    fid = endpoint(same["dcgan_adam"], "fid")
    assert (fid["verdict"], fid["rule"]) == ("not reproduced", "X"), fid["reason"]
    nt = endpoint(same["adam_no_tuning"], "fid")
    assert (nt["verdict"], nt["rule"]) == ("reproduced", "V"), nt["reason"]
    assert same["adam_no_tuning"]["verdict"] == "reproduced"
    # worse by half the margin, measured precisely: still non-inferior, and the reason says it is worse
    half = by_id(stats.analyse(make_summary(effects={"dcgan_adam": {"fid": math.log(1.25) / 2}}, arm_sd=0.05,
                                            rng_seed=13)))
    nt = endpoint(half["adam_no_tuning"], "fid")
    assert (nt["verdict"], nt["rule"]) == ("reproduced", "V") and "worse by less than the margin" in nt["reason"]


def test_a_claim_with_no_direction_is_reproduced_either_way_and_ruled_out_by_tost():
    """z_dim 'affects the training results': FID 30% better or 30% worse both reproduce it (rule R, never
    the 'opposite' rule O); no difference, measured precisely, rules a 10% difference out either way
    (TOST, rule X); the report's rules say so."""
    for effect, side in ((math.log(1.3), "higher"), (-math.log(1.3), "lower")):
        res = by_id(stats.analyse(make_summary(effects={"z_dim": {"fid": effect}}, arm_sd=0.2, rng_seed=21)))
        fid = endpoint(res["z_dim"], "fid")
        assert fid["expected"] is None
        assert (fid["verdict"], fid["rule"]) == ("reproduced", "R"), fid["reason"]
        assert f"({side};" in fid["reason"]
    none = by_id(stats.analyse(make_summary(arm_sd=0.1, rng_seed=22)))
    fid = endpoint(none["z_dim"], "fid")
    assert (fid["verdict"], fid["rule"]) == ("not reproduced", "X"), fid["reason"]
    # a 5% shift, measured precisely: significant but below the SESOI (W), not ruled out
    small = by_id(stats.analyse(make_summary(effects={"z_dim": {"fid": -math.log(1.05)}}, arm_sd=0.05, rng_seed=23)))
    fid = endpoint(small["z_dim"], "fid")
    assert (fid["verdict"], fid["rule"]) == ("weaker than claimed", "W"), fid["reason"]
    assert "no direction" in dict((c, t) for c, _, t in policy.RULES)["R"]


def test_opposite_per_model_framework_shifts_are_not_equivalent():
    # TensorFlow 20% worse on BasicGAN and 40% better on DCGAN
    df = make_summary(impl_shift={("tensorflow", "basic"): math.log(1.2), ("tensorflow", "dcgan"): math.log(0.6)},
                      rng_seed=3)
    fw = by_id(stats.analyse(df))["frameworks"]
    assert fw["verdict"] != "reproduced"
    for m in fw["models"]:
        assert m["verdict"] == "not reproduced", m


def test_opposite_per_model_effects_are_heterogeneous():
    # schedule: D collapses less under 1:2 on BasicGAN, more on DCGAN (by 3 SESOIs)
    df = make_summary(effects={"schedule": {"d_collapse_frac": -0.3}}, rng_seed=4)
    flip = (df["recipe"] == "dcgan_carpedm20") & (df["deviations"] == "{}")
    df.loc[flip, "d_collapse_frac"] += 0.6
    res = by_id(stats.analyse(df))["schedule"]
    assert [g["verdict"] for g in res["groups"]] == ["reproduced", "not reproduced"]
    assert res["verdict"] == "inconclusive" and "heterogeneous" in res["reason"]
    assert "interaction p" in res["reason"]


def test_small_significant_effect_on_damages_d_is_weaker_than_claimed():
    # D's held-out separation 0.02 lower (SESOI 0.05) and log FID still moving 3% over the second half (SESOI 10%)
    df = make_summary(effects={"freeze_d": {"d_heldout_sep": -0.02, "fid_trend_late": math.log(1.03)}},
                      arm_sd=0.05, rng_seed=5)
    res = by_id(stats.analyse(df))["freeze_d"]
    sep, trend = endpoint(res, "d_heldout_sep"), endpoint(res, "fid_trend_late")
    assert -0.03 < sep["estimate"] < -0.01 and sep["p_holm"] < 0.05
    assert 0.01 < trend["estimate"] < 0.05 and trend["p_holm"] < 0.05
    assert sep["verdict"] == trend["verdict"] == "weaker than claimed"
    assert res["verdict"] == "weaker than claimed", res["reason"]


def test_large_effect_is_reproduced():
    df = make_summary(effects={"g_loss": {"fid": math.log(1.4)}}, rng_seed=6)
    res = by_id(stats.analyse(df))["g_loss"]
    assert res["verdict"] == "reproduced", res["reason"]


def test_nan_and_inf_scores_are_listed_with_the_reason():
    df = make_summary(rng_seed=7)
    arm = (df["recipe"] == "vanilla_mnist") & (df["deviations"] == "{}") & (df["impl"] == "pytorch")
    nan_id, inf_id = df.loc[arm, "run_id"].iloc[0], df.loc[arm, "run_id"].iloc[1]
    df.loc[df["run_id"] == nan_id, "fid"] = np.nan
    df.loc[df["run_id"] == inf_id, "fid"] = np.inf
    a = stats.analyse(df)
    why = {e["run_id"]: " ".join(e["reasons"]) for e in a["excluded"]}
    assert "fid: NaN score" in why[nan_id] and "g_loss" in why[nan_id]
    assert "fid: infinite score" in why[inf_id]
    # the tensorflow twins of those seeds are unmatched in the control arm... but the seed still counts
    # through the other impl: n stays 5
    assert endpoint(by_id(a)["g_loss"], "fid")["n"] == 5


def test_diverged_failed_and_stray_runs_are_listed():
    df = make_summary(diverge={ADAM: 0.5}, rng_seed=8, extra_arms=(("dcgan_blog", json.dumps({"prior": "normal"})),))
    df.loc[0, "status"] = "failed"
    a = stats.analyse(df)
    why = {e["run_id"]: " ".join(e["reasons"]) for e in a["excluded"]}
    assert "failed" in why[df.loc[0, "run_id"]]
    for rid in df.loc[df["status"] == "diverged", "run_id"]:
        assert "diverged: no quality score" in why[rid]
    stray = df.loc[(df["recipe"] == "dcgan_blog") & (df["deviations"] == '{"prior": "normal"}'), "run_id"]
    assert len(stray) and all("not in any observation arm" in why[r] for r in stray)


def test_guard_rule_untrained_baseline_is_inconclusive():
    df = make_summary(effects={"g_loss": {"fid": math.log(1.4)}}, untrained=("vanilla_mnist",), rng_seed=6)
    res = by_id(stats.analyse(df))["g_loss"]
    assert res["verdict"] == "inconclusive" and res["rule"] == "G"
    assert res["reason"].startswith("the baseline did not train")
    assert guard.max_fid("basic", 28) == 450 and guard.max_fid("dcgan", 32) == 450 and guard.max_fid("dcgan", 64) == 286
    # with too few seeds as well, the untrained baseline is the reason given (as in the smoke study)
    one = make_summary(seeds=(0,), effects={"g_loss": {"fid": math.log(1.4)}}, untrained=("vanilla_mnist",), rng_seed=6)
    res = by_id(stats.analyse(one))["g_loss"]
    assert res["rule"] == "G" and res["reason"].startswith("the baseline did not train")


def _baseline(dataset, model, size, fids, classes):
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(len(fids))], "seed": list(range(len(fids))),
                         "impl": "tensorflow", "status": "ok", "dataset": dataset, "model": model,
                         "image_size": size, "fid": fids, "classes_covered": classes})


def test_guard_thresholds_belong_to_the_datasets_feature_space():
    """Fashion-MNIST's network gives FIDs ~2.8x smaller than MNIST's: a run at FID 300 there is as
    bad as one repeated image (489), so the MNIST limit of 450 must not pass it. CelebA has no
    classes: FID (Inception) alone decides, and a missing class count is not 'not measured'."""
    assert guard.max_fid("basic", 28, "fashion_mnist") == 162 and guard.max_fid("dcgan", 64, "fashion_mnist") == 103
    assert guard.max_fid("basic", 64, "celeba") == 150 and guard.min_classes("celeba") is None
    assert guard.check(_baseline("mnist", "basic", 28, [300.0, 310.0, 320.0], [10, 10, 9]))["state"] == "passed"
    fashion = guard.check(_baseline("fashion_mnist", "basic", 28, [300.0, 310.0, 320.0], [10, 10, 9]))
    assert fashion["state"] == "failed" and "<= 162" in fashion["reason"], fashion
    assert guard.check(_baseline("fashion_mnist", "basic", 28, [90.0, 120.0, 150.0], [10, 10, 9]))["state"] == "passed"
    celeba = guard.check(_baseline("celeba", "dcgan", 64, [60.0, 80.0, 140.0], [math.nan] * 3))
    assert celeba["state"] == "passed" and "classes" not in celeba["reason"], celeba
    celeba_bad = guard.check(_baseline("celeba", "basic", 64, [60.0, 80.0, 240.0], [math.nan] * 3))
    assert celeba_bad["state"] == "failed" and "<= 150" in celeba_bad["reason"], celeba_bad
    # failed_to_learn (the per-seed failure outcome) applies the same per-dataset limits
    rows = pd.concat([_baseline("fashion_mnist", "basic", 28, [300.0], [10]), _baseline("celeba", "dcgan", 64, [140.0], [math.nan]),
                      _baseline("mnist", "basic", 28, [300.0], [10])], ignore_index=True)
    assert guard.failed_to_learn(rows).tolist() == [True, False, False]


def test_guard_checks_the_recipes_own_setting_not_a_control_that_learns_worse():
    """leaky_relu: the recipe (the notebook's setting) is the leaky treatment; a ReLU control that
    did not learn is the claimed effect, not an untrained baseline. The recipe's own arm untrained
    is (rule G)."""
    relu = json.dumps({"hidden_activation": "relu"}, sort_keys=True)
    df = make_summary(effects={"leaky_relu": {"fid": -math.log(1.4)}}, untrained=(("mnist_notebook", relu),),
                      rng_seed=7)
    res = by_id(stats.analyse(df))["leaky_relu"]
    assert res["rule"] != "G" and res["verdict"] == "reproduced", res["reason"]
    df = make_summary(effects={"leaky_relu": {"fid": -math.log(1.4)}}, untrained=(("mnist_notebook", "{}"),),
                      rng_seed=7)
    res = by_id(stats.analyse(df))["leaky_relu"]
    assert res["rule"] == "G" and "the baseline did not train" in res["reason"]


def test_missing_endpoint_columns_are_not_measured_not_a_crash():
    df = make_summary(seeds=(0, 1, 2), drop_columns=("d_probe_gap", "d_collapse_frac", "fid_mid", "fid_end_curve", "fid_trend_late"))
    res = by_id(stats.analyse(df))
    assert res["smoothing"]["rule"] == "N" and "not measured" in res["smoothing"]["reason"]
    assert res["schedule"]["verdict"] == "inconclusive"
    assert endpoint(res["prior"], "fid_trend_late")["state"] == "not measured"


def test_old_summary_without_recipes_renders_inconclusive():
    old = make_summary(seeds=(0, 1, 2)).drop(columns=["recipe", "deviations"])
    a = stats.analyse(old)
    for r in a["observations"]:
        if r["kind"] == "difference":
            assert r["verdict"] == "inconclusive" and r["rule"] == "A", r["id"]
    assert any("predates source recipes" in " ".join(e["reasons"]) for e in a["excluded"])
    assert stats.analyse(pd.DataFrame())["observations"]


def test_a_copied_impl_folder_is_not_evidence():
    """PyTorch rows duplicated under a third impl name: every non-framework verdict is the
    same, n stays the number of seeds; the copy is compared with both reference impls."""
    base = make_summary(seeds=(0, 1, 2), diverge={ADAM: 1.0}, effects={"g_loss": {"fid": math.log(1.3)},
                                                                      "tanh_output": {"fid": -math.log(1.3)}},
                        rng_seed=9)
    a1, a2 = stats.analyse(base), stats.analyse(duplicate_impl(base))
    v1, v2 = verdicts(a1), verdicts(a2)
    for oid in v1:
        if oid != "frameworks":
            assert v1[oid] == v2[oid], oid
    for r1, r2 in zip(a1["observations"], a2["observations"]):
        if r1["kind"] == "difference":
            for g1, g2 in zip(r1["groups"], r2["groups"]):
                assert [e["n"] for e in g1["primary"]] == [e["n"] for e in g2["primary"]]
    fw = by_id(a2)["frameworks"]
    assert {g["group"] for g in fw["groups"]} >= {"basic: pytorch_copy vs pytorch", "basic: pytorch_copy vs tensorflow"}


# --- issue 20: true smallest p, zero variance, ruled-out tests for stability claims ----------

def _bf_stat(x: np.ndarray, na: int) -> np.ndarray:
    """Brown-Forsythe F per row (first na columns one group), vectorised; 0 where undefined."""
    za = np.abs(x[:, :na] - np.median(x[:, :na], axis=1, keepdims=True))
    zb = np.abs(x[:, na:] - np.median(x[:, na:], axis=1, keepdims=True))
    nb, big_n = x.shape[1] - na, x.shape[1]
    ma, mb = za.mean(axis=1), zb.mean(axis=1)
    g = (na * ma + nb * mb) / big_n
    ssb = na * (ma - g) ** 2 + nb * (mb - g) ** 2
    ssw = ((za - ma[:, None]) ** 2).sum(axis=1) + ((zb - mb[:, None]) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ssw > 1e-9 * np.maximum(ssb, 1e-300), ssb / (ssw / (big_n - 2)), 0.0)


def test_brown_forsythe_smallest_p_closed_form():
    """Odd n: a group's median is one of its values, so F is bounded: F_max = (n_a - 1) n_b (N - 2) / N
    (n vs n: (n - 1)^2), reached by one constant group and one with deviations (0, c, ..., c); a
    hill-climb over random data never exceeds it. Even n: unbounded (0)."""
    assert inference.brown_forsythe_min_p(3, 3) == pytest.approx(sps.f.sf(4, 1, 4)) == pytest.approx(0.1161, abs=1e-4)
    assert inference.brown_forsythe_min_p(5, 5) == pytest.approx(sps.f.sf(16, 1, 8)) == pytest.approx(0.00395, abs=1e-5)
    assert inference.brown_forsythe_min_p(4, 4) == 0.0 and inference.brown_forsythe_min_p(3, 4) == 0.0
    for na, nb in ((3, 3), (5, 5), (3, 5), (7, 5)):
        big_n = na + nb
        f_max = max((na - 1) * nb, (nb - 1) * na) * (big_n - 2) / big_n
        spread_group = np.array([0.0] + [1.0, -1.0] * ((max(na, nb) - 1) // 2))  # deviations (0, 1, ..., 1)
        a, b = (spread_group, np.zeros(nb)) if (na - 1) * nb >= (nb - 1) * na else (np.zeros(na), spread_group)
        assert sps.levene(a, b, center="median").statistic == pytest.approx(f_max)
        assert inference.brown_forsythe_min_p(na, nb) == pytest.approx(sps.f.sf(f_max, 1, big_n - 2))
        rng = np.random.default_rng(na * 10 + nb)
        x = rng.normal(size=(400, big_n))
        assert _bf_stat(x[:3], na) == pytest.approx([sps.levene(r[:na], r[na:], center="median").statistic
                                                    for r in x[:3]])
        f = _bf_stat(x, na)
        for step in range(400):
            y = x + rng.normal(size=x.shape) * 0.3 * 0.99 ** step
            fy = _bf_stat(y, na)
            better = fy > f
            x[better], f[better] = y[better], fy[better]
        best = float(f.max())
        assert best <= f_max * (1 + 1e-9), (na, nb, best, f_max)
        assert best > 0.6 * f_max  # the search does get close


def test_constant_differences_get_the_exact_sign_test_never_p_zero():
    for n in (3, 4, 6):
        d = np.full(n, 0.3)
        r = inference.difference(d, "higher", LOG10)
        assert r["constant"] and r["test"].startswith("exact sign test")
        assert r["p"] == pytest.approx(2.0 ** (1 - n)) and r["p_ruled"] == 1.0
        assert r["ci_lo"] == r["ci_hi"] == pytest.approx(0.3)
        # what the sign-flip permutation test gives (scipy), one-sided
        perm = sps.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                    alternative="greater")
        assert inference.sign_test(d, 0.0, "greater") == pytest.approx(perm.pvalue) == pytest.approx(0.5 ** n)
        # below the SESOI on every seed: ruled out only by the exact test's p = 2^-n
        low = inference.difference(np.full(n, 0.01), "higher", LOG10)
        assert low["p_ruled"] == pytest.approx(0.5 ** n)
    # rounding does not make a constant into an infinite t
    d = np.log(np.exp(np.array([1.0, 2.0, 3.0]) + 0.2)) - np.array([1.0, 2.0, 3.0])
    assert np.ptp(d) > 0 and inference.difference(d, "higher", LOG10)["constant"]
    assert inference.difference(np.zeros(3), "lower", 0.1)["p_ruled"] == pytest.approx(0.125)


def test_identical_scores_are_not_equivalent_at_any_n():
    r = inference.equivalence(np.zeros(3), LOG10)
    assert r["identical"] and r["p"] == pytest.approx(0.125) and r["p_ruled"] == 1.0
    assert inference.equivalence(np.zeros(5), LOG10)["p"] == pytest.approx(1 / 32)


def test_no_variance_in_brown_forsythe_or_the_interaction_uses_exact_permutation_tests():
    a, b = np.array([-1.0, -1.0, 1.0, 1.0]), np.zeros(4)  # F would be infinite (p = 0 from scipy)
    r = inference.spread(a, b, "higher", math.log(1.5))
    assert r["p"] == pytest.approx(2 / 70) and r["test"].startswith("exact permutation")
    assert math.isnan(r["p_ruled"])  # SD ratio infinite: no F test, no p = 0
    it = inference.interaction({"a": np.ones(3), "b": np.full(3, 2.0)})
    assert it["p"] == pytest.approx(0.1) and it["test"].startswith("permutation")
    assert inference.interaction({"a": np.ones(3), "b": np.ones(3)})["p"] == 1.0


def test_ruled_out_failure_rate_is_an_exact_unconditional_test():
    """H0: rate_t - rate_c >= 0.2. Tables ordered by the Farrington-Manning score (its restricted
    MLE checked against a numeric maximisation); p = the tail's probability maximised over the
    null region, checked by brute force over a 2-D grid of (control, treatment) rates with
    treatment >= control + 0.2 (the maximum lies on the boundary); its smallest value is that of
    the most extreme table."""
    from scipy.special import xlogy

    for k_t, n_t, k_c, n_c in ((3, 10, 1, 12), (2, 7, 4, 9), (7, 7, 0, 3)):
        g = np.linspace(0, 0.8, 80001)
        ll = xlogy(k_t, g + 0.2) + xlogy(n_t - k_t, 1 - g - 0.2) + xlogy(k_c, g) + xlogy(n_c - k_c, 1 - g)
        assert inference.fm_restricted(k_t, n_t, k_c, n_c, 0.2)[1] == pytest.approx(g[np.nanargmax(ll)], abs=2e-5)

    def brute(k_t, n_t, k_c, n_c, delta):
        it, ic = np.arange(n_t + 1), np.arange(n_c + 1)
        z = inference.fm_score(it[:, None], n_t, ic[None, :], n_c, delta)
        tail = z <= inference.fm_score(k_t, n_t, k_c, n_c, delta) + 1e-9
        best = 0.0
        for pc in np.linspace(0, 1 - delta, 161):
            ft = sps.binom.pmf(it[None, :], n_t, np.linspace(pc + delta, 1, 41)[:, None])
            best = max(best, float((ft @ tail @ sps.binom.pmf(ic, n_c, pc)).max()))
        return best

    for table in ((0, 3, 0, 3), (1, 10, 2, 10), (0, 12, 0, 12), (2, 6, 4, 5)):
        assert inference.rate_difference_at_least(*table, 0.2) == pytest.approx(brute(*table, 0.2), abs=3e-3), table
    assert inference.rate_difference_at_least(0, 3, 0, 3, 0.2) == pytest.approx(0.8 ** 3)
    assert inference.divergence_ruled_min_p(3, 3, 0.2) == pytest.approx(inference.rate_difference_at_least(0, 3, 3, 3, 0.2))
    # no failure in either arm rules out a 0.2 difference only with many seeds: 0.8^10 at 10
    r10 = inference.divergence(0, 10, 0, 10, "higher", 0.2)
    r30 = inference.divergence(0, 30, 0, 30, "higher", 0.2)
    assert r10["p_ruled"] == pytest.approx(0.8 ** 10) and r30["p_ruled"] < 0.01
    assert r30["min_p_ruled"] == pytest.approx(inference.divergence_ruled_min_p(30, 30, 0.2))
    r30.update(state="tested", scale="divergence", expected="higher", sesoi=0.2, sesoi_text="0.20",
               p_holm=r30["p"], p_ruled_holm=r30["p_ruled"])
    assert policy.endpoint_verdict(r30)[:2] == ("not reproduced", "X")


def test_ruled_out_seed_spread_is_the_one_sided_f_test_of_the_ci():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 0.1, 12), rng.normal(0, 0.1, 12)
    r = inference.spread(a, b, "higher", math.log(1.5))
    f = (a.std(ddof=1) / b.std(ddof=1)) ** 2
    assert r["p_ruled"] == pytest.approx(sps.f.cdf(f / 1.5 ** 2, 11, 11))
    # rejects at 0.05 exactly when the 90% CI's upper bound of the SD ratio is below 1.5
    upper90 = 0.5 * math.log(f / sps.f.ppf(0.05, 11, 11))
    assert (r["p_ruled"] < 0.05) == (upper90 < math.log(1.5))
    assert inference.min_p_ruled_of("spread", 3) == 0.0 and inference.min_p_of("spread", 3) == pytest.approx(0.1161, abs=1e-4)


def test_stability_claim_can_read_not_reproduced():
    """Before, a failure-rate or spread endpoint could never read 'not reproduced': now equal
    spreads over many seeds and no failures rule the claim out when both tests reject."""
    rng = np.random.default_rng(6)
    div = inference.divergence(0, 40, 0, 40, "higher", 0.2)
    sd = inference.spread(rng.normal(0, 0.1, 40), rng.normal(0, 0.1, 40), "higher", math.log(1.5))
    rs = []
    for r, scale in ((div, "divergence"), (sd, "spread")):
        r.update(state="tested", scale=scale, expected="higher", sesoi=0.2 if scale == "divergence" else math.log(1.5),
                 sesoi_text="x", why="")
        rs.append(r)
    for key in ("p", "p_ruled"):
        policy.admit(rs, key=key)
    policy.adjust(rs)
    verdicts = [policy.endpoint_verdict(r)[:2] for r in rs]
    assert verdicts == [("not reproduced", "X"), ("not reproduced", "X")], (verdicts, [r["p_ruled"] for r in rs])
    labelled = [("a", "not reproduced", "X", ""), ("b", "not reproduced", "X", "")]
    assert policy.combine_endpoints(labelled, "any")[0] == "not reproduced"


def test_models_reproduced_and_weaker_combine_to_weaker_not_heterogeneous():
    """Both models significant in the claimed direction, one below the SESOI: the same sign, so
    'weaker than claimed' (before: 'heterogeneous', which left a true 1 x SESOI effect on two
    models undecided about half the time); opposite verdicts stay heterogeneous."""
    g = [{"group": "a", "verdict": "reproduced", "rule": "R", "reason": ""},
         {"group": "b", "verdict": "weaker than claimed", "rule": "W", "reason": ""}]
    v, rule, why = policy.combine_groups(g, {"p": 0.4})
    assert (v, rule) == ("weaker than claimed", "M") and "below the SESOI on some" in why
    g[1].update(verdict="not reproduced", rule="X")
    assert policy.combine_groups(g, {})[0] == "inconclusive"
    g[1].update(verdict="inconclusive", rule="P")  # no evidence: the other model decides
    assert policy.combine_groups(g, {})[0] == "reproduced"


def test_the_decision_interval_is_dual_to_the_decision():
    """The interval the report shows beside a verdict excludes 0 exactly when the effect test
    passes its critical p (and TOST's lies inside the margin exactly when equivalence is shown)."""
    from ganbench.stats.inference import decision_interval, difference, equivalence

    rng = np.random.default_rng(7)
    agree = total = 0
    for n in (3, 5, 10):
        for crit in (0.05, 0.05 / 3, 0.0021):
            for _ in range(60):
                d = rng.normal(rng.choice([0.0, 0.5, 1.5]), 0.5, n)
                r = {**difference(d, "higher", 0.2), "crit_p": crit}
                lo, hi, conf = decision_interval(r)
                assert conf == pytest.approx(1 - crit)
                agree += (lo > 0 or hi < 0) == (r["p"] < crit)
                e = {**equivalence(d, 0.8), "crit_p": crit}
                lo, hi, conf = decision_interval(e)
                assert conf == pytest.approx(1 - 2 * crit)
                agree += (-0.8 < lo and hi < 0.8) == (e["p"] < crit)
                total += 2
    assert agree == total
    assert decision_interval({"test": "Barnard's exact test", "crit_p": 0.05, "n": 5, "sd": 1.0,
                              "estimate": 0.3}) is None


def test_every_claim_quotes_its_source_verbatim():
    """Each claim (the implementations comparison is the project's own) carries the sentences of
    its source that it judges, and each occurs verbatim in that source's file."""
    from pathlib import Path

    from ganbench.source_quotes import QUOTES

    ids = {o.id for o in OBSERVATIONS}
    assert set(QUOTES) == ids - {"frameworks"}
    for o in OBSERVATIONS:
        for q in QUOTES.get(o.id, ()):
            assert q.source in o.source, (o.id, q.source)
            assert q.text and q.gloss
    sources = Path(__file__).resolve().parents[2] / "shared" / "sources"
    if sources.is_dir():  # the posts themselves sit beside the repository in the project's workspace
        for claim, quotes in QUOTES.items():
            for q in quotes:
                assert q.text in (sources / q.file).read_text(encoding="utf-8"), (claim, q.text[:40])
