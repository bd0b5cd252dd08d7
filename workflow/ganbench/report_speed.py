"""The report's speed section: the exclusive benchmark's speed.csv, else the training jobs' timing."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ganbench.observations import REFERENCE_IMPLS


SPEED_COLUMNS = ("impl", "shape", "model", "batch_size", "d_steps", "g_steps", "steps", "repeats", "median_step_ms",
                 "images_per_s", "first_step_s", "setup_s", "peak_host_mb", "peak_device_mb", "device", "framework",
                 "framework_version", "compile", "threads", "ratio_to_fastest")


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
