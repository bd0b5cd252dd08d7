"""Figures of the report (matplotlib Agg + seaborn). Every function writes its PNG even
when the data are missing (a labelled placeholder), so the fixed file names always exist.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ganbench.observations import LOG_SCALES, metric_label  # noqa: E402
from ganbench.run_files import read_curve, read_log  # noqa: E402,F401  (re-exported for the figure modules)

DPI = 110
VERDICT_COLOURS = {"reproduced": "#1b7837", "weaker than claimed": "#e08214", "not reproduced": "#b2182b",
                   "inconclusive": "#7f7f7f"}
LOG_SERIES = (("d_loss", "D loss"), ("g_loss", "G loss"), ("d_real", "D(x)"), ("d_fake", "D(G(z))"))

sns.set_theme(style="whitegrid", context="notebook")
matplotlib.rcParams["axes.formatter.useoffset"] = False  # no "1e-7+6.98" offsets on near-constant axes


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def placeholder(path: Path, title: str, message: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.45, message, ha="center", va="center", wrap=True, fontsize=11, color="#555555")
    return _save(fig, path)


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


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
    right = ax.secondary_yaxis("right")
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
        ax.set_title(f"{g['group']}: {g.get('verdict', '')}", fontsize=9)
    fig.suptitle(f"{result['id']}: {result['title']} (one line per seed)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


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
        width = 0.6 / max(1, len(impls))
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


# ---------------------------------------------------------------------------
# Learning curves (metrics.json "curve") and the guard
# ---------------------------------------------------------------------------

CURVE_COLUMNS = ("step", "fraction", "n", "fid", "classes_covered", "recall", "coverage", "precision", "is_mean")


def _int_or(x, default: int) -> int:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return default
    return int(x) if math.isfinite(x) and x > 0 else default


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
    deep = sns.color_palette("deep")
    second, second_label, second_range = second_panel(min_classes)
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 2.9 * len(panels) + 0.6), squeeze=False)
    for p, (ax_fid, ax_cls) in zip(panels, axes):
        rows = p["rows"]
        impls = sorted(rows["impl"].unique())
        seeds = sorted(rows["seed"].dropna().unique())
        xpos = {s: i for i, s in enumerate(seeds)}
        fids = pd.to_numeric(rows["fid"], errors="coerce")
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
    fig.suptitle(f"{title} (x = diverged; shaded = fails the rule)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


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

