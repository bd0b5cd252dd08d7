"""The report's loss figures: D and G loss, D(x) and D(G(z)) from each run's log.csv (read
through ganbench.run_files), per recipe and impl or per arm of a claim, mean over seeds with a
min–max band.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from ganbench.figure_style import _save, placeholder, plt
from ganbench.run_files import read_log

LOG_SERIES = (("d_loss", "D loss"), ("g_loss", "G loss"), ("d_real", "D(x)"), ("d_fake", "D(G(z))"))


def collect_logs(rows: pd.DataFrame, resolve) -> pd.DataFrame:
    """Concatenated log.csv rows of ``rows`` with run_id / impl / model / arm columns."""
    frames = []
    for _, row in rows.iterrows():
        run_dir = resolve(row.get("run_dir", ""))
        if run_dir is None:
            continue
        log = read_log(run_dir / "log.csv")
        if log is None:
            continue
        log = log.assign(run_id=row["run_id"], impl=row.get("impl", ""), model=row.get("model", ""),
                         recipe=row.get("recipe", ""), arm=row.get("arm", ""), seed=row.get("seed", np.nan))
        frames.append(log)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _band(ax, logs: pd.DataFrame, column: str, label: str, colour) -> bool:
    if logs.empty or column not in logs:
        return False
    g = logs.groupby("step")[column].agg(["mean", "min", "max", "count"]).reset_index()
    g = g[np.isfinite(g["mean"])]
    if g.empty:
        return False
    ax.plot(g["step"], g["mean"], color=colour, label=label, lw=1.5, marker="o" if len(g) < 12 else None, ms=3)
    if (g["count"] > 1).any():
        ax.fill_between(g["step"], g["min"], g["max"], color=colour, alpha=0.2, lw=0)
    return True


def loss_curves_figure(rows: pd.DataFrame, resolve, path: Path) -> Path:
    """D and G loss, D(x), D(G(z)) per recipe and model (rows) and impl (colour), band = min–max
    over seeds: each recipe's own arm, never several recipes averaged into one line."""
    if rows is None or rows.empty:
        return placeholder(path, "Loss curves", "no runs")
    logs = collect_logs(rows, resolve)
    if logs.empty:
        return placeholder(path, "Loss curves", "no log.csv found for the baseline runs")
    impls = sorted(logs["impl"].unique())
    palette = dict(zip(impls, sns.color_palette("deep", max(3, len(impls)))))
    panels = [{"title": f"{recipe} ({model})" if recipe else str(model),
               "series": [(impl, g[g["impl"] == impl], palette[impl]) for impl in impls if (g["impl"] == impl).any()]}
              for (recipe, model), g in logs.groupby(["recipe", "model"], sort=True)]
    return _loss_panels(panels, path, "Losses and D outputs of each recipe's own arm per implementation: mean "
                                      "over seeds, band = min–max over seeds")


ARM_COLOURS = {"control": sns.color_palette("deep")[0], "treatment": sns.color_palette("deep")[3],
               "reference": sns.color_palette("deep")[7]}


def arm_loss_figure(panels: list[dict], resolve, path: Path, title: str) -> Path:
    """Per observation: one row per panel (recipe / model) of D loss, G loss, D(x), D(G(z)),
    treatment against control (and reference arms), mean over seeds with a min–max band.
    ``panels``: {"title", "series": [(label, summary rows, "control" | "treatment" | "reference")]}."""
    drawn = []
    for panel in panels:
        series = []
        for k, (label, rows, style) in enumerate(panel["series"]):
            logs = collect_logs(rows[rows["status"] != "failed"], resolve) if len(rows) else pd.DataFrame()
            if len(logs):
                colour = ARM_COLOURS.get(style, sns.color_palette("deep")[k % 10])
                series.append((label, logs, colour))
        if series:
            drawn.append({"title": panel["title"], "series": series})
    if not drawn:
        return placeholder(path, "Loss curves per arm", "no log.csv found for the arms")
    return _loss_panels(drawn, path, title)


def _loss_panels(panels: list[dict], path: Path, title: str) -> Path:
    fig, axes = plt.subplots(len(panels), 4, figsize=(15, 3.0 * len(panels)), squeeze=False)
    for i, panel in enumerate(panels):
        for j, (col, label) in enumerate(LOG_SERIES):
            ax = axes[i, j]
            for name, logs, colour in panel["series"]:
                _band(ax, logs, col, name, colour)
            ax.set_title(f"{panel['title']}: {label}", fontsize=10)
            ax.set_xlabel("step")
            if j == 0:
                ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)
