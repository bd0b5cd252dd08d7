"""The report's timing figures: step time, images/s and first-step time per implementation,
from the training jobs (which share the machine) or from the exclusive benchmark (speed.csv).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from ganbench.figure_style import _save, placeholder, plt


def timing_figure(df: pd.DataFrame, path: Path) -> Path:
    usable = df[df["status"] != "failed"]
    if usable.empty or usable[["median_step_ms", "images_per_s"]].notna().sum().sum() == 0:
        return placeholder(path, "Timing", "no timing data")
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    usable = usable.assign(group=usable["impl"] + " / " + usable["model"])
    order = sorted(usable["group"].unique())
    for ax, metric, title in ((axes[0], "median_step_ms", "median step (ms)"),
                              (axes[1], "images_per_s", "images / s"),
                              (axes[2], "first_step_s", "first step incl. tracing/compile (s)")):
        data = usable[np.isfinite(usable[metric])]
        if data.empty:
            ax.axis("off")
            ax.text(0.5, 0.5, f"no {title}", ha="center", va="center")
            continue
        sns.barplot(data=data, y="group", x=metric, order=[o for o in order if o in set(data["group"])],
                    errorbar=("ci", 95), seed=0, ax=ax, color=sns.color_palette("deep")[0], alpha=0.7)
        sns.stripplot(data=data, y="group", x=metric, order=[o for o in order if o in set(data["group"])],
                      ax=ax, color="black", size=3)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("")
        ax.set_xlabel(title)
    devices = ", ".join(sorted(set(map(str, usable["device"].dropna())))) or "unknown device"
    fig.suptitle(f"Timing of the training jobs (they share the machine; not an exclusive benchmark) per "
                 f"implementation and model, all conditions; device: {devices}", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def benchmark_figure(speed: pd.DataFrame, path: Path) -> Path:
    """The exclusive benchmark: median step time and images/s per shape (rows) and impl (bars)."""
    if speed is None or speed.empty or not np.isfinite(pd.to_numeric(speed["median_step_ms"], errors="coerce")).any():
        return placeholder(path, "Timing (exclusive benchmark)", "no benchmark rows")
    # a compiled shape is its own row: compiling changes the step time being compared
    data = speed.assign(label=speed["shape"].astype(str) + np.where(
        speed["compile"].astype(str).str.lower() == "true", " (compiled)", ""))
    order = list(dict.fromkeys(data["label"]))
    impls = sorted(data["impl"].unique())
    palette = dict(zip(impls, sns.color_palette("deep", max(3, len(impls)))))
    fig, axes = plt.subplots(1, 3, figsize=(14, 0.55 * len(order) * max(1, len(impls)) / 1.5 + 1.8))
    for ax, metric, title in ((axes[0], "median_step_ms", "median step (ms)"),
                              (axes[1], "images_per_s", "images / s"),
                              (axes[2], "first_step_s", "first step incl. tracing/compile (s)")):
        vals = data[np.isfinite(pd.to_numeric(data[metric], errors="coerce"))]
        if vals.empty:
            ax.axis("off")
            ax.text(0.5, 0.5, f"no {title}", ha="center", va="center")
            continue
        sns.barplot(data=vals, y="label", x=metric, hue="impl", order=order, hue_order=impls, palette=palette,
                    ax=ax, errorbar=None)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("")
        ax.set_xlabel(title)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=palette[i]) for i in impls], labels=impls,
               loc="upper right", fontsize=9, title="impl")
    devices = ", ".join(sorted(set(map(str, speed["device"].dropna())))) or "unknown device"
    threads = ", ".join(sorted(set(str(int(t)) for t in pd.to_numeric(speed["threads"], errors="coerce").dropna()))) or "?"
    fig.suptitle(f"Exclusive benchmark per shape and impl (device: {devices}; threads: {threads})", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)
