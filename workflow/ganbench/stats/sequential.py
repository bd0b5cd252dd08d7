"""Sequential seed design: looks, alpha spending and the interim decision of every claim.

A study starts every claim at a first look (e.g. 3 seeds). After each look the interim
analysis decides each claim; only the claims still open get more seeds, at the next look
(e.g. 6, then 10), up to the cap (the last look). A claim is evaluated at look k on the
seeds of that look only (``seed_order[:looks[k]]``), so its verdict at an earlier look stays
fixed whatever later looks add for other claims: the interim decision is a pure function of
(looks, look index, data) and can be recomputed at any time.

Error control per claim across the looks: every test of a claim is compared with a
group-sequential boundary (Lan-DeMets alpha spending over the information fractions
t_k = n_k / n_cap; the boundary is computed for the canonical joint normal distribution of
the looks' z statistics by recursive numerical integration) and Holm's step-down within the
claim uses, at its j-th step from the end, the boundary at level alpha / j. A single look is
the fixed-n design: the boundary is then alpha itself and the analysis is the plain per-claim
analysis.

The spending function was chosen by simulation (tests/test_calibration.py's model: paired
differences SD 0.71 SESOI; looks 3, 6, 10; 200 studies per cell): O'Brien-Fleming-type
decides every claim with a difference endpoint by the cap in 92-99% of studies at a true 1 x
SESOI (Pocock-type: 80-97%; the conjunctive and two-model claims fall to 80-88%), and 100% at
2 x SESOI with both, at the price of more seeds (expected seeds at 1 x SESOI 8.4-9.9 vs
6.7-9.3; at 2 x 6.1-7.2 vs 4.6-6.0). The issue's target is the power by the cap, so
O'Brien-Fleming-type is the default; Pocock-type remains available.

Public API for the pipeline:

* ``Design(looks, spending)``: ``.boundary_table()`` (per look: n, information, nominal alpha
  spent, critical p) and ``.crit(look, level, sides)``;
* ``interim(summary, looks, look, seed_order=None)``: per claim, decided (verdict, look, n)
  or open (the n of the next look and the arms that need those seeds), plus the boundary;
* ``stats.analyse(summary, config, design=Design(...), look=k, seed_order=...)``: the full
  report analysis at look k (each claim shown at the look that decided it);
* ``sequential_decisions(evaluate, design, look)``: the engine both use (and the calibration).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
from scipy import optimize
from scipy import stats as sps

from ganbench.stats.inference import ALPHA

SPENDINGS = ("pocock", "obrien-fleming")
DEFAULT_SPENDING = "obrien-fleming"
DEFAULT_LOOKS = (3, 6, 10)
_GRID = 1201  # points per look of the numerical integration (boundaries within 5e-6 z of a 6001-point grid)


def spent(spending: str, t: float, level: float) -> float:
    """Cumulative one-sided alpha spent by information fraction t (Lan-DeMets spending functions):
    Pocock-type level * ln(1 + (e - 1) t); O'Brien-Fleming-type 2 - 2 Phi(z_{1 - level/2} / sqrt(t))."""
    t = min(max(float(t), 0.0), 1.0)
    if t == 0:
        return 0.0
    if spending == "pocock":
        return level * math.log(1 + (math.e - 1) * t)
    if spending == "obrien-fleming":
        return float(2 * sps.norm.sf(sps.norm.isf(level / 2) / math.sqrt(t)))
    raise ValueError(f"unknown spending function {spending!r} (one of {SPENDINGS})")


@lru_cache(maxsize=512)
def one_sided_bounds(info: tuple[float, ...], level: float, spending: str) -> tuple[float, ...]:
    """Upper z boundaries b_1..b_K of a one-sided group-sequential test at ``level``:
    P(Z_1 < b_1, ..., Z_{k-1} < b_{k-1}, Z_k >= b_k) = spent(t_k) - spent(t_{k-1}) under H0,
    Z_k = W(t_k) / sqrt(t_k) for a Brownian motion W (independent increments)."""
    t = np.asarray(info, dtype=float)
    if len(t) == 0 or np.any(np.diff(t) <= 0) or t[-1] > 1 + 1e-12 or t[0] <= 0:
        raise ValueError(f"information fractions must increase in (0, 1]: {info}")
    cum = [spent(spending, x, level) for x in t]
    bounds = [float(sps.norm.isf(cum[0]))]
    # sub-density of W(t_1) on the continuation region (-inf, b_1 sqrt(t_1))
    s1 = math.sqrt(t[0])
    grid = np.linspace(-8.0 * s1 - 2.0, bounds[0] * s1, _GRID)
    dens = sps.norm.pdf(grid, scale=s1)
    for k in range(1, len(t)):
        inc = cum[k] - cum[k - 1]
        sd = math.sqrt(t[k] - t[k - 1])
        w = np.full(len(grid), grid[1] - grid[0])
        w[[0, -1]] *= 0.5  # trapezoid weights
        mass = w * dens

        def cross(b: float) -> float:
            return float(mass @ sps.norm.sf((b * math.sqrt(t[k]) - grid) / sd)) - inc

        if inc <= 0:
            b = math.inf
        else:
            b = float(optimize.brentq(cross, -10.0, 40.0, xtol=1e-10))
        bounds.append(b)
        if k < len(t) - 1:
            top = min(b, 12.0) * math.sqrt(t[k])
            new = np.linspace(-8.0 * math.sqrt(t[k]) - 2.0, top, _GRID)
            dens = sps.norm.pdf((new[:, None] - grid[None, :]) / sd) @ mass / sd
            grid = new
    return tuple(bounds)


@lru_cache(maxsize=4096)
def _crit(info: tuple[float, ...], spending: str, look: int, level: float, sides: int) -> float:
    if sides == 2:
        return 2 * float(sps.norm.sf(one_sided_bounds(info, level / 2, spending)[look]))
    return float(sps.norm.sf(one_sided_bounds(info, level, spending)[look]))


@dataclass(frozen=True)
class Design:
    """Looks (cumulative seeds per claim, e.g. (3, 6, 10); the last is the cap) and the spending
    function. ``Design((n,))`` is the fixed-n design: one look, critical p = alpha."""
    looks: tuple[int, ...] = DEFAULT_LOOKS
    spending: str = DEFAULT_SPENDING
    alpha: float = ALPHA

    def __post_init__(self):
        looks = tuple(int(n) for n in self.looks)
        if not looks or any(b <= a for a, b in zip(looks, looks[1:])) or looks[0] < 1:
            raise ValueError(f"looks must be increasing seed counts: {self.looks}")
        if self.spending not in SPENDINGS:
            raise ValueError(f"unknown spending function {self.spending!r} (one of {SPENDINGS})")
        object.__setattr__(self, "looks", looks)

    @property
    def k(self) -> int:
        return len(self.looks)

    @property
    def cap(self) -> int:
        return self.looks[-1]

    @property
    def fixed(self) -> bool:
        return self.k == 1

    @property
    def info(self) -> tuple[float, ...]:
        return tuple(n / self.cap for n in self.looks)

    def crit(self, look: int, level: float, sides: int = 2) -> float:
        """Critical nominal p at ``look`` (0-based) for a test of size ``level`` over all the looks:
        a one-sided p is compared with the one-sided boundary at ``level``; a two-sided p with twice
        the one-sided boundary at ``level / 2``. One look: ``level`` itself."""
        if self.fixed:
            return level
        return _crit(self.info, self.spending, look, level, sides)

    def spent(self, look: int, level: float, sides: int = 2) -> float:
        """Nominal (cumulative) alpha spent up to ``look`` by a test of size ``level``."""
        if self.fixed:
            return level
        one = spent(self.spending, self.info[look], level / sides)
        return sides * one

    def t_crit(self, look: int, level: float = ALPHA, sides: int = 2) -> float:
        """|t| a paired t-test over seeds needs at ``look`` (n - 1 df), at m = 1."""
        n = self.looks[look]
        c = self.crit(look, level, sides)
        return float(sps.t.isf(c / sides, n - 1)) if n >= 2 else math.inf

    def boundary_table(self) -> list[dict]:
        """Per look: n, information fraction, the nominal alpha spent so far and the critical p of
        a claim's first Holm step (m = 1; at m tests the first step uses the boundary at alpha / m)
        for the effect test (two-sided), the 'ruled out' test (one-sided) and TOST (one-sided)."""
        rows = []
        for i, n in enumerate(self.looks):
            rows.append({"look": i + 1, "n": n, "info": self.info[i],
                         "spent_effect": self.spent(i, self.alpha, 2), "crit_effect": self.crit(i, self.alpha, 2),
                         "spent_ruled": self.spent(i, self.alpha, 1), "crit_ruled": self.crit(i, self.alpha, 1),
                         "t_effect": self.t_crit(i, self.alpha, 2)})
        return rows

    def describe(self) -> str:
        if self.fixed:
            return (f"Fixed-n design: one look at {self.cap} seeds per claim; the critical p of a claim's test "
                    f"is alpha / j at Holm's step with j tests left.")
        name = {"pocock": "Pocock-type", "obrien-fleming": "O'Brien-Fleming-type"}[self.spending]
        looks = ", ".join(str(n) for n in self.looks)
        return (f"Sequential design: looks at {looks} seeds per claim (cap {self.cap}). Every claim starts at the "
                f"first look; after each look a claim with a verdict (reproduced, weaker than claimed, not "
                f"reproduced), or whose baseline did not train or whose endpoints are not measured, is decided "
                f"and keeps that verdict and its n; the others get the seeds of the next look; at the cap every "
                f"claim is decided. A claim is always analysed on the seeds of its look only. Error control per "
                f"claim across the looks: "
                f"{name} Lan-DeMets alpha spending over the information fraction n / {self.cap}; at look k the "
                f"critical p of Holm's step with j tests left is the boundary of a group-sequential test of size "
                f"alpha / j (two-sided for the effect test, one-sided for 'ruled out' and TOST; boundary below).")


@dataclass
class ClaimDecision:
    """One claim after the interim analysis at look ``look`` (0-based)."""
    claim: str
    status: str  # "decided" | "open"
    look: int  # decided: the look that decided it; open: the current look
    n: int  # seeds of that look
    verdict: str
    rule: str
    reason: str
    next_n: int | None = None  # open: the seeds it needs (the next look)
    result: dict = field(default_factory=dict, repr=False)


def decisive(result: dict) -> bool:
    """A claim is decided at a look when it has a verdict, or when more seeds cannot help: the
    recipe's own arm did not train (the guard fails for good: every finished baseline run counts),
    no endpoint is measured, or the study does not run its arms."""
    from ganbench.stats.policy import INCONCLUSIVE

    if result["verdict"] != INCONCLUSIVE:
        return True
    states = [r["state"] for g in result["groups"] for r in g["primary"]]
    return all(s in ("not trained", "not measured", "arm missing") for s in states)  # none: no arm run


def sequential_decisions(evaluate: Callable[[int, list[str]], dict[str, dict]], design: Design, look: int,
                         claims: Sequence[str]) -> dict[str, ClaimDecision]:
    """The interim decision of every claim at ``look`` (0-based).

    ``evaluate(j, ids)`` returns {claim id: claim result (with "verdict", "rule", "reason",
    "groups")} for the claims ``ids`` analysed on the seeds of look j with the boundary of look j.
    Looks 0..look are replayed: a claim is decided at the first look that decides it (or at the
    cap); the data of a claim are always those of the look at which it is evaluated, so the answer
    is deterministic and an earlier decision never changes."""
    if not 0 <= look < design.k:
        raise ValueError(f"look {look} outside 0..{design.k - 1}")
    open_ids = list(claims)
    out: dict[str, ClaimDecision] = {}
    for j in range(look + 1):
        if not open_ids:
            break
        res = evaluate(j, open_ids)
        still = []
        for cid in open_ids:
            r = res[cid]
            if decisive(r) or j == design.k - 1:
                out[cid] = ClaimDecision(cid, "decided", j, design.looks[j], r["verdict"], r["rule"], r["reason"],
                                         None, r)
            elif j == look:
                out[cid] = ClaimDecision(cid, "open", j, design.looks[j], r["verdict"], r["rule"], r["reason"],
                                         design.looks[j + 1], r)
            else:
                still.append(cid)
        open_ids = still
    return {cid: out[cid] for cid in claims}


def truncate(df, seed_order: Sequence, n: int):
    """The rows of the first ``n`` seeds of ``seed_order``."""
    keep = list(seed_order)[:n]
    return df[df["seed"].isin(keep)]


def seed_order_of(df, seed_order: Sequence | None) -> list:
    if seed_order is not None:
        return [float(s) for s in seed_order]
    return sorted(float(s) for s in df["seed"].dropna().unique()) if len(df) else []


def run_looks(df, measured: set[str], design: Design, look: int, seed_order: Sequence | None = None,
              observations=None) -> tuple[dict[str, ClaimDecision], dict[str, list]]:
    """``sequential_decisions`` on tidy runs (tidy.normalize): every claim analysed on the seeds
    of each look (``truncate``). Returns (decisions, {claim id: its exclusions at its look})."""
    from ganbench.observations import OBSERVATIONS
    from ganbench.stats.analysis import analyse_observations

    observations = OBSERVATIONS if observations is None else observations
    order = seed_order_of(df, seed_order)
    by_id = {o.id: o for o in observations}
    excluded: dict[tuple[int, str], list] = {}

    def evaluate(j: int, ids: list[str]) -> dict[str, dict]:
        results, excl = analyse_observations(truncate(df, order, design.looks[j]), measured,
                                             [by_id[i] for i in ids], design=design, look=j)
        for cid in ids:
            excluded[(j, cid)] = [e for e in excl if e.where.split("/", 1)[0] == cid]
        return {r["obs"].id: r for r in results}

    decisions = sequential_decisions(evaluate, design, look, [o.id for o in observations])
    return decisions, {cid: excluded[(d.look, cid)] for cid, d in decisions.items()}


def decision_record(d: ClaimDecision, design: Design) -> dict:
    """What the report and the pipeline read about one claim's decision."""
    return {"status": d.status, "look": d.look + 1, "looks": design.k, "n": d.n, "next_n": d.next_n,
            "verdict": d.verdict, "rule": d.rule, "reason": d.reason}


def interim(summary, looks: Sequence[int] = DEFAULT_LOOKS, look: int = 0, seed_order: Sequence | None = None,
            spending: str = DEFAULT_SPENDING, observations=None) -> dict:
    """The interim analysis the pipeline calls after look ``look`` (0-based).

    summary: the runs so far (summary.csv rows); looks: cumulative seeds per claim, e.g.
    [3, 6, 10]; seed_order: the study's seeds in the order they are added (default: sorted).
    Returns {"claims": {id: {"status": "decided" | "open", "verdict", "rule", "reason",
    "look" (1-based: the look that decided it, or the current one), "looks", "n" (its seeds),
    "next_n" (open only: the seeds it needs), "arms": [(recipe, deviations)] the claim's
    treatment and control arms (None for the implementations comparison, which pairs every arm
    run in two impls)}}, "open": [ids], "boundary": Design.boundary_table(), "design":
    Design.describe(), "looks", "look" (1-based)}."""
    from ganbench.observations import OBSERVATIONS
    from ganbench.stats.tidy import normalize

    observations = OBSERVATIONS if observations is None else observations
    design = Design(tuple(looks), spending)
    df, measured = normalize(summary)
    decisions, _ = run_looks(df, measured, design, look, seed_order, observations)
    claims = {}
    for obs in observations:
        arms = None if obs.kind == "equivalence" else [(recipe, dev) for role, recipe, dev in obs.arms()
                                                       if role in ("treatment", "control")]
        claims[obs.id] = {**decision_record(decisions[obs.id], design), "arms": arms}
    return {"claims": claims, "open": [cid for cid, c in claims.items() if c["status"] == "open"],
            "boundary": design.boundary_table(), "design": design.describe(), "looks": list(design.looks),
            "look": look + 1}
