"""Statistics behind the report, one job per module:

* ``tidy``      — typed summary rows, canonical deviations, arm keys;
* ``arms``      — arms and pairing; the seed is the unit (impls averaged within a seed);
* ``inference`` — tests and intervals (scipy.stats), one namespace over ``conventions`` (level, fewest
  seeds, zero variance), ``paired`` (per-seed differences: t, sign test, TOST, interaction),
  ``failure_rate`` (Barnard, exact ruled-out test), ``seed_spread`` (Brown-Forsythe, F) and
  ``multiplicity`` (Holm's adjusted p, smallest attainable p);
* ``guard``     — the "did it learn" rule;
* ``policy``    — the verdict policy, one namespace over ``family`` (each claim's family, Holm in both
  directions), ``verdicts`` (verdicts and their combination), ``rulebook`` (the rules as data) and
  ``not_run`` (claims not run at this scale);
* ``sequential``— looks, the alpha-spending boundary and the interim decision per claim;
* ``analysis``  — observations end to end;
* ``tables``    — report tables.

``analyse(summary, config)`` returns everything the report needs. Nothing here imports
a deep-learning framework.
"""
from __future__ import annotations

import math

import pandas as pd

from ganbench.observations import OBSERVATIONS
from ganbench.stats import guard, inference, policy, sequential, tables, tidy
from ganbench.stats.analysis import analyse_observations, runs_not_in_any_arm
from ganbench.stats.inference import ALPHA, MIN_SEEDS, holm, t_interval
from ganbench.stats.sequential import Design, interim
from ganbench.stats.tables import condition_table, observations_frame
from ganbench.stats.tidy import framework_key, normalize

UNIT_RULE = (
    "The seed is the unit of replication: a seed's twin implementations share initial weights, batches and "
    "noise, so they are one replicate. Within a seed the implementations scored in both arms are averaged on "
    "the endpoint's scale (log FID for FID-like scores, so effects are log-ratios shown as % change); n is the "
    "number of seeds. Per-seed differences are tested with the paired t-test and the 95% t interval "
    f"(at least {MIN_SEEDS} seeds; a BCa bootstrap interval is shown beside it from "
    f"{inference.BCA_MIN_SEEDS} seeds); when every per-seed difference is equal there is no variance for a "
    "t-test and the exact sign test is used (p = 2^(1-n) two-sided, 2^-n one-sided: never 0)."
)
DIVERGED_RULE = (
    "Divergence is an outcome, never imputed: a diverged run has no quality score and is left out of every "
    "quality endpoint (listed below with the reason); per arm, a seed counts as diverged when at least half of "
    "its runs diverged, and stability claims are judged on the training-failure rate over seeds (a seed fails "
    "when at least half of its runs diverged or finished without learning by the guard's per-run rule, e.g. "
    "collapsed to one image; Barnard's exact "
    "test, exact Clopper-Pearson CI per arm, Newcombe CI of the difference) and on the seed spread of log FID "
    "over the seeds that trained (Brown-Forsythe; runs that did not learn are failures, not spread). Failed runs "
    "(the job did not finish) are not outcomes and are listed. Quality endpoints "
    "use only runs that trained to the end with a finite score."
)


def quotes_of(claim: str) -> list[dict]:
    """The source sentences a claim judges (ganbench.source_quotes), ready to print: a quote the
    source breaks over quoted lines ('> ') is joined into one line."""
    import re

    from ganbench.source_quotes import QUOTES

    out = []
    for q in QUOTES.get(claim, ()):
        text = re.sub(r"\s*\n>?\s*", " ", q.text).strip()
        lang = "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"
        out.append({"text": text, "gloss": q.gloss if q.gloss != q.text else text, "source": q.source,
                    "file": q.file, "lang": lang})
    return out


def analyse(summary: pd.DataFrame | None, config: dict | None = None, observations=OBSERVATIONS,
            design: Design | None = None, look: int | None = None, seed_order=None) -> dict:
    """Everything the report needs. ``design``: a sequential.Design (looks, spending) and ``look``
    its current look (0-based; default the last): each claim is shown at the look that decided it
    (or, open, at the current look). Without a design: the fixed-n design at the seeds present."""
    df, measured = normalize(summary)
    order = sequential.seed_order_of(df, seed_order)
    if design is None or design.fixed:
        results, excluded = analyse_observations(df, measured, observations, design=design, look=0)
        shown = design or sequential.Design((max(len(order), 1),))
        decisions = {r["obs"].id: {"status": "decided", "look": 1, "looks": 1, "n": len(order), "next_n": None}
                     for r in results}
    else:
        look = design.k - 1 if look is None else look
        shown = design
        found, excl_by = sequential.run_looks(df, measured, design, look, order, observations)
        results = [found[o.id].result for o in observations]
        excluded = [e for o in observations for e in excl_by[o.id]]
        policy.study_wide([r for res in results for g in res["groups"] for r in g["primary"]])
        decisions = {cid: sequential.decision_record(d, design) for cid, d in found.items()}
    excluded = excluded + runs_not_in_any_arm(df, observations)
    out_obs = []
    for res in results:
        obs = res.pop("obs")
        out_obs.append({"id": obs.id, "title": obs.title, "claim": obs.claim, "source": obs.source,
                        "kind": obs.kind, "recipes": obs.recipes, "factor": obs.factor, "notes": obs.notes,
                        "treatment_label": obs.treatment_label, "control_label": obs.control_label,
                        "treatment": obs.treatment, "control": obs.control, "combine": obs.combine,
                        "endpoints": [(e.label, e.scale, e.expected, e.sesoi_text, e.why) for e in obs.primary],
                        "secondary_endpoints": [e.label for e in obs.secondary],
                        "stability": obs.claim_is_stability, "decision": decisions[obs.id],
                        "quotes": quotes_of(obs.id), **res})
    return {
        "df": df, "measured": measured, "observations": out_obs,
        "excluded": tables.excluded_table(df, excluded), "exclusions": excluded,
        "conditions": condition_table(df), "speed": tables.speed(df),
        "alpha": ALPHA, "min_seeds": MIN_SEEDS, "rules": policy.RULES,
        "equivalence_rules": policy.EQUIVALENCE_RULES, "noninferiority_rules": policy.NONINFERIORITY_RULES,
        "combine_rules": policy.COMBINE_RULES,
        "family_rule": policy.FAMILY_RULE, "guard_rule": guard.RULE, "unit_rule": UNIT_RULE,
        "diverged_rule": DIVERGED_RULE, "design": shown.describe(), "boundary": shown.boundary_table(),
        "sequential": not shown.fixed, "looks": list(shown.looks),
    }


__all__ = ["analyse", "interim", "Design", "normalize", "framework_key", "holm", "t_interval", "condition_table",
           "observations_frame", "ALPHA", "MIN_SEEDS", "math"]
