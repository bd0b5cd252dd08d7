"""Claims this study did not run: an observation (or a model's group) none of whose arms has a
run is shown as "not run at this scale" with the reason (a single implementation for an
equivalence claim, left out by the config's observations.include, or simply no run), not judged
and not hidden.
"""
from __future__ import annotations

NOT_RUN = "not run at this scale"


def _included(config: dict) -> list[str] | None:
    """The observation ids the config's observations.include names; None when it includes all."""
    inc = (config.get("observations") or {}).get("include") if isinstance(config.get("observations"), dict) else None
    if inc == "all" or inc is None:
        return None
    return [str(i) for i in inc] if isinstance(inc, list) else None


def _group_ran(g: dict) -> bool:
    """Whether any arm of a model's group (treatment, control or a reference) has a run."""
    return bool(g.get("treatment", {}).get("n_runs") or g.get("control", {}).get("n_runs")
                or any(ref.get("counts", {}).get("n_runs") for ref in g.get("references", [])))


def mark_not_run(results: list[dict], config: dict, df) -> None:
    """Observations (and groups) none of whose arms has a run: shown as 'not run at this scale',
    not judged and not hidden. Sets ``not_run`` / ``not_run_reason`` / ``shown_verdict``."""
    included = _included(config)
    n_impls = df["impl"].nunique() if len(df) else 0
    for o in results:
        for g in o["groups"]:
            g["not_run"] = not _group_ran(g)
            g["shown_verdict"] = NOT_RUN if g["not_run"] else g.get("verdict", "")
        o["not_run"] = not o["groups"] or all(g["not_run"] for g in o["groups"])
        if not o["not_run"]:
            o["shown_verdict"] = o["verdict"]
            o["not_run_reason"] = ""
            continue
        o["shown_verdict"] = NOT_RUN
        # the most specific reason first: an equivalence claim needs two implementations whatever the config
        if o["kind"] == "equivalence":
            o["not_run_reason"] = (f"needs runs of the same arm and seed in two implementations; this study has "
                                   f"{n_impls} implementation(s)")
        elif included is not None and o["id"] not in included:
            o["not_run_reason"] = ("this study's config leaves it out of observations.include, so its arms "
                                   "were not run at this scale")
        else:
            o["not_run_reason"] = "no run of its arms in this study"
