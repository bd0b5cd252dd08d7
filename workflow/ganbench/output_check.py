"""Check a run's output files against the contract (impls/README.md, section 4) when its entry exits 0.

``launch.py`` calls :func:`check_outputs` right after the impl's entry point returns 0, so an
impl that writes nothing, writes samples of the wrong dtype, shape or count, or logs non-finite
losses under ``status: ok`` fails its own train job with a message naming the impl, the file, what
is wrong and what to fix in the impl, instead of passing training and failing (or being scored
wrongly) later. What is checked:

* every output file exists: ``samples.npz``, ``log.csv``, ``timing.json``, ``status.json``, ``grid.png``;
* ``status.json``: ``{"status": "ok"}`` or ``{"status": "diverged", "step": int, ...}``;
* ``samples.npz``: an array ``images``, uint8, ``[N, image_size, image_size, channels]`` of the spec,
  N = ``eval_samples`` for an ok run and 0 for a diverged one (only the array header is read);
* ``log.csv``: the ``step``, ``d_loss`` and ``g_loss`` columns; every logged loss is finite exactly
  when the status is ok (a diverged run logs the non-finite row at its divergence step);
* ``timing.json``: JSON with every key of :data:`runkit.outputs.TIMING_KEYS`.
"""
from __future__ import annotations

import csv
import json
import math
import sys
import zipfile
from pathlib import Path

import numpy as np

from ganbench.runkit.outputs import TIMING_KEYS

OUTPUT_FILES = ("samples.npz", "log.csv", "timing.json", "status.json", "grid.png")
STATUSES = ("ok", "diverged")
CONTRACT = "impls/README.md, section 4"


class OutputError(RuntimeError):
    """A run's outputs break the contract; the message names impl, file, problem and fix."""


def npz_array_header(path: str | Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of array ``key`` in an .npz, reading only its header.

    Raises KeyError (no such array) or ValueError (not a readable .npz)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n[:-4] if n.endswith(".npy") else n for n in zf.namelist()]
            if key not in names:
                raise KeyError(names)
            with zf.open(f"{key}.npy") as fh:
                version = np.lib.format.read_magic(fh)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _fortran, dtype = read(fh)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(str(exc)) from exc
    return tuple(shape), np.dtype(dtype)


def _status(out: Path) -> tuple[dict | None, list[str]]:
    try:
        status = json.loads((out / "status.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [f"status.json: not valid JSON ({exc}); it must be {{\"status\": \"ok\"}} or "
                      f"{{\"status\": \"diverged\", \"step\": N, \"reason\": \"...\"}}"]
    if not isinstance(status, dict) or status.get("status") not in STATUSES:
        value = status.get("status") if isinstance(status, dict) else status
        return None, [f"status.json: status {value!r} is not one of {list(STATUSES)}"]
    if status["status"] == "diverged" and not (isinstance(status.get("step"), int)
                                               and not isinstance(status.get("step"), bool)):
        return None, [f"status.json: a diverged run must give the integer step it diverged at, got "
                      f"step {status.get('step')!r}"]
    return status, []


def _samples(out: Path, spec: dict, status: dict | None) -> list[str]:
    size, channels, n_eval = spec["image_size"], spec["channels"], spec["eval_samples"]
    try:
        shape, dtype = npz_array_header(out / "samples.npz", "images")
    except KeyError as exc:
        return [f"samples.npz: has no array 'images' (it holds {exc.args[0]}); write it with "
                f"np.savez(path, images=...) or runkit.outputs.write_samples"]
    except ValueError as exc:
        return [f"samples.npz: cannot be read as an .npz of numpy arrays ({exc})"]
    problems = []
    if dtype != np.uint8:
        problems.append(f"samples.npz: images are {dtype}, must be uint8 (0..255; runkit.to_uint8 converts "
                        f"the generator's output)")
    want = [shape[0] if shape else "N", size, size, channels]
    if len(shape) != 4 or list(shape[1:]) != want[1:]:
        problems.append(f"samples.npz: images have shape {list(shape)}, must be {want} (N, image_size, "
                        f"image_size, channels of the spec: NHWC)")
    elif status is not None:
        n = shape[0]
        if status["status"] == "ok" and n != n_eval:
            problems.append(f"samples.npz: holds {n} images, must hold eval_samples = {n_eval}")
        elif status["status"] == "diverged" and n != 0:
            problems.append(f"samples.npz: holds {n} images, but a diverged run writes none "
                            f"([0, {size}, {size}, {channels}])")
    return problems


def _log(out: Path, status: dict | None) -> list[str]:
    try:
        with open(out / "log.csv", newline="") as fh:
            table = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [f"log.csv: cannot be read as CSV ({exc})"]
    header = table[0] if table else []
    rows = [dict(zip(header, row)) for row in table[1:]]
    missing = [c for c in ("step", "d_loss", "g_loss") if c not in header]
    if missing:
        return [f"log.csv: lacks column(s) {', '.join(missing)} (header: {','.join(header)})"]
    first_bad = None
    for row in rows:
        for name in ("d_loss", "g_loss"):
            try:
                value = float(row.get(name, ""))
            except (TypeError, ValueError):
                return [f"log.csv: {name} = {row.get(name)!r} at step {row.get('step')} is not a number"]
            if not math.isfinite(value) and first_bad is None:
                first_bad = (row["step"], name, value)
    if status is None:
        return []
    if status["status"] == "ok" and first_bad is not None:
        step, name, value = first_bad
        return [f"log.csv: {name} is {value} at step {step}, but status.json says ok; a run whose losses turn "
                f"non-finite must stop at that step and write status.json {{\"status\": \"diverged\", "
                f"\"step\": {step}, ...}} with no samples (runkit.run_training does this for engines it drives)"]
    if status["status"] == "diverged" and first_bad is None:
        return [f"status.json says diverged at step {status['step']}, but every d_loss and g_loss in log.csv "
                f"is finite; log the non-finite losses of the divergence step as the last row, or write "
                f"status ok if the run did not diverge"]
    return []


def _timing(out: Path) -> list[str]:
    try:
        timing = json.loads((out / "timing.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"timing.json: not valid JSON ({exc})"]
    if not isinstance(timing, dict):
        return ["timing.json: must be a JSON object"]
    missing = [k for k in TIMING_KEYS if k not in timing]
    if missing:
        return [f"timing.json: lacks key(s) {', '.join(missing)} (runkit.outputs.write_timing writes them all)"]
    return []


def find_problems(out: str | Path, spec: dict) -> list[str]:
    """Every contract problem of the outputs in ``out`` for the (validated) ``spec``; [] = fine."""
    out = Path(out)
    missing = [name for name in OUTPUT_FILES if not (out / name).is_file()]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return [f"{', '.join(missing)} {verb} missing in {out}"]
    status, problems = _status(out)
    problems += _samples(out, spec, status)
    problems += _log(out, status)
    problems += _timing(out)
    return problems


def check_outputs(out: str | Path, spec: dict, entry: str | Path | None = None) -> None:
    """Raise :class:`OutputError` when the outputs in ``out`` break the contract."""
    problems = find_problems(out, spec)
    if not problems:
        return
    impl = spec.get("impl") or (Path(entry).parent.name if entry else "?")
    where = f" ({entry})" if entry else ""
    lines = [f"impl {impl!r}: its entry point{where} exited 0, which promises complete outputs, but the "
             f"outputs of run {spec.get('run_id', '?')} break the contract ({CONTRACT}):"]
    lines += [f"  - {p}" for p in problems]
    lines.append(f"Fix the impl's entry point so that it writes these files as the contract says (or exits "
                 f"non-zero when it cannot), then re-run; retraining with the impl unchanged gives the same outputs.")
    raise OutputError("\n".join(lines))


EXIT_BROKEN_OUTPUTS = 4  # launch.py's exit status when an entry exited 0 with outputs that break the contract


def check_after_exit_0(out: str | Path, spec: dict, entry: str | Path) -> int:
    """launch.py's hook: 0 when the outputs are complete, else print why and return
    :data:`EXIT_BROKEN_OUTPUTS` (so the train job fails with the message)."""
    from ganbench.runkit.spec import SpecError, validate_spec

    try:
        spec = validate_spec(spec, source=str(Path(out) / "spec.json"))
        check_outputs(out, spec, entry)
    except (OutputError, SpecError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BROKEN_OUTPUTS
    return 0
