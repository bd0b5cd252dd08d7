"""Measured step times: the logs of ``impls/benchmark_step_time.py`` kept in docs/speed/, read
back by network size, impl and mode, for the study-time estimate (ganbench.study_estimate).

A log holds, for each timed shape, a header line and one line per timed run::

    # machine: AMD EPYC 7B13 (2 cores); device cpu; threads 1; 2026-12-06
    quick basic_tutorial-basic (basic h128 b64 d1g2) compile=False
    [1/2] pytorch basic_tutorial-basic: 3.269 ms/step

The size label in parentheses (:func:`size_label`) says what the time depends on: the network,
the batch and the D:G schedule, not the recipe's name, so a recipe whose model changed is not
matched with the old model's time. Logs without a ``# machine:`` line are CPU logs of the
machine docs/speed/README.md describes.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

HEADER = re.compile(r"^(?P<config>\S+) (?P<shape>\S+) \((?P<size>[^)]*)\) compile=(?P<compile>True|False)$")
RESULT = re.compile(r"^\[\d+/\d+\] (?P<impl>\S+) (?P<shape>\S+): (?P<ms>[0-9.]+) ms/step$")
MACHINE = re.compile(r"^# machine: (?P<machine>.*?); device (?P<device>cpu|cuda)\b")
UNNAMED_MACHINE = "the machine of docs/speed/README.md"


def size_label(spec: dict) -> str:
    """What a training iteration's time depends on, e.g. ``dcgan 32px w16 k5 b64 d1g2``."""
    if spec["model"] == "basic":
        return f"basic h{spec['arch']['hidden']} b{spec['batch_size']} d{spec['d_steps']}g{spec['g_steps']}"
    a = spec["arch"]
    bn = "" if a.get("batch_norm", True) else " nobn"
    wide_g = f" gx{a['g_width_mult']}" if a.get("g_width_mult", 1) != 1 else ""  # G k times D's widths
    return (f"dcgan {spec['image_size']}px w{a['base_width']} k{a['kernel_size']} b{spec['batch_size']} "
            f"d{spec['d_steps']}g{spec['g_steps']}{bn}{wide_g}")


@dataclass(frozen=True)
class Measured:
    ms_per_step: float  # median over the log's timed runs
    machine: str
    source: str  # the log's file name


Key = tuple[str, str, str, bool]  # (device, size label, impl, compile)


def read_log(path: Path) -> dict[Key, Measured]:
    """One log's step times by (device, size, impl, compile)."""
    machine, device = UNNAMED_MACHINE, "cpu"
    times: dict[Key, list[float]] = {}
    machine_of: dict[Key, str] = {}
    header = None
    for line in Path(path).read_text().splitlines():
        if m := MACHINE.match(line):  # holds for the lines after it
            machine, device = m["machine"], m["device"]
        elif m := HEADER.match(line):
            header = m
        elif (m := RESULT.match(line)) and header is not None and m["shape"] == header["shape"]:
            key = (device, header["size"], m["impl"], header["compile"] == "True")
            times.setdefault(key, []).append(float(m["ms"]))
            machine_of[key] = machine
    return {key: Measured(statistics.median(ms), machine_of[key], Path(path).name) for key, ms in times.items()}


def read_logs(folder: Path) -> dict[Key, Measured]:
    """Every log's step times in ``folder``; where two logs time the same thing, the later file
    name (the later date) wins."""
    out: dict[Key, Measured] = {}
    for path in sorted(Path(folder).glob("*.log")):
        out.update(read_log(path))
    return out
