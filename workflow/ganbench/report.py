"""Render the study's HTML report.

    python -m ganbench.report --summary results/<study>/summary.csv \
        --config results/<study>/config.json --speed results/<study>/speed.csv \
        --out reports/<study>/index.html

Writes ``index.html``, ``observations.csv``, ``excluded_runs.csv`` and ``figures/`` (fixed names:
observations.png, fid_by_condition.png, frameworks.png, training_curves.png (FID and classes
covered learning curves), loss_curves.png, timing.png; plus, per observation that ran,
obs_<id>.png, obs_<id>_curves.png, obs_<id>_guard.png, obs_<id>_losses.png and
obs_<id>_progress.png, and grids/ with one copied sample grid per condition).

The speed table and the frameworks step-time ratios come from ``--speed`` (the exclusive
benchmark rule's speed.csv); without it (or with an empty file) the report falls back to the
training jobs' timing and says so. Everything the page shows lives in that folder: no CDN,
no external fonts or scripts, so it reads offline.

``run_dir`` paths in the summary are relative to the current working directory
(the repo root). Partial studies (one impl, one model, a single run, missing
arms) render; what cannot be decided says so.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, UndefinedError, select_autoescape

from ganbench import figures, progress_figure, quality_figures, stats
from ganbench.looks import seed_plan
from ganbench.observations import LOG_SCALES, METRICS, OBSERVATIONS, REFERENCE_IMPLS, metric_label
from ganbench.run_files import Resolver
from ganbench.stats import guard, policy
from ganbench.stats.arms import arm_rows

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
TEMPLATE = "report.html.j2"
KEY_FIGURES = ("observations", "fid_by_condition", "frameworks", "training_curves", "loss_curves", "timing")
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "celeba": "CelebA"}  # the header names the dataset
NOT_RUN = policy.NOT_RUN
# a grid's label: what the guard's per-run rule says of its run, not only that the job finished
GRID_LABELS = {"passes": "trained", "misses": "did not learn", "diverged": "diverged", "failed": "failed",
               "not measured": "finished, not scored"}
SPEED_COLUMNS = ("impl", "shape", "model", "batch_size", "d_steps", "g_steps", "steps", "repeats", "median_step_ms",
                 "images_per_s", "first_step_s", "setup_s", "peak_host_mb", "peak_device_mb", "device", "framework",
                 "framework_version", "compile", "threads", "ratio_to_fastest")
PACKAGES = ("numpy", "pandas", "scipy", "matplotlib", "seaborn", "jinja2", "snakemake", "torch",
            "torchvision", "torchmetrics", "tensorflow", "tensorflow-cpu", "keras")
TABLE_METRICS = ("fid", "kid_mean", "is_mean", "precision", "recall", "coverage", "classes_covered")


# ---------------------------------------------------------------------------
# Formatting helpers (Jinja filters)
# ---------------------------------------------------------------------------


def _num(x):
    try:
        x = float(x)
    except (TypeError, ValueError, UndefinedError):
        return None
    return x if math.isfinite(x) else None


def fmt(x, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (one decimal from 100 up); '—' if missing."""
    x = _num(x)
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.{digits}g}"


def fmt_signed(x, digits: int = 3) -> str:
    x = _num(x)
    if x is None:
        return "—"
    return ("+" if x > 0 else "") + fmt(x, digits)


def fmt_p(p) -> str:
    p = _num(p)
    if p is None:
        return "—"
    if p < 1e-4:
        return f"{p:.1e}"
    return f"{p:.4f}"


def fmt_ci(lo, hi, digits: int = 3) -> str:
    lo, hi = _num(lo), _num(hi)
    if lo is None or hi is None:
        return "—"
    return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def fmt_count(x) -> str:
    """A parameter count, e.g. 1,460,225; '—' when unknown."""
    x = _num(x)
    return "—" if x is None else f"{int(round(x)):,}"


def fmt_pct(x, digits: int = 1) -> str:
    x = _num(x)
    if x is None:
        return "—"
    return f"{x * 100:+.{digits}f}%"


# ---------------------------------------------------------------------------
# Environment facts
# ---------------------------------------------------------------------------


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str:
    """Short commit of the code that made the report (the checkout holding this module,
    else the working directory), flagged when tracked files have uncommitted changes."""
    for where in (Path(__file__).resolve().parent, Path.cwd()):
        commit = _git(["rev-parse", "--short", "HEAD"], where)
        if commit:
            dirty = _git(["--no-optional-locks", "status", "--porcelain", "--untracked-files=no"], where)
            return commit + (" (with uncommitted changes)" if dirty else "")
    return "unknown (no git checkout or git not installed)"


def package_versions() -> list[tuple[str, str]]:
    out = []
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return out


def hardware() -> dict:
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "python": platform.python_version()}


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


def load_summary(path: Path) -> pd.DataFrame:
    path = Path(path)
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def load_config(path: Path | None) -> tuple[dict, str]:
    if path is None:
        return {}, "no config given"
    path = Path(path)
    if not path.is_file():
        return {}, f"config {path} not found"
    try:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - a report must still render
        return {}, f"config {path} unreadable: {exc}"
    return (data if isinstance(data, dict) else {}), ""


def load_speed(path: Path | None) -> tuple[pd.DataFrame | None, str]:
    """The benchmark rule's speed.csv, or (None, why not) when it is not given, missing or empty."""
    if path is None:
        return None, "no benchmark table given (--speed)"
    path = Path(path)
    if not path.is_file():
        return None, f"benchmark table {path} not found"
    try:
        speed = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None, f"benchmark table {path} is empty"
    except Exception as exc:  # noqa: BLE001 - a report must still render
        return None, f"benchmark table {path} unreadable: {exc}"
    missing = [c for c in ("impl", "shape", "median_step_ms") if c not in speed]
    if missing:
        return None, f"benchmark table {path} lacks columns {', '.join(missing)}"
    speed = speed[pd.to_numeric(speed["median_step_ms"], errors="coerce").notna()]
    if speed.empty:
        return None, f"benchmark table {path} has no timed rows"
    for col in SPEED_COLUMNS:
        if col not in speed:
            speed[col] = math.nan
    return speed.reset_index(drop=True), ""


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))[:80] or "run"


# ---------------------------------------------------------------------------
# Context
# ---------------------------------------------------------------------------


def _scale(df: pd.DataFrame) -> list[dict]:
    out = []
    for model, grp in df.groupby("model"):
        def vals(col):
            v = pd.to_numeric(grp[col], errors="coerce").dropna().unique()
            return ", ".join(str(int(x)) for x in sorted(v)) or "—"
        out.append({"model": model, "steps": vals("steps"), "batch_size": vals("batch_size"),
                    "image_size": vals("image_size"), "images_seen": vals("images_seen"),
                    "runs": len(grp)})
    return out


def _grids(analysis: dict, resolve: Resolver, fig_dir: Path) -> list[dict]:
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
            dest = grid_dir / f"{k:03d}_{_safe_name(run['run_id'])}.png"
            shutil.copyfile(src, dest)
            item.update(src=dest.relative_to(fig_dir.parent).as_posix(), run_id=run["run_id"],
                        seed=run["seed"], status=GRID_LABELS.get(guard.run_verdict(run)[0], run["status"]))
        out.append(item)
    return out


def _condition_rows(conditions: pd.DataFrame, metrics) -> list[dict]:
    rows = []
    for _, r in conditions.iterrows():
        cells = []
        for m in metrics:
            cells.append({"mean": r.get(f"{m}_mean"), "lo": r.get(f"{m}_lo"), "hi": r.get(f"{m}_hi"),
                          "n": r.get(f"{m}_n"), "best": bool(r.get(f"best_{m}", False))})
        rows.append({"model": r["model"], "impl": r["impl"], "condition": r["condition"],
                     "framework": r["framework"], "n_runs": r["n_runs"], "n_ok": r["n_ok"],
                     "n_diverged": r["n_diverged"], "n_failed": r["n_failed"], "seeds": r["seeds"],
                     "params_g": r.get("params_g"), "params_d": r.get("params_d"), "cells": cells})
    return rows


def effect_display(r: dict) -> tuple[str, str]:
    """(effect, CI) as text on the endpoint's natural scale: % change for log-ratios, SD ratio
    for the seed spread, raw difference otherwise."""
    est, lo, hi = _num(r.get("estimate")), _num(r.get("ci_lo")), _num(r.get("ci_hi"))
    scale = r.get("scale")
    conf = r.get("conf")
    label = f"{conf:.0%} CI " if isinstance(conf, float) and math.isfinite(conf) else "CI "
    if est is None:
        return "—", "—"
    if scale in LOG_SCALES:
        eff = f"{math.expm1(est) * 100:+.1f}%"
    elif scale == "spread":
        eff = f"SD ratio {math.exp(est):.2f}" if math.isfinite(est) else "SD ratio ∞"
    elif scale == "divergence":
        eff = f"{r.get('k_t')}/{r.get('n_t')} vs {r.get('k_c')}/{r.get('n_c')} seeds ({est:+.2f})"
    else:
        eff = fmt_signed(est)
    ci = interval_text(scale, lo, hi)
    return eff, (label + ci if ci != "—" else ci)


def interval_text(scale: str | None, lo: float | None, hi: float | None) -> str:
    """An interval on the endpoint's natural scale (see :func:`effect_display`)."""
    if lo is None or hi is None:
        return "—"
    if scale in LOG_SCALES:
        return f"[{math.expm1(lo) * 100:+.1f}%, {math.expm1(hi) * 100:+.1f}%]"
    if scale == "spread":
        return f"[{math.exp(lo):.2f}, {math.exp(hi):.2f}]"
    return fmt_ci(lo, hi)


def decision_display(r: dict) -> str:
    """The interval the decision used (its critical p's level), e.g. '99.4% CI [+12.0%, +80.1%]';
    '' where the test has no matching t interval (then the verdict rests on p alone)."""
    lo, hi, conf = _num(r.get("dec_lo")), _num(r.get("dec_hi")), _num(r.get("dec_conf"))
    if lo is None or hi is None or conf is None:
        return ""
    digits = 1 if conf < 0.999 else 2
    return f"{conf * 100:.{digits}f}% CI {interval_text(r.get('scale'), lo, hi)}"


def _decorate(results: list[dict]) -> None:
    for res in results:
        for g in res["groups"]:
            for r in g["primary"] + g.get("secondary", []):
                r["effect_text"], r["ci_text"] = effect_display(r)
                r["dec_text"] = decision_display(r)
            for ref in g.get("references", []):
                ref["effect_text"], ref["ci_text"] = effect_display(ref)



# ---------------------------------------------------------------------------
# Speed: the exclusive benchmark (speed.csv), else the training jobs
# ---------------------------------------------------------------------------


def ratio_pairs(impls) -> list[tuple[str, str]]:
    """(impl, reference) step-time ratios to show: every impl against TensorFlow, then every other
    impl against PyTorch as well (PyTorch / TensorFlow appears once, as that)."""
    impls = sorted(impls)
    out: list[tuple[str, str]] = []
    for ref in [r for r in reversed(REFERENCE_IMPLS) if r in impls]:
        for x in impls:
            if x != ref and (x, ref) not in out and (ref, x) not in out:
                out.append((x, ref))
    return out


def _bool_text(x) -> str:
    t = str(x).strip().lower()
    return {"true": "on", "1": "on", "1.0": "on", "false": "off", "0": "off", "0.0": "off"}.get(t, "—" if t in ("", "nan") else t)


def benchmark_speed(speed: pd.DataFrame) -> dict:
    """Per benchmark shape (and compile mode / device where they vary): each impl's row and the
    step-time ratios impl / reference of the same shape."""
    sp = speed.copy()
    for col in ("median_step_ms", "images_per_s", "first_step_s", "setup_s", "peak_host_mb", "peak_device_mb",
                "ratio_to_fastest", "batch_size", "d_steps", "g_steps", "steps", "repeats", "threads"):
        sp[col] = pd.to_numeric(sp[col], errors="coerce")
    sp["compile_text"] = [_bool_text(c) for c in sp["compile"]]
    sp["device"] = sp["device"].astype(str).replace({"nan": ""})
    keys = ["shape", "compile_text", "device"]
    groups, pairs_seen = [], []
    for key, g in sp.groupby(keys, sort=False):
        shape, comp, device = key
        rows = g.groupby("impl", sort=True).agg(
            {c: ("median" if c in ("median_step_ms", "images_per_s", "first_step_s", "setup_s", "peak_host_mb",
                                   "peak_device_mb", "ratio_to_fastest") else "first")
             for c in g.columns if c not in ("impl",)}).reset_index()
        ms = dict(zip(rows["impl"], rows["median_step_ms"]))
        ratios = []
        for x, ref in ratio_pairs(rows["impl"]):
            r = ms[x] / ms[ref] if ms.get(ref) and math.isfinite(ms[ref]) and ms[ref] > 0 else math.nan
            ratios.append({"impl": x, "reference": ref, "ratio": r})
            if (x, ref) not in pairs_seen:
                pairs_seen.append((x, ref))
        first = rows.iloc[0]
        groups.append({"shape": shape, "compile": comp, "device": device or "—", "model": first["model"],
                       "batch_size": first["batch_size"], "d_steps": first["d_steps"], "g_steps": first["g_steps"],
                       "rows": rows.to_dict("records"),
                       "ratios": {f"{q['impl']} / {q['reference']}": q for q in ratios}})
    threads = sorted({int(t) for t in sp["threads"].dropna()})
    repeats = sorted({int(t) for t in sp["repeats"].dropna()})
    return {"source": "benchmark", "groups": groups, "pair_labels": [f"{a} / {b}" for a, b in pairs_seen],
            "threads": ", ".join(map(str, threads)) or "unknown",
            "repeats": ", ".join(map(str, repeats)) or "unknown",
            "devices": ", ".join(sorted({d for d in sp["device"] if d})) or "unknown"}


# ---------------------------------------------------------------------------
# Observations: arms present or not, learning curves and the guard per observation
# ---------------------------------------------------------------------------

OBS_BY_ID = {o.id: o for o in OBSERVATIONS}


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
        if _num(limit) is not None:
            return limit
    return math.nan


def _guard_rows(control: pd.DataFrame) -> list[dict]:
    out = []
    for _, r in control.sort_values(["seed", "impl"]).iterrows():
        verdict, limit, need = guard.run_verdict(r)
        out.append({"run_id": r["run_id"], "seed": r["seed"], "impl": r["impl"], "recipe": r.get("recipe", ""),
                    "status": r["status"], "fid": _num(r.get("fid")), "fid_limit": limit,
                    "classes": _num(r.get("classes_covered")), "classes_needed": need, "verdict": verdict})
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
        name = _safe_name(o["id"])
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


def _curve_samples(config: dict, df: pd.DataFrame) -> tuple[str, str]:
    """(curve sample count, end-score sample count) as text, from the config, else the runs."""
    cs, es = config.get("curve_samples"), config.get("eval_samples")
    if cs is None and len(df) and "curve_n" in df:
        v = pd.to_numeric(df["curve_n"], errors="coerce").dropna().unique()
        cs = ", ".join(str(int(x)) for x in sorted(v)) if len(v) else None
    return (str(cs) if cs is not None else "fewer", str(es) if es is not None else "the end score's")


def summary_line(df: pd.DataFrame) -> str:
    if not len(df):
        return "No runs in this summary."
    counts = df["status"].value_counts().to_dict()
    seeds = sorted(int(s) for s in df["seed"].dropna().unique())
    status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return (f"{len(df)} runs ({status}) of {df['impl'].nunique()} impl(s) x {df['model'].nunique()} model(s) "
            f"over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); n in every test = seeds.")


# the quality section's figures: file stem -> alt text
QUALITY_FIGURES = {"pr_plane": "precision-recall plane per condition", "class_hist": "class histograms per condition",
                   "fid_vs_time": "FID against wall-clock time per impl"}


def draw_figures(analysis: dict, results: list[dict], df: pd.DataFrame, resolve: Resolver, fig_dir: Path,
                 min_classes: int, speed: pd.DataFrame | None) -> dict:
    """Every figure of the report into ``fig_dir`` (the fixed names always written, empty panels
    where there is nothing to draw); each shown claim's ``figure`` set. Returns the speed section's
    context (the benchmark table's, or the training runs' own step times)."""
    ran = [r for r in results if not r["not_run"]]
    figures.observations_figure([{**r, "groups": [g for g in r["groups"] if not g["not_run"]]} for r in ran],
                                fig_dir / "observations.png")
    figures.fid_by_condition_figure(analysis["conditions"], df, fig_dir / "fid_by_condition.png")
    figures.frameworks_figure(next((r for r in results if r["kind"] == "equivalence"), None),
                              fig_dir / "frameworks.png")
    figures.learning_curves_figure(training_curve_panels(df, resolve) if len(df) else [],
                                   fig_dir / "training_curves.png",
                                   "Learning curves of each recipe's own arm, per implementation", min_classes)
    base_rows = df[(df["deviations"] == "{}") & (df["status"] != "failed")] if len(df) else df
    if base_rows.empty and len(df):
        base_rows = df[df["status"] != "failed"]
    figures.loss_curves_figure(base_rows, resolve, fig_dir / "loss_curves.png")
    quality_figures.pr_plane_figure(df, fig_dir / "pr_plane.png")
    quality_figures.class_histogram_figure(df, resolve, fig_dir / "class_hist.png")
    quality_figures.fid_vs_time_figure(df, resolve, fig_dir / "fid_vs_time.png")
    if speed is not None:
        speed_ctx = benchmark_speed(speed)
        figures.benchmark_figure(speed, fig_dir / "timing.png")
    else:
        speed_ctx = {"source": "training", **analysis["speed"]}
        figures.timing_figure(df, fig_dir / "timing.png")
    for r in ran:
        name = f"obs_{_safe_name(r['id'])}.png"
        figures.observation_figure(r, resolve, df, fig_dir / name)
        r["figure"] = f"figures/{name}"
    observation_panels(results, df, resolve, fig_dir, min_classes)
    return speed_ctx


def build_context(analysis: dict, config: dict, config_note: str, summary_path: Path,
                  resolve: Resolver, out_dir: Path, speed: pd.DataFrame | None = None,
                  speed_note: str = "no benchmark table given (--speed)") -> dict:
    df = analysis["df"]
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    results = analysis["observations"]
    _decorate(results)
    dataset = config.get("dataset") or "mnist"
    min_classes = guard.min_classes(dataset)


    speed_ctx = draw_figures(analysis, results, df, resolve, fig_dir, min_classes, speed)
    speed_ctx["note"] = speed_note
    curve_n, eval_n = _curve_samples(config, df)

    metrics = list(TABLE_METRICS)
    conditions = analysis["conditions"]
    if len(df) and df["fid_inception"].notna().any():
        metrics.append("fid_inception")
        conditions = stats.condition_table(df, metrics)
    seeds = config.get("seeds") if isinstance(config.get("seeds"), list) else sorted(
        int(s) for s in df["seed"].dropna().unique())
    name = config.get("name") or (df["study"].mode().iat[0] if len(df) and (df["study"] != "").any() else None) \
        or Path(summary_path).parent.name
    fw_versions = []
    if len(df):
        for fw, grp in df.groupby("framework"):
            versions = sorted(v for v in set(grp["framework_version"].astype(str)) if v not in ("", "nan"))
            fw_versions.append((fw, ", ".join(versions) or "unknown"))
    devices = df["device"].astype(str).replace({"nan": ""}).value_counts().to_dict() if len(df) else {}
    extractors = sorted(v for v in set(df["extractor_fid"].astype(str)) if v not in ("", "nan")) if len(df) else []
    problems = df[df["status"] != "ok"].sort_values(["status", "run_id"]) if len(df) else df
    return {
        "title": f"ganbench report: {name} ({DATASET_NAMES.get(dataset, dataset)})",
        "dataset": dataset,
        "name": name,
        "summary_line": summary_line(df),
        "look": analysis.get("look"),
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "summary_path": str(summary_path),
        "config_note": config_note,
        "seeds": seeds,
        "scale": _scale(df) if len(df) else [],
        "impls": sorted(df["impl"].unique()) if len(df) else [],
        "models": sorted(df["model"].unique()) if len(df) else [],
        "n_runs": len(df),
        "status_counts": df["status"].value_counts().to_dict() if len(df) else {},
        "problems": problems.to_dict("records"),
        "excluded": analysis["excluded"],
        "packages": package_versions(),
        "framework_versions": fw_versions,
        "hardware": hardware(),
        "devices": devices,
        "git": git_commit(),
        "extractors": extractors,
        "observations": results,
        "rules": analysis["rules"],
        "equivalence_rules": analysis["equivalence_rules"],
        "noninferiority_rules": analysis["noninferiority_rules"],
        "combine_rules": analysis["combine_rules"],
        "family_rule": analysis["family_rule"],
        "guard_rule": analysis["guard_rule"],
        "unit_rule": analysis["unit_rule"],
        "diverged_rule": analysis["diverged_rule"],
        "design": analysis["design"],
        "boundary": analysis["boundary"],
        "sequential": analysis["sequential"],
        "alpha": analysis["alpha"],
        "min_seeds": analysis["min_seeds"],
        "table_metrics": [(m, metric_label(m), METRICS[m].better) for m in metrics],
        "conditions": _condition_rows(conditions, metrics) if not conditions.empty else [],
        "speed": speed_ctx,
        "curve_samples": curve_n,
        "eval_samples": eval_n,
        "min_classes": min_classes,
        "not_run_label": NOT_RUN,
        "grids": _grids(analysis, resolve, fig_dir),
        "key_figures": {k: f"figures/{k}.png" for k in KEY_FIGURES},
        "quality_figures": [(f"figures/{k}.png", alt) for k, alt in QUALITY_FIGURES.items()],
        "runs": df.sort_values(["model", "impl", "run_id"]).to_dict("records") if len(df) else [],
    }


def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(enabled_extensions=("html", "j2", "html.j2"),
                                                   default_for_string=True, default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=fmt, fmt_count=fmt_count, fmt_p=fmt_p, fmt_ci=fmt_ci, fmt_pct=fmt_pct, fmt_signed=fmt_signed)
    env.globals["finite"] = lambda x: _num(x) is not None
    env.globals["fmt_ci"] = fmt_ci
    return env


def analyse_at_look(summary: pd.DataFrame, config: dict, interim: dict | None) -> dict:
    """stats.analyse at the look ``interim`` (the checkpoint's JSON) names, on the study's seed
    plan; without one (or with one look), the fixed-n analysis of every seed present."""
    plan = seed_plan(config) if config.get("seeds") else None
    if interim is None or plan is None or not plan.sequential:
        analysis = stats.analyse(summary, config)
    else:
        design = stats.Design(plan.looks, plan.spending)
        analysis = stats.analyse(summary, config, design=design, look=int(interim["look"]) - 1,
                                 seed_order=plan.seeds)
    policy.mark_not_run(analysis["observations"], config, analysis["df"])  # before any table or figure
    analysis["look"] = None if interim is None else {
        "look": int(interim["look"]), "looks": len(interim["looks"]), "final": bool(interim["final"]),
        "n": len(interim.get("seeds", [])), "open": list(interim["open"])}
    return analysis


def render(summary_path: Path, config_path: Path | None, out_path: Path, speed_path: Path | None = None,
           interim_path: Path | None = None) -> Path:
    summary_path, out_path = Path(summary_path), Path(out_path)
    out_dir = out_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = load_summary(summary_path)
    config, note = load_config(config_path)
    interim = json.loads(Path(interim_path).read_text()) if interim_path else None
    analysis = analyse_at_look(summary, config, interim)
    resolve = Resolver(summary_path)
    speed, speed_note = load_speed(speed_path)
    context = build_context(analysis, config, note, summary_path, resolve, out_dir, speed, speed_note)
    html = make_env().get_template(TEMPLATE).render(**context)
    out_path.write_text(html, encoding="utf-8")
    stats.observations_frame(analysis).to_csv(out_dir / "observations.csv", index=False)
    _excluded_frame(analysis).to_csv(out_dir / "excluded_runs.csv", index=False)
    return out_path


def _excluded_frame(analysis: dict) -> pd.DataFrame:
    return pd.DataFrame([{"run_id": e["run_id"], "status": e.get("status", ""), "reasons": " | ".join(e["reasons"])}
                         for e in analysis["excluded"]], columns=["run_id", "status", "reasons"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--summary", required=True, type=Path, help="results/<study>/summary.csv")
    parser.add_argument("--config", type=Path, default=None, help="results/<study>/config.json")
    parser.add_argument("--speed", type=Path, default=None,
                        help="results/<study>/speed.csv from the benchmark rule (else: the training jobs' timing)")
    parser.add_argument("--interim", type=Path, default=None,
                        help="results/<study>/looks/<k>/interim.json: report that look of the sequential design")
    parser.add_argument("--out", required=True, type=Path, help="reports/<study>/index.html")
    args = parser.parse_args(argv)
    if not args.summary.is_file():
        print(f"error: summary {args.summary} does not exist", file=sys.stderr)
        return 2
    out = render(args.summary, args.config, args.out, args.speed, args.interim)
    print(f"report written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
