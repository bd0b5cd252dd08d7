"""The report's "samples as training goes on" figure: per observation, one row per arm (the run of
its lowest seed that did not fail), one small grid of its curve samples (curve/samples_<step>.npz,
the same noise at every point) per learning-curve point, against images seen."""
from __future__ import annotations

import math
import textwrap
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ganbench.figure_style import _int_or, _save, placeholder, plt
from ganbench.run_files import read_spec
from ganbench.runkit.outputs import make_grid

PROGRESS_IMAGES = 16  # the first 16 images of each npz: a 4 x 4 grid
PROGRESS_CELL_IN = 1.1  # inches per grid (square)
PROGRESS_GAP_IN = 0.2  # between grids
PROGRESS_LABEL_IN = 2.3  # the arm label column
PROGRESS_TITLE_IN = 0.35  # a grid's two-line title
PROGRESS_TEXT_ROW_IN = 0.45  # a row that says why it has no grids
PROGRESS_HEADER_IN = 0.4  # the panel's title above its block
PROGRESS_TOP_IN = 0.55  # the figure's title


class ProgressRow(NamedTuple):
    """One row of the progress figure: the run shown for an arm and its sample files per column.
    ``steps`` is empty when the run has no curve samples; ``seed`` is None when no run of the
    arm finished. ``final``: the last column is samples.npz (no curve point at the last step)."""

    title: str
    label: str
    seed: int | None
    steps: list[int]
    files: list[Path]
    final: bool
    impl: str
    status: str
    images_per_step: int


def curve_sample_steps(run_dir: Path | None) -> list[int]:
    """The steps of a run's curve/samples_<step>.npz, in order ([] when there are none)."""
    if run_dir is None:
        return []
    steps = []
    for p in (Path(run_dir) / "curve").glob("samples_*.npz"):
        tail = p.stem[len("samples_"):]
        if tail.isdigit():
            steps.append(int(tail))
    return sorted(steps)


def _from_spec_or_row(spec: dict, row: pd.Series, key: str, default: int) -> int:
    return _int_or(spec.get(key), _int_or(row.get(key), default))


def _progress_run(rows: pd.DataFrame, resolve) -> tuple[pd.Series, Path | None, list[int]] | None:
    """(summary row, run folder, curve sample steps) of the arm's lowest seed (then impl) that did
    not fail and has curve samples; else of its lowest seed that did not fail, with no steps;
    None when every run failed (or the arm has none)."""
    if rows is None or rows.empty:
        return None
    first = None
    for _, row in rows[rows["status"] != "failed"].sort_values(["seed", "impl"]).iterrows():
        run_dir = resolve(row.get("run_dir", ""))
        steps = curve_sample_steps(run_dir)
        if steps:
            return row, run_dir, steps
        if first is None:
            first = (row, run_dir, [])
    return first


def _progress_row(title: str, label: str, rows: pd.DataFrame, resolve) -> ProgressRow:
    chosen = _progress_run(rows, resolve)
    if chosen is None:
        return ProgressRow(title, label, None, [], [], False, "", "failed", 1)
    row, run_dir, steps = chosen
    spec = read_spec(run_dir)
    per_step = _from_spec_or_row(spec, row, "batch_size", 1) * _from_spec_or_row(spec, row, "d_steps", 1)
    last = _from_spec_or_row(spec, row, "steps", 0)
    files = [Path(run_dir) / "curve" / f"samples_{s}.npz" for s in steps]
    end_samples = Path(run_dir) / "samples.npz" if run_dir is not None else None
    final = bool(steps) and row.get("status") == "ok" and last > steps[-1] and end_samples.is_file()
    if final:
        steps, files = [*steps, last], [*files, end_samples]
    return ProgressRow(title, label, int(row["seed"]), steps, files, final, str(row.get("impl", "")),
                       str(row.get("status", "")), per_step)


def progress_cells(panels: list[dict], resolve) -> list[ProgressRow]:
    """The rows of the progress figure, per panel one per arm in the panel's order (control,
    treatment, references): the run of the arm's lowest seed that did not fail (the first with
    curve samples) and the steps of its grids, the final samples.npz last only when no curve
    point is at the run's last step. ``panels`` as for arm_loss_figure."""
    return [_progress_row(panel["title"], label, rows, resolve)
            for panel in panels for label, rows, _style in panel["series"]]


def sample_grid(path: Path, n: int = PROGRESS_IMAGES) -> np.ndarray | None:
    """A square mosaic of the first ``n`` images of an npz's ``images`` (uint8 NHWC); None when
    the file cannot be read or holds no images."""
    try:
        with np.load(path) as data:
            images = np.asarray(data["images"][:n])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or not len(images):
        return None
    side = math.isqrt(len(images))
    return make_grid(images[: side * side])


def count_label(n: float) -> str:
    """A count in a few characters: 640 -> '640', 6400 -> '6.4k', 1_280_000 -> '1.28M'."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.3g}"


def _draw_grid_cell(ax, path: Path, step: int, images_seen: int, final: bool) -> None:
    grid = sample_grid(path)
    if grid is None:
        ax.text(0.5, 0.5, "unreadable\nor empty", ha="center", va="center", fontsize=7, color="#b2182b")
    elif grid.shape[-1] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    head = f"step {step}, final*" if final else f"step {step}"
    ax.set_title(f"{head}\n{count_label(images_seen)} images seen", fontsize=7, pad=2)


def _axes_at(fig, height: float, x: float, y: float, w: float, h: float):
    """Axes at x inches from the left and y inches from the top, w x h inches."""
    width = fig.get_figwidth()
    return fig.add_axes((x / width, 1 - (y + h) / height, w / width, h / height))


def _progress_row_height(row: ProgressRow) -> float:
    return PROGRESS_TITLE_IN + PROGRESS_CELL_IN + PROGRESS_GAP_IN if row.steps else PROGRESS_TEXT_ROW_IN


def _draw_progress_row(fig, height: float, y: float, row: ProgressRow) -> None:
    """One arm's row, its top y inches below the figure's top: the label, then its grids or why none."""
    body = _progress_row_height(row) - (PROGRESS_GAP_IN if row.steps else 0)
    label_ax = _axes_at(fig, height, 0, y, PROGRESS_LABEL_IN, body)
    label_ax.axis("off")
    run = "" if row.seed is None else f"seed {row.seed}, {row.impl}" + (
        f", {row.status}" if row.status != "ok" else "")
    label_ax.text(0.0, 0.5 * PROGRESS_CELL_IN / body if row.steps else 0.5,
                  textwrap.fill(row.label, 30) + (f"\n({run})" if run else ""), ha="left", va="center", fontsize=8,
                  transform=label_ax.transAxes)
    if not row.steps:
        label_ax.text(1.0, 0.5, "no run of this arm finished" if row.seed is None
                      else "no curve samples (curve/samples_<step>.npz) in this run",
                      ha="left", va="center", fontsize=8, color="#555555", transform=label_ax.transAxes)
        return
    for j, (step, path) in enumerate(zip(row.steps, row.files)):
        ax = _axes_at(fig, height, PROGRESS_LABEL_IN + j * (PROGRESS_CELL_IN + PROGRESS_GAP_IN),
                      y + PROGRESS_TITLE_IN, PROGRESS_CELL_IN, PROGRESS_CELL_IN)
        ax.set_xticks([])
        ax.set_yticks([])
        _draw_grid_cell(ax, path, step, step * row.images_per_step, row.final and j == len(row.steps) - 1)


def progress_grids_figure(panels: list[dict], resolve, path: Path, title: str) -> Path:
    """Samples as training goes on: per panel (recipe / model) a block with one row per arm, the
    run of its lowest seed that did not fail; one column per curve sample step (same noise at
    every step), a 4 x 4 grid of its first 16 images titled with the step and the images seen by
    D (step x batch_size x d_steps). ``panels`` as for arm_loss_figure."""
    rows = progress_cells(panels, resolve)
    if not any(r.steps for r in rows):
        return placeholder(path, title, "no curve samples (curve/samples_<step>.npz) for these arms")
    ncols = max(len(r.steps) for r in rows)
    blocks = [(t, [r for r in rows if r.title == t]) for t in dict.fromkeys(r.title for r in rows)]
    height = PROGRESS_TOP_IN + sum(PROGRESS_HEADER_IN + sum(map(_progress_row_height, b)) for _, b in blocks)
    fig = plt.figure(figsize=(PROGRESS_LABEL_IN + (PROGRESS_CELL_IN + PROGRESS_GAP_IN) * ncols, height))
    note = "; * final = samples.npz (other noise)" if any(r.final for r in rows) else ""
    fig.suptitle(f"{title}\n4 × 4 grids of the first {PROGRESS_IMAGES} curve samples, the same noise at every "
                 f"step{note}", fontsize=10, y=1 - 0.05 / height, va="top")
    y = PROGRESS_TOP_IN
    for panel_title, block in blocks:
        fig.text(0.0, 1 - (y + PROGRESS_HEADER_IN / 2) / height, panel_title, ha="left", va="center", fontsize=9,
                 fontweight="bold")
        y += PROGRESS_HEADER_IN
        for row in block:
            _draw_progress_row(fig, height, y, row)
            y += _progress_row_height(row)
    return _save(fig, path)
