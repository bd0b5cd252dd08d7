"""The report's effect and verdict figures: the forest plot of every primary endpoint in SESOI
units, one claim's control-vs-treatment panels per seed, the score per condition and the
implementations' equivalence plot.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from ganbench.claim_schema import LOG_SCALES, metric_label
from ganbench.figure_style import VERDICT_COLOURS, _finite, _save, placeholder, plt


def _endpoint_rows(results: list[dict]) -> list[tuple[str, dict]]:
    rows = []
    for res in results:
        for g in res.get("groups", []):
            for r in g.get("primary", []):
                rows.append((f"{res['id']} · {g['group']} · {r.get('metric', '')}", r))
    return rows


def observations_figure(results: list[dict], path: Path) -> Path:
    """Forest plot: every primary endpoint's effect in SESOI units (dotted lines at +-1),
    signed so that + is the claimed direction, with its CI, coloured by verdict."""
    rows = _endpoint_rows(results)
    if not rows:
        return placeholder(path, "Observations", "no observation has runs in this study")
    n = len(rows)
    fig, ax = plt.subplots(figsize=(10, 0.42 * n + 1.6))
    ys = np.arange(n)[::-1]
    any_data = False
    for y, (_, r) in zip(ys, rows):
        colour = VERDICT_COLOURS.get(r.get("verdict"), "#7f7f7f")
        sesoi = r.get("sesoi", math.nan)
        # one axis for every endpoint: divide by its SESOI and flip so + is always the claimed direction
        sign = -1.0 if r.get("expected") == "lower" else 1.0
        scale = sign / sesoi if _finite(sesoi) and sesoi > 0 else math.nan
        eff, lo, hi = (r.get(k, math.nan) * scale for k in ("estimate", "ci_lo", "ci_hi"))
        if _finite(eff):
            any_data = True
            if _finite(lo) and _finite(hi):
                ax.plot(sorted([lo, hi]), [y, y], color=colour, lw=2.5, solid_capstyle="butt")
            ax.plot([eff], [y], "o", color=colour, ms=7)
        else:
            ax.text(0, y, r.get("state", "no data"), ha="center", va="center", fontsize=8, color="#555555")
    for x in (-1, 1):
        ax.axvline(x, ls=":", color="#999999", lw=1)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels([label for label, _ in rows], fontsize=8)
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlabel("effect / SESOI (+ = the claimed direction; equivalence: / margin)")
    right = ax.secondary_yaxis("right")  # each row's verdict beside it, in its colour
    right.set_yticks(ys)
    right.set_yticklabels([r.get("verdict", "") for _, r in rows], fontsize=8)
    for lab, (_, r) in zip(right.get_yticklabels(), rows):
        lab.set_color(VERDICT_COLOURS.get(r.get("verdict"), "#7f7f7f"))
    if not any_data:
        ax.set_xlim(-3, 3)
    ax.set_title("Primary endpoints: effect with its CI in SESOI units", fontsize=10)
    return _save(fig, path)


def observation_figure(result: dict, resolve, df: pd.DataFrame, path: Path) -> Path:
    """Per model (recipe): the first primary endpoint per seed, control vs treatment, a line per seed."""
    groups = [g for g in result.get("groups", []) if g.get("primary")]
    panels = []
    # what a panel can show depends on the endpoint: paired per-seed values, per-arm values
    # (seed spread) or only per-arm rates (divergence)
    for g in groups:
        r = g["primary"][0]
        pairs = r.get("pairs")
        if isinstance(pairs, pd.DataFrame) and len(pairs):
            panels.append((g, r, pairs[["t", "c"]].to_numpy(float)))
        elif r.get("values_t") or r.get("values_c"):
            panels.append((g, r, None))
        elif r.get("scale") == "divergence" and r.get("n_t"):
            panels.append((g, r, None))
    if not panels:
        return placeholder(path, f"{result['id']}: {result['title']}", "no seed with data in both arms")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (g, r, tc) in zip(axes[0], panels):
        _arm_panel(ax, r, tc)
        ax.set_title(f"{g['group']}: {g.get('verdict', '')}", fontsize=9)
    fig.suptitle(f"{result['id']}: {result['title']} (one line per seed)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def _arm_panel(ax, r: dict, tc) -> None:
    """One panel of observation_figure: control (x = 0) against treatment (x = 1) of endpoint ``r``;
    ``tc`` the paired (treatment, control) values per seed, or None."""
    if tc is not None:
        for c, t in tc[:, ::-1]:
            ax.plot([0, 1], [c, t], color="#999999", lw=0.8)
        ax.scatter(np.zeros(len(tc)), tc[:, 1], color=sns.color_palette("deep")[0], zorder=3)
        ax.scatter(np.ones(len(tc)), tc[:, 0], color=sns.color_palette("deep")[1], zorder=3)
        unit = " (log)" if r.get("scale") in LOG_SCALES else ""
        ax.set_ylabel(r.get("label", "") + unit)
        lo, hi = np.nanmin(tc), np.nanmax(tc)
        if np.isfinite(lo) and hi - lo < 0.02:  # near-identical values: do not blow up round-off
            mid = (lo + hi) / 2
            ax.set_ylim(mid - 0.05, mid + 0.05)
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["control", "treatment"])
    elif r.get("scale") == "spread":
        for x, key in ((0, "values_c"), (1, "values_t")):
            vals = list((r.get(key) or {}).values())
            ax.scatter([x] * len(vals), vals, color=sns.color_palette("deep")[x])
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["control", "treatment"])
        ax.set_ylabel("log FID per seed")
    else:
        rates = [r.get("rate_c", math.nan), r.get("rate_t", math.nan)]
        ax.bar([0, 1], rates, color=sns.color_palette("deep")[:2])
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["control", "treatment"])
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of seeds diverged")


def fid_by_condition_figure(conditions: pd.DataFrame, df: pd.DataFrame, path: Path,
                            metric: str = "fid") -> Path:
    if conditions is None or conditions.empty or conditions[f"{metric}_mean"].notna().sum() == 0:
        return placeholder(path, f"{metric_label(metric)} by condition", "no scored runs")
    models = sorted(conditions["model"].unique())
    impls = sorted(conditions["impl"].unique())
    palette = dict(zip(impls, sns.color_palette("deep", max(3, len(impls)))))
    heights = [max(1, conditions[conditions["model"] == m]["condition"].nunique()) for m in models]
    fig, axes = plt.subplots(len(models), 1, figsize=(9, 0.45 * sum(heights) + 1.3 * len(models)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    usable = df[df["status"] != "failed"]
    for ax, model in zip(axes[:, 0], models):
        sub = conditions[conditions["model"] == model]
        labels = sorted(sub["condition"].unique(), key=lambda s: (s != "baseline", s))
        ypos = {c: i for i, c in enumerate(labels)}
        width = 0.6 / max(1, len(impls))  # impls side by side within a condition's row
        for k, impl in enumerate(impls):
            part = sub[sub["impl"] == impl]
            off = (k - (len(impls) - 1) / 2) * width
            for _, row in part.iterrows():
                y = ypos[row["condition"]] + off
                m, lo, hi = row[f"{metric}_mean"], row[f"{metric}_lo"], row[f"{metric}_hi"]
                if _finite(lo) and _finite(hi):
                    ax.plot([lo, hi], [y, y], color=palette[impl], lw=2)
                if _finite(m):
                    ax.plot([m], [y], "o", color=palette[impl], ms=6)
                runs = usable[usable["run_id"].isin(row["run_ids"])][metric]
                ax.scatter(runs, [y] * len(runs), s=8, color=palette[impl], alpha=0.5)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels)
        ax.invert_yaxis()
        ax.set_title(f"{model}", fontsize=10, loc="left")
        ax.set_xlabel(f"{metric_label(metric)} (mean, 95% t-CI over seeds, dots = runs)")
    handles = [plt.Line2D([], [], color=palette[i], marker="o", ls="-", label=i) for i in impls]
    axes[0, 0].legend(handles=handles, fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def frameworks_figure(result: dict | None, path: Path) -> Path:
    """Per comparison (model: impl vs reference): per-seed FID ratios, mean with 90% CI and
    the equivalence margin as a grey band."""
    groups = [g for g in (result or {}).get("groups", [])
              if isinstance(g["primary"][0].get("pairs"), pd.DataFrame) and len(g["primary"][0]["pairs"])]
    if not groups:
        return placeholder(path, "Implementations", "needs two impls with scored runs of the same arm and seed")
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(groups) + 1.6))
    margin = groups[0]["primary"][0].get("sesoi", math.nan)
    if _finite(margin):
        ax.axvspan(math.expm1(-margin) * 100, math.expm1(margin) * 100, color="grey", alpha=0.15)
    for y, g in enumerate(groups):
        r = g["primary"][0]
        d = r["pairs"]["d"].to_numpy(float)
        ax.scatter(np.expm1(d) * 100, [y] * len(d), s=14, color="#555555", zorder=3)
        colour = VERDICT_COLOURS.get(r.get("verdict"), "#7f7f7f")
        if _finite(r.get("ci_lo")) and _finite(r.get("ci_hi")):
            ax.plot([math.expm1(r["ci_lo"]) * 100, math.expm1(r["ci_hi"]) * 100], [y, y], color=colour, lw=3)
        if _finite(r.get("estimate")):
            ax.plot([math.expm1(r["estimate"]) * 100], [y], "o", color=colour, ms=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(groups)))
    ax.set_yticklabels([g["group"] for g in groups], fontsize=8)
    ax.set_xlabel("FID ratio impl / reference − 1 (%), per seed; mean with 90% CI; band = margin")
    ax.set_title("Implementations: equivalence per model", fontsize=10)
    return _save(fig, path)
