"""Number and verdict formatting for the report page (its Jinja filters and the claim rows' texts)."""
from __future__ import annotations

import math

from jinja2 import UndefinedError

from ganbench.observations import LOG_SCALES


def as_number(x):
    try:
        x = float(x)
    except (TypeError, ValueError, UndefinedError):
        return None
    return x if math.isfinite(x) else None


def fmt(x, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (one decimal from 100 up); '—' if missing."""
    x = as_number(x)
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
    x = as_number(x)
    if x is None:
        return "—"
    return ("+" if x > 0 else "") + fmt(x, digits)


def fmt_p(p) -> str:
    p = as_number(p)
    if p is None:
        return "—"
    if p < 1e-4:
        return f"{p:.1e}"
    return f"{p:.4f}"


def fmt_ci(lo, hi, digits: int = 3) -> str:
    lo, hi = as_number(lo), as_number(hi)
    if lo is None or hi is None:
        return "—"
    return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def fmt_count(x) -> str:
    """A parameter count, e.g. 1,460,225; '—' when unknown."""
    x = as_number(x)
    return "—" if x is None else f"{int(round(x)):,}"


def fmt_pct(x, digits: int = 1) -> str:
    x = as_number(x)
    if x is None:
        return "—"
    return f"{x * 100:+.{digits}f}%"


def effect_display(r: dict) -> tuple[str, str]:
    """(effect, CI) as text on the endpoint's natural scale: % change for log-ratios, SD ratio
    for the seed spread, raw difference otherwise."""
    est, lo, hi = as_number(r.get("estimate")), as_number(r.get("ci_lo")), as_number(r.get("ci_hi"))
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
    lo, hi, conf = as_number(r.get("dec_lo")), as_number(r.get("dec_hi")), as_number(r.get("dec_conf"))
    if lo is None or hi is None or conf is None:
        return ""
    digits = 1 if conf < 0.999 else 2
    return f"{conf * 100:.{digits}f}% CI {interval_text(r.get('scale'), lo, hi)}"
