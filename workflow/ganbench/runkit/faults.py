"""Test-only fault injection, outside the training loop: a run that diverges at a chosen step.

``GANBENCH_TEST_NAN_AT_STEP=N`` makes the entry point (runkit.cli.run_entry) train with
:class:`NaNAtStep` around the impl's engine: the d_loss it reports for iteration N is NaN, so the
driver takes its divergence path with an exact step, in any impl, without touching its weights.
(The crash test's hook, ``GANBENCH_TEST_KILL_AT_STEP``, belongs to runkit.checkpoint: it simulates
the crash checkpoints are for.)
"""
from __future__ import annotations

import math
import os

ENV = "GANBENCH_TEST_NAN_AT_STEP"


def nan_step() -> int | None:
    """The step N of ``GANBENCH_TEST_NAN_AT_STEP=N``, or None (not a test run)."""
    env = os.environ.get(ENV, "").strip()
    return int(env) if env else None


class NaNAtStep:
    """Delegates to ``engine``; ``fetch`` reports a NaN d_loss for iteration ``step`` (1-based, counted
    over the iterations this process trains: a resumed run counts from its restart)."""

    def __init__(self, engine, step: int):
        self._engine, self._step, self._done, self._start = engine, step, 0, 0

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def train_chunk(self, idx, noise):
        self._start = self._done
        self._done += len(idx)
        return self._engine.train_chunk(idx, noise)

    def fetch(self, handle):
        metrics = self._engine.fetch(handle)
        if self._start < self._step <= self._done:
            metrics[self._step - self._start - 1, 0] = math.nan
        return metrics


def with_faults(engine_cls):
    """``engine_cls`` itself, or (``GANBENCH_TEST_NAN_AT_STEP`` set) a factory of wrapped engines."""
    step = nan_step()
    if step is None:
        return engine_cls
    return lambda spec, framework_seed: NaNAtStep(engine_cls(spec, framework_seed), step)
