"""Each claim's families of tests and Holm's step-down within them, in both directions (the test
of an effect, "p", and the test that rules an effect of SESOI size out, "p_ruled"): which tests
enter (by their smallest attainable p), the critical p of each step (alpha / j at a single look,
the look's group-sequential boundary in a sequential design), the decisions, and the descriptive
Holm-adjusted p per claim and study-wide.
"""
from __future__ import annotations

import math

import numpy as np

from ganbench.stats.conventions import ALPHA
from ganbench.stats.multiplicity import holm, min_p_of, min_p_ruled_of
from ganbench.stats.paired import decision_interval


def _sequential(design) -> bool:
    """A design with more than one look (a fixed-n design, or none, is a single look)."""
    return design is not None and not design.fixed


def _design_crit(design, look: int, level: float, sides: int) -> float:
    """The critical p of a test of size ``level`` at ``look``: the level itself at a single look."""
    return design.crit(look, level, sides) if _sequential(design) else level


def _level(r: dict, key: str, level: float) -> float:
    """The size of one test at Holm's step ``level``. A verdict of 'reproduced' may be wrong 2.5% of the
    time per claim (a directed claim's effect test: two-sided 5%, one side counts). So a claim that
    names no direction runs its effect test at half the level (two-sided 2.5%: either side counts), and
    a non-inferiority claim, which a one-sided test reproduces (rule V), runs that test at half the
    level too (one-sided 2.5%, the usual non-inferiority level)."""
    if (key == "p" and two_sided(r)) or (key == "p_ruled" and r.get("scale") == "noninferiority"):
        return level / 2
    return level


def two_sided(r: dict) -> bool:
    """A claim that the factor changes the endpoint, in no named direction ("affects")."""
    return r.get("scale") in ("log_ratio", "difference") and r.get("expected") is None


def _planned_reach(r: dict, key: str, level: float, design, look: int) -> tuple[float, float, str]:
    """(smallest p at the planned n, the critical p it must beat, where) for family admission."""
    level = _level(r, key, level)
    sides = int(r.get("sides" if key == "p" else "sides_ruled", 2 if key == "p" else 1))
    if not _sequential(design):
        n_t, n_c = r.get("n_t", r["n"]), r.get("n_c", r["n"])
        mp = r["min_p"] if key == "p" else r.get("min_p_ruled", math.nan)
        return mp, level, f"{n_t} vs {n_c} seeds"
    # sequential: can it beat the boundary at any look (planned n per look)?
    best = None
    for k, n in enumerate(design.looks):
        mp = min_p_of(r["scale"], n, n) if key == "p" else min_p_ruled_of(r["scale"], n, n, r["sesoi"])
        c = design.crit(k, level, sides)
        if best is None or mp - c < best[0] - best[1]:
            best = (mp, c, f"{n} vs {n} seeds (look {k + 1} of {design.k})")
    return best


def members(results: list[dict], key: str, design=None) -> list[dict]:
    """The endpoints that may enter the ``key`` family before admission by smallest p."""
    if not _sequential(design):
        if key == "p":
            return [r for r in results if r["state"] == "tested"]
        return [r for r in results if r["state"] == "tested" and np.isfinite(r.get("min_p_ruled", math.nan))]
    # a design fixes the family by the planned seeds, whatever this look's data
    if key == "p":
        return [r for r in results if r["state"] not in ("not measured", "arm missing")]
    return [r for r in results if r.get("in_p") and (r["scale"] == "equivalence" or r.get("expected") in
                                                      ("higher", "lower") or two_sided(r))]


def admit(results: list[dict], alpha: float = ALPHA, key: str = "p", design=None, look: int = 0) -> list[dict]:
    """The ``key`` family ("p": effect / TOST; "p_ruled": ruled out / beyond the margin) of one
    claim: every member whose smallest attainable p beats the critical p of Holm's first step
    (alpha / m, or the sequential boundary at alpha / m at some look); the tests that cannot are
    left out one at a time, the worst first, recomputing m. Depends on n only, not on data.
    A test left out of the effect family is 'too few seeds' (rule S) with the reason."""
    family = members(results, key, design)
    for r in results:
        r["in_" + key] = False
    while family:
        # every removal changes m and so alpha / m: recheck the remaining members each round
        m = len(family)
        gaps = []
        for r in family:
            mp, c, where = _planned_reach(r, key, alpha / m, design, look)
            if not (np.isfinite(mp) and mp < c):
                gaps.append(((mp if np.isfinite(mp) else math.inf) - c, r, mp, c, where))
        if not gaps:
            break
        _, worst, mp, c, where = max(gaps, key=lambda g: g[0])  # the worst first (first listed on ties)
        family = [r for r in family if r is not worst]
        why = (f"{worst['test'] or 'the test'} at {where} cannot reach p < {c:.4g} (critical p of Holm's first step "
               f"at m = {m}: alpha / {m}{', group-sequential boundary' if _sequential(design) else ''}; "
               f"its smallest p is {mp:.3g})")
        if key == "p" and worst["state"] == "tested":
            worst["state"], worst["why"] = "too few seeds", why
        worst["why_" + key] = why
    for r in family:
        r["in_" + key] = True
    return family


def step_down(family: list[dict], key: str, alpha: float = ALPHA, design=None, look: int = 0) -> None:
    """Holm's step-down over ``family``: sorted by p, the test at the step with j tests left rejects
    when p < critical p (alpha / j, or the look's boundary at alpha / j); the first that does not
    stops it. Sets ``reject_<key>`` and ``crit_<key>``. A member without a p (no data at this look)
    counts in m and cannot reject."""
    m = len(family)
    ps = [r.get(key, math.nan) if r["state"] == "tested" else math.nan for r in family]
    ps = [p if np.isfinite(p) else math.inf for p in ps]
    order = sorted(range(m), key=lambda i: ps[i])
    going = True  # Holm stops at the first step that does not reject: no later test rejects
    for rank, i in enumerate(order):
        r = family[i]
        sides = int(r.get("sides" if key == "p" else "sides_ruled", 2 if key == "p" else 1))
        c = _design_crit(design, look, _level(r, key, alpha / (m - rank)), sides)
        r["crit_" + key] = c
        going = going and ps[i] < c
        r["reject_" + key] = bool(going)


def adjust(results: list[dict], alpha: float = ALPHA, design=None, look: int = 0) -> None:
    """One claim's families (after ``admit``): Holm-adjusted p (descriptive), the step-down decision
    against the critical p (alpha / j, or the look's boundary) for p and p_ruled, and m."""
    for key in ("p", "p_ruled"):
        family = [r for r in results if r.get("in_" + key)]
        adj = holm([r.get(key, math.nan) if r["state"] == "tested" else math.nan for r in family])
        for r in results:
            r[key + "_holm"] = math.nan
            r["reject_" + key] = False
            r["crit_" + key] = math.nan
        for r, a in zip(family, adj):
            r[key + "_holm"] = float(a)
        step_down(family, key, alpha, design, look)
        for r in results:
            r["m" if key == "p" else "m_ruled"] = len(family)
    for r in results:  # the interval the effect decision used (at its critical p), where a t-test made it
        dec = decision_interval(r) if r["state"] == "tested" else None
        r["dec_lo"], r["dec_hi"], r["dec_conf"] = dec if dec else (math.nan, math.nan, math.nan)


def study_wide(results: list[dict]) -> None:
    """Holm across every admitted primary test of every claim (descriptive: p_holm_study)."""
    for key in ("p", "p_ruled"):
        family = [r for r in results if r.get("in_" + key) and r["state"] == "tested"
                  and np.isfinite(r.get(key, math.nan))]
        for r in results:
            r[key + "_holm_study"] = math.nan
        for r, a in zip(family, holm([r[key] for r in family])):
            r[key + "_holm_study"] = float(a)
        for r in results:
            r["m_study" if key == "p" else "m_ruled_study"] = len(family)
