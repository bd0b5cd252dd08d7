"""K seeds of one run spec trained as one batched JAX computation (runkit.seed_group's engine).

Its one job: put a leading seed axis on the single-seed engine's state and ``jax.vmap`` that engine's
pure per-iteration function over it. Every leaf of the weights, BN statistics and both Adam states
is ``[K, ...]``; a chunk is one jitted ``lax.scan`` over iterations whose body is the vmapped
``Engine._iteration`` (each seed's own indices and noise, the Adam bias scalars and the data
shared), with the carry donated as in engine.py. Everything per seed -- loading and exporting
states, optimiser states, forwards -- goes through a held one-seed :class:`engine.Engine` (the
"view"): seed k's slices are copied into it, its own method runs, and what it changed is written back.
"""
from __future__ import annotations

import numpy as np

from engine import Engine  # first: it sets XLA's flags before jax is imported

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

from ganbench import runkit  # noqa: E402

_TREES = ("params", "bn_stats", "opt_d", "opt_g")  # the engine's state, as Engine names its attributes


class SeedGroupEngine:
    framework = "jax"
    framework_version = jax.__version__

    def __init__(self, spec: dict, framework_seeds: list[int], device: str | None = None):
        self.spec = spec
        self.seeds = len(framework_seeds)
        if self.seeds < 1:
            raise ValueError("a seed group needs at least one seed")
        # one seed's engine: the pure functions, the canonical layouts, and a scratch slot for seed k
        self._one = Engine(spec, framework_seeds[0], device)
        self.device = self._one.device
        # every leaf [...] -> [K, ...] (zeros until load_state; Adam moments zero)
        for name in _TREES:
            tree = getattr(self._one, name)
            setattr(self, name, self._one._put(jax.tree_util.tree_map(
                lambda x: np.repeat(np.asarray(x)[None], self.seeds, axis=0), tree)))
        self.t_d = self.t_g = 0  # the group's Adam step counts (every seed is at the same step)
        self._chunk = jax.jit(self._chunk_fn, donate_argnums=(0,))
        self._take = jax.jit(lambda tree, k: jax.tree_util.tree_map(lambda x: x[k], tree))  # [K, ...] -> [...]
        self._place = jax.jit(lambda tree, one, k: jax.tree_util.tree_map(lambda g, x: g.at[k].set(x), tree, one),
                              donate_argnums=(0,))

    # ------------------------------------------------------------ seed k <-> the one-seed view
    def _view(self, k: int, *names: str) -> Engine:
        """Copy seed ``k``'s slices of ``names`` into the one-seed engine (and the group's step counts)."""
        k = self._check(k)
        for name in names:
            setattr(self._one, name, self._take(getattr(self, name), k))
        self._one.t_d, self._one.t_g = self.t_d, self.t_g
        return self._one

    def _store(self, k: int, *names: str) -> None:
        """Write the one-seed engine's ``names`` back into seed ``k``'s slices."""
        k = self._check(k)
        for name in names:
            setattr(self, name, self._place(getattr(self, name), getattr(self._one, name), k))

    def _check(self, k: int) -> int:
        if not 0 <= int(k) < self.seeds:
            raise IndexError(f"seed {k} is not in a group of {self.seeds}")
        return int(k)

    # ------------------------------------------------------------ state
    def load_state(self, k: int, state: dict) -> None:
        self._one.load_state(state)  # runkit.check_state, then float32 on the device
        self._store(k, "params", "bn_stats")

    def export_state(self, k: int) -> dict:
        return self._view(k, "params", "bn_stats").export_state()

    def optimizer_state(self, k: int, native: bool = False) -> dict:
        return self._view(k, "opt_d", "opt_g").optimizer_state(native)

    def load_optimizer_state(self, k: int, state: dict) -> None:
        one = self._view(k)  # its params give the moments' names and shapes
        one.load_optimizer_state(state)
        self._store(k, "opt_d", "opt_g")
        self.t_d, self.t_g = one.t_d, one.t_g

    def optimizer_steps(self) -> tuple[int, int]:
        return self.t_d, self.t_g

    # ------------------------------------------------------------ training
    def set_data(self, images: np.ndarray) -> None:
        self._one.set_data(images)

    def _chunk_fn(self, carry, data, idx, noise, scal):
        """carry leaves [K, ...]; idx [K, n, d_steps, B], noise [K, n, n_noise, B, z]; scal [n, updates, 2]."""
        step = jax.vmap(self._one._iteration, in_axes=(0, (0, 0, None), None))  # seeds batched, scal/data shared
        # scan runs over the leading axis: iterations first, [n, K, ...]
        xs = (jnp.swapaxes(idx, 0, 1), jnp.swapaxes(noise, 0, 1), scal)
        carry, out = lax.scan(lambda c, x: step(c, x, data), carry, xs)  # out [n, K, 4]
        return carry, jnp.swapaxes(out, 0, 1)  # -> [K, n, 4]

    def train_chunk(self, idx: np.ndarray, noise: np.ndarray):
        if idx.shape[0] != self.seeds or noise.shape[0] != self.seeds:
            raise ValueError(f"idx and noise must lead with the group's {self.seeds} seeds, "
                             f"got {idx.shape[0]} and {noise.shape[0]}")
        n = idx.shape[1]
        carry = tuple(getattr(self, name) for name in _TREES)
        scal = runkit.chunk_bias_scalars(self.spec, self.t_d, self.t_g, n)
        xs = self._one._put((np.asarray(idx, np.int32), np.asarray(noise, np.float32), scal))
        carry, out = self._chunk(carry, self._one.data, *xs)
        for name, tree in zip(_TREES, carry):
            setattr(self, name, tree)
        self.t_d += n * self.spec["d_steps"]
        self.t_g += n * self.spec["g_steps"]
        return out

    def fetch(self, handle) -> np.ndarray:
        return np.asarray(handle).astype(np.float64)  # [K, n, 4]

    # ------------------------------------------------------------ seed k's networks
    def generate(self, k: int, z: np.ndarray) -> np.ndarray:
        return self.forward_g(k, z, training=False)

    def forward_g(self, k: int, z: np.ndarray, training: bool) -> np.ndarray:
        out = self._view(k, "params", "bn_stats").forward_g(z, training)
        if training:  # seed k's BN statistics advanced; the other seeds' are untouched
            self._store(k, "bn_stats")
        return out

    def forward_d(self, k: int, x: np.ndarray, training: bool) -> np.ndarray:
        out = self._view(k, "params", "bn_stats").forward_d(x, training)
        if training:
            self._store(k, "bn_stats")
        return out

    def synchronize(self) -> None:
        jax.block_until_ready(tuple(getattr(self, name) for name in _TREES))

    def peak_device_mb(self) -> float | None:
        return self._one.peak_device_mb()
