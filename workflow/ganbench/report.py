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
import sys
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ganbench import figures, quality_figures, stats
from ganbench.looks import seed_plan
from ganbench.observations import METRICS, metric_label
from ganbench.run_files import Resolver
from ganbench.report_format import (as_number, decision_display, effect_display, fmt, fmt_ci, fmt_count, fmt_p,
                                    fmt_pct, fmt_signed)
from ganbench.provenance import provenance_context
from ganbench.report_speed import benchmark_speed, load_speed
from ganbench.report_panels import observation_panels, safe_file_name, sample_grids, training_curve_panels
from ganbench.stats import guard, policy

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
TEMPLATE = "report.html.j2"
KEY_FIGURES = ("observations", "fid_by_condition", "frameworks", "training_curves", "loss_curves", "timing")
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "celeba": "CelebA"}  # the header names the dataset
NOT_RUN = policy.NOT_RUN
# the decision rules, the seed design and its boundary, as stats.analyse states them: printed as the code applies them
ANALYSIS_RULES = ("rules", "equivalence_rules", "noninferiority_rules", "combine_rules", "family_rule", "guard_rule",
                  "unit_rule", "diverged_rule", "design", "boundary", "sequential", "alpha", "min_seeds")
TABLE_METRICS = ("fid", "kid_mean", "is_mean", "precision", "recall", "coverage", "classes_covered")


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


def _decorate(results: list[dict]) -> None:
    for res in results:
        for g in res["groups"]:
            for r in g["primary"] + g.get("secondary", []):
                r["effect_text"], r["ci_text"] = effect_display(r)
                r["dec_text"] = decision_display(r)
            for ref in g.get("references", []):
                ref["effect_text"], ref["ci_text"] = effect_display(ref)


# ---------------------------------------------------------------------------
# Study facts, figures and the page's context
# ---------------------------------------------------------------------------


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
        name = f"obs_{safe_file_name(r['id'])}.png"
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
        **provenance_context(df),
        "observations": results,
        **{key: analysis[key] for key in ANALYSIS_RULES},
        "table_metrics": [(m, metric_label(m), METRICS[m].better) for m in metrics],
        "conditions": _condition_rows(conditions, metrics) if not conditions.empty else [],
        "speed": speed_ctx,
        "curve_samples": curve_n,
        "eval_samples": eval_n,
        "min_classes": min_classes,
        "not_run_label": NOT_RUN,
        "grids": sample_grids(analysis, resolve, fig_dir),
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
    env.globals["finite"] = lambda x: as_number(x) is not None
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
