"""The report's learning-curve figures (metrics.json "curve", read through ganbench.run_files)
and the guard's figure: FID and classes covered (or recall) against images seen, per series
with its seed band, and the baseline arm's end scores against the guard's thresholds.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from ganbench.figure_style import _finite, _int_or, _save, placeholder, plt
from ganbench.run_files import read_curve

CURVE_COLUMNS = ("step", "fraction", "n", "fid", "classes_covered", "recall", "coverage", "precision", "is_mean")


def collect_curves(rows: pd.DataFrame, resolve) -> pd.DataFrame:
    """One row per curve point of the finished (status ok) runs in ``rows``: run_id, impl, model,
    seed, the point's columns and ``images`` = step x batch_size x d_steps (images seen by D)."""
    frames = []
    if rows is None or rows.empty:
        return pd.DataFrame()
    for _, row in rows.iterrows():
        if row.get("status", "ok") != "ok":
            continue
        points = read_curve(resolve(row.get("run_dir", "")))
        if not points:
            continue
        pts = pd.DataFrame(points)
        for col in CURVE_COLUMNS:
            pts[col] = pd.to_numeric(pts[col], errors="coerce") if col in pts else np.nan
        per_step = _int_or(row.get("batch_size"), 1) * _int_or(row.get("d_steps"), 1)
        pts = pts.assign(run_id=row["run_id"], impl=row.get("impl", ""), model=row.get("model", ""),
                         seed=row.get("seed", np.nan), images=pts["step"] * per_step)
        frames.append(pts[["run_id", "impl", "model", "seed", "images", *CURVE_COLUMNS]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def curve_bands(curves: pd.DataFrame, second: str = "classes_covered") -> pd.DataFrame:
    """Per images-seen point: twins averaged within a seed first (geometric mean of FID, mean of
    the second panel's metric, classes covered unless the dataset has no classes), then mean over
    seeds with min–max over seeds. Columns images, fid, fid_lo, fid_hi, classes, classes_lo,
    classes_hi (the second metric), n_seeds."""
    if curves is None or curves.empty:
        return pd.DataFrame()
    # twins share a seed's noise: average them first so each seed counts once in the band
    c = curves.assign(log_fid=np.log(curves["fid"].where(curves["fid"] > 0)),
                      second=pd.to_numeric(curves[second], errors="coerce"))
    per_seed = c.groupby(["images", "seed"]).agg(log_fid=("log_fid", "mean"),
                                                   classes=("second", "mean")).reset_index()
    g = per_seed.groupby("images").agg(lf=("log_fid", "mean"), lf_lo=("log_fid", "min"), lf_hi=("log_fid", "max"),
                                       classes=("classes", "mean"), classes_lo=("classes", "min"),
                                       classes_hi=("classes", "max"), n_seeds=("seed", "nunique")).reset_index()
    return g.assign(fid=np.exp(g["lf"]), fid_lo=np.exp(g["lf_lo"]), fid_hi=np.exp(g["lf_hi"])).drop(
        columns=["lf", "lf_lo", "lf_hi"]).sort_values("images")


def _draw_curve(ax_fid, ax_cls, bands: pd.DataFrame, label: str, colour, ls: str = "-") -> bool:
    if bands.empty:
        return False
    n = int(bands["n_seeds"].max())
    lab = f"{label} ({n} seed{'s' if n != 1 else ''})"
    for ax, col in ((ax_fid, "fid"), (ax_cls, "classes")):
        ok = np.isfinite(bands[col])
        if not ok.any():
            continue
        b = bands[ok]
        ax.plot(b["images"], b[col], color=colour, ls=ls, marker="o", ms=3.5, lw=1.6, label=lab)
        if (b["n_seeds"] > 1).any():
            ax.fill_between(b["images"], b[f"{col}_lo"], b[f"{col}_hi"], color=colour, alpha=0.18, lw=0)
    return True


def second_panel(min_classes: int | None) -> tuple[str, str, tuple[float, float]]:
    """(metric, label, y range) of the panel beside FID: classes covered where the dataset has
    classes (the guard's collapse check), else recall (no guard line)."""
    if min_classes is None:
        return "recall", "recall", (0.0, 1.05)
    return "classes_covered", "classes covered (of 10)", (0.0, 10.5)


def _guard_lines(ax_fid, ax_cls, fid_limit: float, min_classes: int | None) -> None:
    if _finite(fid_limit):
        ax_fid.axhline(fid_limit, color="#b2182b", ls="--", lw=1)
        ax_fid.annotate(f"guard: FID ≤ {fid_limit:g}", (0.01, fid_limit), xycoords=("axes fraction", "data"),
                        fontsize=7, color="#b2182b", va="bottom")
    if min_classes is not None:
        ax_cls.axhline(min_classes, color="#b2182b", ls="--", lw=1)
        ax_cls.annotate(f"guard: ≥ {min_classes} classes", (0.01, min_classes), xycoords=("axes fraction", "data"),
                        fontsize=7, color="#b2182b", va="bottom")
    ax_cls.set_ylim(*second_panel(min_classes)[2])


def _style_curve_axes(ax_fid, ax_cls, title: str, min_classes: int | None = 8) -> None:
    label = second_panel(min_classes)[1]
    ax_fid.set_yscale("log")
    ax_fid.set_ylabel("FID (log scale)")
    ax_cls.set_ylabel(label)
    for ax in (ax_fid, ax_cls):
        ax.set_xlabel("images seen by D (step × batch × d_steps)")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    ax_fid.set_title(f"{title}: FID", fontsize=9)
    ax_cls.set_title(f"{title}: {label.split(' (')[0]}", fontsize=9)


CURVE_NOTE = "mean over seeds (twins averaged within a seed), band = min–max over seeds; curve samples only"


def learning_curves_figure(panels: list[dict], path: Path, title: str, min_classes: int | None = 8) -> Path:
    """One row per panel: FID (log) and classes covered (recall where the dataset has no classes,
    ``min_classes`` None) against images seen, one line per series
    with its seed band, the guard's thresholds dashed. ``panels``: [{"title", "fid_limit",
    "series": [(label, curves DataFrame, style)]}] with style "control" | "treatment" | "reference" | impl
    index (int)."""
    drawn = []
    for p in panels:
        series = [(label, curve_bands(c, second_panel(min_classes)[0]), style) for label, c, style in p["series"]]
        if any(not b.empty for _, b, _ in series):
            drawn.append((p, series))
    if not drawn:
        return placeholder(path, title, "no learning-curve points (metrics.json 'curve') for these runs")
    deep = sns.color_palette("deep")
    styles = {"control": (deep[0], "-"), "treatment": (deep[1], "--"), "reference": ("#777777", ":")}
    dashes = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(len(drawn), 2, figsize=(11, 3.1 * len(drawn) + 0.6), squeeze=False)
    for (p, series), (ax_fid, ax_cls) in zip(drawn, axes):
        for label, bands, style in series:
            # arms have fixed colours and dashes; impls (int styles) cycle through palette and dashes
            colour, ls = styles.get(style, (deep[style % len(deep)], dashes[style % len(dashes)])
                                    if isinstance(style, int) else ("#333333", "-"))
            _draw_curve(ax_fid, ax_cls, bands, label, colour, ls)
        _guard_lines(ax_fid, ax_cls, p.get("fid_limit", math.nan), min_classes)
        _style_curve_axes(ax_fid, ax_cls, p["title"], min_classes)
        ax_cls.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{title}\n{CURVE_NOTE}", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def guard_figure(panels: list[dict], path: Path, title: str, min_classes: int | None = 8) -> Path:
    """The control arm's end scores that decided the guard, per panel (model / recipe): FID per
    seed against the model's threshold and classes covered per seed against the minimum; one
    marker per run (impl), diverged runs marked at the top."""
    panels = [p for p in panels if p["rows"] is not None and len(p["rows"])]
    if not panels:
        return placeholder(path, title, "no baseline run in this study")
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 2.9 * len(panels) + 0.6), squeeze=False)
    for p, (ax_fid, ax_cls) in zip(panels, axes):
        _guard_panel(p, ax_fid, ax_cls, min_classes)
    fig.suptitle(f"{title} (x = diverged; shaded = fails the rule)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _guard_panel(p: dict, ax_fid, ax_cls, min_classes: int | None) -> None:
    """One row of guard_figure: the panel's runs per seed (x) and impl (colour, side by side)."""
    deep = sns.color_palette("deep")
    second, second_label, second_range = second_panel(min_classes)
    rows = p["rows"]
    impls = sorted(rows["impl"].unique())
    seeds = sorted(rows["seed"].dropna().unique())
    xpos = {s: i for i, s in enumerate(seeds)}
    fids = pd.to_numeric(rows["fid"], errors="coerce")
    # headroom above the worst FID (or the limit) for the diverged runs' markers, which have no score
    top = max([v for v in [fids.max(), p.get("fid_limit")] if _finite(v)] or [1.0]) * 1.6
    for k, impl in enumerate(impls):
        part = rows[rows["impl"] == impl]
        off = (k - (len(impls) - 1) / 2) * 0.12
        for _, r in part.iterrows():
            x = xpos.get(r["seed"], 0) + off
            if r["status"] != "ok":
                for ax, y in ((ax_fid, top), (ax_cls, second_range[1] * 0.97)):
                    ax.plot([x], [y], "x", color=deep[k % len(deep)], ms=7)
                continue
            ax_fid.plot([x], [r["fid"]], "o", color=deep[k % len(deep)], ms=6,
                        label=impl if r["seed"] == part["seed"].min() else None)
            ax_cls.plot([x], [r[second]], "o", color=deep[k % len(deep)], ms=6)
    # shade the side of each threshold that fails the rule
    if _finite(p.get("fid_limit")):
        ax_fid.axhline(p["fid_limit"], color="#b2182b", ls="--", lw=1)
        ax_fid.axhspan(p["fid_limit"], top * 2, color="#b2182b", alpha=0.06)
    if min_classes is not None:
        ax_cls.axhline(min_classes, color="#b2182b", ls="--", lw=1)
        ax_cls.axhspan(-0.5, min_classes, color="#b2182b", alpha=0.06)
    ax_fid.set_yscale("log")
    ax_fid.set_ylim(top=top * 1.3)
    ax_cls.set_ylim(second_range[0] - 0.03 * second_range[1], second_range[1] + 0.01 * second_range[1])
    for ax in (ax_fid, ax_cls):
        ax.set_xticks(range(len(seeds)))
        ax.set_xticklabels([f"seed {int(s)}" for s in seeds], fontsize=8)
        ax.set_xlim(-0.6, max(len(seeds), 1) - 0.4)
    limit = f" (guard ≤ {p['fid_limit']:g})" if _finite(p.get("fid_limit")) else ""
    ax_fid.set_title(f"{p['title']}\ncontrol FID per seed{limit}", fontsize=9)
    rule = f" (guard ≥ {min_classes})" if min_classes is not None else " (not part of the guard)"
    ax_cls.set_title(f"{p['title']}\ncontrol {second_label.split(' (')[0]}{rule}", fontsize=9)
    ax_fid.set_ylabel("FID (log)")
    ax_cls.set_ylabel(second_label)
    if impls:
        ax_fid.legend(fontsize=7, loc="lower right")
