"""Figures a GAN researcher reads beside the verdicts: the precision-recall plane per
condition, the generated class histogram per condition, and FID against wall-clock time per
implementation. Only runs that trained (the guard's per-run rule) are drawn as trained: a
collapsed run's high precision is marked, never presented as a good result.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ganbench.curve_figures import collect_curves
from ganbench.figure_style import _save, placeholder
from ganbench.run_files import read_class_hist, read_log
from ganbench.stats import guard


def trained_mask(df: pd.DataFrame) -> pd.Series:
    """True for runs the guard's per-run rule calls trained (finished, FID within the dataset's
    limit, enough classes covered)."""
    if df.empty:
        return pd.Series([], dtype=bool)
    return pd.Series([guard.run_verdict(r)[0] == "passes" for _, r in df.iterrows()], index=df.index)


def _condition_label(df: pd.DataFrame) -> pd.Series:
    """The condition (recipe and its deviations) of each run, as the report's tables name it."""
    if "condition" in df:
        return df["condition"].astype(str)
    return df["recipe"].astype(str) + " " + df["deviations"].astype(str).replace({"{}": "(recipe)"})


def pr_plane_figure(df: pd.DataFrame, path: Path) -> Path:
    """Precision (fidelity) against recall (diversity) per run, one panel per model, colour =
    condition (recipe: arm); filled = trained, hollow = did not learn (diverged runs have no scores)."""
    need = {"precision", "recall", "model", "recipe", "deviations"}
    if df.empty or not need <= set(df.columns):
        return placeholder(path, "Precision-recall plane", "no precision / recall in the summary")
    data = df[df["status"] == "ok"].copy()
    for col in ("precision", "recall"):
        data[col] = pd.to_numeric(data[col], errors="coerce")
    data = data[np.isfinite(data["precision"]) & np.isfinite(data["recall"])]
    if data.empty:
        return placeholder(path, "Precision-recall plane", "no run has precision and recall")
    data["condition"] = _condition_label(data)
    data["trained"] = trained_mask(data)
    models = sorted(data["model"].unique())
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 5.2), squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = data[data["model"] == model]
        conditions = sorted(rows["condition"].unique())
        palette = dict(zip(conditions, sns.color_palette("tab20", max(3, len(conditions)))))
        for cond in conditions:
            c = rows[rows["condition"] == cond]
            ok, bad = c[c["trained"]], c[~c["trained"]]
            ax.scatter(ok["recall"], ok["precision"], color=palette[cond], s=28, label=cond)
            ax.scatter(bad["recall"], bad["precision"], facecolors="none", edgecolors=palette[cond], s=28,
                       label=None if len(ok) else cond)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("recall (diversity)")
        ax.set_ylabel("precision (fidelity)")
        ax.set_title(f"{model}: one marker per run; hollow = did not learn", fontsize=10)
        ax.legend(fontsize=7, loc="lower left", ncol=1 if len(conditions) < 12 else 2)
    fig.suptitle("Precision-recall plane per condition (top right is best; high precision with near-zero "
                 "recall is mode collapse)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def class_histogram_figure(df: pd.DataFrame, resolve, path: Path, max_conditions: int = 40) -> Path:
    """Share of generated samples per class, per condition (rows), mean over its finished runs:
    a heat map where a uniform row is an even generator and one bright cell is collapse."""
    if df.empty:
        return placeholder(path, "Class histograms", "no runs")
    data = df[df["status"] == "ok"].copy()
    data["condition"] = data["model"].astype(str) + " · " + _condition_label(data) + " · " + data["impl"].astype(str)
    rows, labels = [], []
    for cond, g in data.groupby("condition", sort=True):
        hists = [h for h in (read_class_hist(resolve(r)) for r in g["run_dir"]) if h is not None]
        if hists and len({len(h) for h in hists}) == 1:
            rows.append(np.mean(hists, axis=0))
            labels.append(f"{cond} (n={len(hists)})")
    if not rows:
        return placeholder(path, "Class histograms", "no class histogram (a dataset without classes, "
                                                     "or no finished run)")
    rows, labels = rows[:max_conditions], labels[:max_conditions]
    matrix = np.vstack(rows)
    fig, ax = plt.subplots(figsize=(8.5, 0.32 * len(labels) + 1.8))
    sns.heatmap(matrix, ax=ax, cmap="viridis", vmin=0, vmax=max(0.3, float(matrix.max())),
                cbar_kws={"label": "share of generated samples"}, yticklabels=labels,
                xticklabels=[str(i) for i in range(matrix.shape[1])])
    ax.set_xlabel("class predicted by the evaluator network")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"Generated class histogram per condition (uniform = {1 / matrix.shape[1]:.2f} per class)",
                 fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _elapsed_at(log: pd.DataFrame | None, steps) -> np.ndarray:
    """Training seconds at each step, from log.csv's ``elapsed_s`` (interpolated between logged steps)."""
    if log is None or "elapsed_s" not in log:
        return np.full(len(steps), np.nan)
    t = pd.to_numeric(log["elapsed_s"], errors="coerce")
    ok = np.isfinite(t) & np.isfinite(log["step"])
    if ok.sum() < 1:
        return np.full(len(steps), np.nan)
    return np.interp(np.asarray(steps, float), log["step"][ok].to_numpy(float), t[ok].to_numpy(float))


def fid_vs_time_figure(df: pd.DataFrame, resolve, path: Path) -> Path:
    """Learning-curve FID against training wall-clock seconds, per recipe's own arm (panels) and
    impl (colour), one line per seed: what a user's time buys in each framework."""
    if df.empty:
        return placeholder(path, "FID against wall-clock time", "no runs")
    base = df[(df["status"] == "ok") & (df["deviations"] == "{}")]
    if base.empty:
        base = df[df["status"] == "ok"]
    frames = []
    for _, row in base.iterrows():
        pts = collect_curves(row.to_frame().T, resolve)
        if pts.empty:
            continue
        run_dir = resolve(row.get("run_dir", ""))
        pts["seconds"] = _elapsed_at(read_log(run_dir / "log.csv") if run_dir else None, pts["step"])
        pts["panel"] = f"{row.get('recipe', '')} ({row.get('model', '')})"
        frames.append(pts)
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if curves.empty or not np.isfinite(curves["seconds"]).any():
        return placeholder(path, "FID against wall-clock time", "no learning-curve points with logged times")
    panels = sorted(curves["panel"].unique())
    impls = sorted(curves["impl"].unique())
    palette = dict(zip(impls, sns.color_palette("deep", max(3, len(impls)))))
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.6 * nrow), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        p = curves[curves["panel"] == panel]
        for (impl, run_id), g in p.groupby(["impl", "run_id"]):
            g = g.sort_values("seconds")
            ax.plot(g["seconds"], g["fid"], color=palette[impl], marker="o", ms=3, lw=1.2, alpha=0.8)
        ax.set_yscale("log")
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("training seconds (the job's own clock)")
        ax.set_ylabel("FID (curve samples)")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.legend(handles=[plt.Line2D([0], [0], color=palette[i], marker="o") for i in impls], labels=impls,
               loc="upper right", fontsize=9, title="impl")
    fig.suptitle("FID against wall-clock training time, each recipe's own arm, one line per run (jobs share "
                 "the machine: compare within a study)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)
