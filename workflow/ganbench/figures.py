"""The report's figures in one namespace: report.py and report_panels.py call
``figures.<name>``. Each figure lives in the module of its job (every function there writes its
PNG even when the data are missing: a labelled placeholder, so the fixed file names always exist):

* ganbench.figure_style: backend, theme, verdict colours, saving, placeholders;
* ganbench.verdict_figures: effects and verdicts (forest plot, per-claim panels, per condition,
  implementations' equivalence);
* ganbench.loss_figures: losses and D outputs from log.csv;
* ganbench.curve_figures: learning curves (metrics.json "curve") and the guard's end scores;
* ganbench.timing_figures: step time and throughput;
* ganbench.quality_figures and ganbench.progress_figure: precision-recall, class histograms,
  FID against time, samples as training goes on.
"""
from __future__ import annotations

from ganbench.curve_figures import (CURVE_COLUMNS, CURVE_NOTE, collect_curves, curve_bands, guard_figure,
                                    learning_curves_figure, second_panel)
from ganbench.figure_style import DPI, VERDICT_COLOURS, placeholder
from ganbench.loss_figures import ARM_COLOURS, LOG_SERIES, arm_loss_figure, collect_logs, loss_curves_figure
from ganbench.timing_figures import benchmark_figure, timing_figure
from ganbench.verdict_figures import (fid_by_condition_figure, frameworks_figure, observation_figure,
                                      observations_figure)

__all__ = [
    "ARM_COLOURS", "CURVE_COLUMNS", "CURVE_NOTE", "DPI", "LOG_SERIES", "VERDICT_COLOURS", "arm_loss_figure",
    "benchmark_figure", "collect_curves", "collect_logs", "curve_bands", "fid_by_condition_figure",
    "frameworks_figure", "guard_figure", "learning_curves_figure", "loss_curves_figure", "observation_figure",
    "observations_figure", "placeholder", "second_panel", "timing_figure",
]
