"""Per-claim panels of the report: each arm's runs, learning curves, the guard table and sample grids."""
from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pandas as pd

from ganbench import figures, progress_figure
from ganbench.observations import OBSERVATIONS
from ganbench.report_format import as_number
from ganbench.run_files import Resolver
from ganbench.stats import guard
from ganbench.stats.arms import arm_rows


OBS_BY_ID = {o.id: o for o in OBSERVATIONS}
# a grid's label: what the guard's per-run rule says of its run, not only that the job finished
GRID_LABELS = {"passes": "trained", "misses": "did not learn", "diverged": "diverged", "failed": "failed",
               "not measured": "finished, not scored"}


def safe_file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))[:80] or "run"


def sample_grids(analysis: dict, resolve: Resolver, fig_dir: Path) -> list[dict]:
    """One sample grid per condition (the lowest seed with a grid), copied."""
    df = analysis["df"].set_index("run_id", drop=False)
    grid_dir = fig_dir / "grids"
    out = []
    conditions = analysis["conditions"]
    if conditions.empty:
        return out
    for k, row in conditions.iterrows():
        chosen = None
        for run_id in row["run_ids"]:  # sorted by seed
            run = df.loc[run_id]
            if isinstance(run, pd.DataFrame):
                run = run.iloc[0]
            folder = resolve(run["run_dir"])
            if folder is not None and (folder / "grid.png").is_file():
                chosen = (run, folder / "grid.png")
                break
        item = {"model": row["model"], "impl": row["impl"], "condition": row["condition"],
                "src": None, "run_id": None, "seed": None, "status": None}
        if chosen is not None:
            run, src = chosen
            grid_dir.mkdir(parents=True, exist_ok=True)
            dest = grid_dir / f"{k:03d}_{safe_file_name(run['run_id'])}.png"
            shutil.copyfile(src, dest)
            item.update(src=dest.relative_to(fig_dir.parent).as_posix(), run_id=run["run_id"],
                        seed=run["seed"], status=GRID_LABELS.get(guard.run_verdict(run)[0], run["status"]))
        out.append(item)
    return out


def _base_arm(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["deviations"] == "{}"] if (rows["deviations"] == "{}").any() else rows


def group_arms(o: dict, g: dict, df: pd.DataFrame) -> list[dict]:
    """Panels (one per recipe) of a group's arms: {"title", "recipe", "series": [(label, rows, style)],
    "control": rows}."""
    obs = OBS_BY_ID.get(o["id"])
    if o["kind"] == "equivalence":
        rows = df[df["model"] == g.get("model")]
        ctrl_all = _base_arm(rows[rows["impl"] == g.get("reference")])
        treat_all = _base_arm(rows[rows["impl"] == g.get("impl")])
        panels = []
        for recipe in sorted(set(ctrl_all["recipe"]) | set(treat_all["recipe"])):
            c, t = ctrl_all[ctrl_all["recipe"] == recipe], treat_all[treat_all["recipe"] == recipe]
            panels.append({"title": f"{g['group']}, {recipe or 'runs'}", "recipe": recipe, "control": c,
                           "series": [(f"control: {g.get('reference')}", c, "control"),
                                      (f"treatment: {g.get('impl')}", t, "treatment")]})
        return panels
    if obs is None:
        return []
    c = arm_rows(df, g["recipe"], obs.control)
    t = arm_rows(df, g["recipe"], obs.treatment)
    series = [(f"control: {o['control_label']}", c, "control"), (f"treatment: {o['treatment_label']}", t, "treatment")]
    for label, dev in obs.references:
        r = arm_rows(df, g["recipe"], dev)
        if len(r):
            series.append((f"reference: {label}", r, "reference"))
    baseline = t if obs.baseline_role == "treatment" else c  # the arm the guard checks
    return [{"title": g["group"], "recipe": g["recipe"], "control": baseline, "series": series}]


def _fid_limit(rows: pd.DataFrame) -> float:
    for _, r in rows.iterrows():
        limit = guard.run_limits(r)[0]
        if as_number(limit) is not None:
            return limit
    return math.nan


def _guard_rows(control: pd.DataFrame) -> list[dict]:
    out = []
    for _, r in control.sort_values(["seed", "impl"]).iterrows():
        verdict, limit, need = guard.run_verdict(r)
        out.append({"run_id": r["run_id"], "seed": r["seed"], "impl": r["impl"], "recipe": r.get("recipe", ""),
                    "status": r["status"], "fid": as_number(r.get("fid")), "fid_limit": limit,
                    "classes": as_number(r.get("classes_covered")), "classes_needed": need, "verdict": verdict})
    return out


def observation_panels(results: list[dict], df: pd.DataFrame, resolve: Resolver, fig_dir: Path,
                       min_classes: int | None = guard.MIN_CLASSES) -> None:
    """Per observation that ran: obs_<id>_curves.png (learning curves of its arms),
    obs_<id>_guard.png (the control's end scores vs the guard), obs_<id>_losses.png (losses per
    arm) and obs_<id>_progress.png (each arm's curve samples as training goes on), plus the
    guard's rows per group."""
    curve_cache: dict[str, pd.DataFrame] = {}

    def curves(rows: pd.DataFrame) -> pd.DataFrame:
        frames = []
        for _, row in rows.iterrows():
            rid = row["run_id"]
            if rid not in curve_cache:
                curve_cache[rid] = figures.collect_curves(row.to_frame().T, resolve)
            frames.append(curve_cache[rid])
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    for o in results:
        o["curves_figure"] = o["guard_figure"] = o["loss_figure"] = o["progress_figure"] = None
        if o["not_run"]:
            for g in o["groups"]:
                g["guard_rows"] = []
            continue
        curve_panels, guard_panels, loss_panels = [], [], []
        for g in o["groups"]:
            g["guard_rows"] = []
            if g["not_run"]:
                continue
            for panel in group_arms(o, g, df):
                limit = _fid_limit(panel["control"] if len(panel["control"]) else
                                   pd.concat([s[1] for s in panel["series"]]))
                curve_panels.append({"title": panel["title"], "fid_limit": limit,
                                     "series": [(label, curves(rows), style) for label, rows, style in panel["series"]]})
                guard_panels.append({"title": panel["title"], "fid_limit": limit, "rows": panel["control"]})
                loss_panels.append({"title": panel["title"], "series": panel["series"]})
                g["guard_rows"].extend(_guard_rows(panel["control"]))
        name = safe_file_name(o["id"])
        figures.learning_curves_figure(curve_panels, fig_dir / f"obs_{name}_curves.png",
                                       f"{o['id']}: learning curves per arm", min_classes)
        figures.guard_figure(guard_panels, fig_dir / f"obs_{name}_guard.png",
                             f"{o['id']}: the baseline arm's end scores that decided the guard", min_classes)
        figures.arm_loss_figure(loss_panels, resolve, fig_dir / f"obs_{name}_losses.png",
                                f"{o['id']}: losses and D outputs per arm (mean over seeds, band = min–max)")
        progress_figure.progress_grids_figure(loss_panels, resolve, fig_dir / f"obs_{name}_progress.png",
                                      f"{o['id']}: samples as training goes on, lowest seed per arm")
        o["loss_figure"] = f"figures/obs_{name}_losses.png"
        o["progress_figure"] = f"figures/obs_{name}_progress.png"
        o["curves_figure"] = f"figures/obs_{name}_curves.png"
        o["guard_figure"] = f"figures/obs_{name}_guard.png"


def training_curve_panels(df: pd.DataFrame, resolve: Resolver) -> list[dict]:
    """Key figure: each recipe's own arm per (recipe, model), one series per impl."""
    usable = df[df["status"] != "failed"]
    base = usable[usable["deviations"] == "{}"] if (usable["deviations"] == "{}").any() else usable
    impls = sorted(base["impl"].unique())
    panels = []
    for (recipe, model), rows in base.groupby(["recipe", "model"], sort=True):
        series = [(impl, figures.collect_curves(rows[rows["impl"] == impl], resolve), impls.index(impl))
                  for impl in impls if (rows["impl"] == impl).any()]
        panels.append({"title": f"{recipe} ({model})" if recipe else model, "fid_limit": _fid_limit(rows),
                       "series": series})
    return panels
