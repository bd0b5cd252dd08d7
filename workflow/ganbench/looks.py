"""Which runs each look of the sequential seed design trains.

The study's seeds come in a fixed order: ``seeds: [..]`` as written (one look, the fixed-n
design), or ``seeds: {looks: [3, 6, 10]}`` = seeds 0..9 added in three looks. Look k (1-based)
holds the first ``looks[k-1]`` seeds. Look 1 trains every planned run whose seed is in it. A
later look adds only the runs of its new seeds that serve a claim still open after the previous
look (``stats.interim``, written by ``python -m ganbench.interim``):

* an observation's runs serve that observation (the run's ``sets``);
* a run whose condition (recipe, deviations, seed) is run in two or more impls also serves the
  implementations comparison (claim ``frameworks``), which pairs those runs.

The Snakemake side (workflow/rules/looks.smk) is a ``checkpoint`` per look whose output says
which claims are open: the DAG grows only where a claim needs more seeds, and a re-run after
an interruption resumes from the last finished look.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

FRAMEWORKS = "frameworks"
DEFAULT_SPENDING = "obrien-fleming"


@dataclass(frozen=True)
class SeedPlan:
    """The seeds in the order they are added, the looks (cumulative seeds) and the spending function."""
    seeds: tuple[int, ...]
    looks: tuple[int, ...]
    spending: str = DEFAULT_SPENDING

    @property
    def sequential(self) -> bool:
        return len(self.looks) > 1

    def seeds_of(self, look: int) -> tuple[int, ...]:
        """The seeds of look ``look`` (1-based), cumulative."""
        return self.seeds[: self.looks[look - 1]]

    def look_of_seed(self, seed: int) -> int:
        """The look (1-based) that first trains ``seed``."""
        i = self.seeds.index(seed)
        return next(k for k, n in enumerate(self.looks, 1) if i < n)


def seed_plan(config: Mapping) -> SeedPlan:
    """The study's :class:`SeedPlan` from its (validated) config's ``seeds``."""
    seeds = config["seeds"]
    if isinstance(seeds, Mapping):
        looks = tuple(int(n) for n in seeds["looks"])
        if any(b <= a for a, b in zip(looks, looks[1:])):
            raise ValueError(f"config key seeds.looks = {list(looks)}: the looks must increase "
                             "(cumulative seeds per claim, e.g. [3, 6, 10])")
        return SeedPlan(tuple(range(looks[-1])), looks, seeds.get("spending", DEFAULT_SPENDING))
    return SeedPlan(tuple(int(s) for s in seeds), (len(seeds),))


def claims_served(runs: Mapping) -> dict[str, set[str]]:
    """run id -> the claims the run serves (see the module doc); ``runs``: grid.expand_runs."""
    impls_of = defaultdict(set)
    for run in runs.values():
        impls_of[condition_key(run.spec)].add(run.spec["impl"])
    served = {}
    for run_id, run in runs.items():
        claims = {s for s in run.sets if s != FRAMEWORKS}
        if len(impls_of[condition_key(run.spec)]) > 1:
            claims.add(FRAMEWORKS)
        served[run_id] = claims
    return served


def condition_key(spec: Mapping) -> str:
    return json.dumps([spec["recipe"], spec.get("deviations", {}), spec["seed"]], sort_keys=True)


def look_runs(runs: Mapping, plan: SeedPlan, look: int, open_after: Mapping[int, set[str]]) -> list[str]:
    """The run ids of look ``look`` (1-based, cumulative): look 1's seeds for every run; each
    later look j's new seeds for the runs serving a claim in ``open_after[j - 1]`` (the claims
    the interim analysis of look j - 1 left open)."""
    if not 1 <= look <= len(plan.looks):
        raise ValueError(f"look {look} outside 1..{len(plan.looks)}")
    served = claims_served(runs)
    chosen = []
    for run_id, run in runs.items():
        seed = run.spec["seed"]
        if seed not in plan.seeds:  # a design set's own seeds: trained with the first look
            first = 1
        else:
            first = plan.look_of_seed(seed)
        if first == 1 or (first <= look and served[run_id] & set(open_after.get(first - 1, ()))):
            chosen.append(run_id)
    return chosen


def read_interim(path: str | Path) -> dict:
    """An interim analysis written by ``python -m ganbench.interim`` (``open``: the claims left open)."""
    return json.loads(Path(path).read_text())


def is_final(interim: Mapping, plan: SeedPlan) -> bool:
    """Whether the study stops at this look: no claim open, or the cap."""
    return not interim["open"] or interim["look"] >= len(plan.looks)


def open_claims(interims: Sequence[Mapping]) -> dict[int, set[str]]:
    """{look: the claims open after it} from the interim analyses of looks 1.. in order."""
    return {i["look"]: set(i["open"]) for i in interims}
