"""The run's random streams: every random number of a run derives from its seed.

``np.random.SeedSequence(seed).spawn(len(STREAM_NAMES))`` gives one child per
name, in the fixed order of :data:`STREAM_NAMES`; each becomes an independent
``np.random.Generator(PCG64)``. New streams are only ever appended to the list,
so adding one never changes the numbers an existing stream produces.

* ``init``      initial weights of G then D (canonical order, see params.py)
* ``batches``   the per-epoch permutations that pick real minibatches
* ``noise``     every training noise batch, drawn iteration by iteration
* ``eval``      the noise behind samples.npz
* ``grid``      the fixed noise behind grid.png / grid_<step>.png
* ``framework`` one integer to seed the framework (torch.manual_seed / tf.random.set_seed)
* ``probe``     which training and test images form the fixed probe batches of log.csv
* ``curve``     the fixed noise behind the learning-curve samples (curve/samples_<step>.npz)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STREAM_NAMES = ("init", "batches", "noise", "eval", "grid", "framework", "probe", "curve")


@dataclass
class RunStreams:
    seed: int
    init: np.random.Generator
    batches: np.random.Generator
    noise: np.random.Generator
    eval: np.random.Generator
    grid: np.random.Generator
    framework: np.random.Generator
    probe: np.random.Generator
    curve: np.random.Generator

    def framework_seed(self) -> int:
        """A 31-bit seed for the framework's own RNG, derived from the run seed."""
        return int(np.random.Generator(np.random.PCG64(self._framework_ss)).integers(0, 2**31 - 1))


def make_streams(seed: int) -> RunStreams:
    """Independent, reproducible generators for one run seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    children = np.random.SeedSequence(int(seed)).spawn(len(STREAM_NAMES))
    gens = {name: np.random.Generator(np.random.PCG64(ss)) for name, ss in zip(STREAM_NAMES, children)}
    streams = RunStreams(seed=int(seed), **gens)
    streams._framework_ss = children[STREAM_NAMES.index("framework")]
    return streams
