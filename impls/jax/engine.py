"""JAX engine for runkit's training driver (see ganbench.runkit.loop for the interface).

Plain JAX: the networks are pure functions over dicts of arrays (models.py), Adam is a pure
function over pytrees (adam.py), and one training iteration -- ``d_steps`` D steps then
``g_steps`` G steps (impls/README.md section 6), forwards, gradients, losses, both Adam updates
and the BN running statistics -- is one traced function. A chunk of iterations is one
``jax.jit``-compiled ``lax.scan`` over that iteration (one executable per chunk length, cached by
jit); the carried state (weights, BN statistics, both optimisers' moments) is donated, so it is
updated in place. The uint8 training set lives on the device; a chunk's indices, noise and Adam
bias-correction scalars arrive in one transfer each, and the per-iteration metrics stay on the
device until ``fetch``. All randomness is drawn on the host by runkit, so ``framework_seed`` is
unused. ``spec['compile']`` changes nothing: everything already runs through XLA.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from ganbench import runkit

if "torch" in sys.modules or "tensorflow" in sys.modules:  # one framework per process
    raise RuntimeError("impls/jax must not share a process with torch or tensorflow")


def _configure_xla(threads: int | None) -> None:
    """XLA reads XLA_FLAGS once, when jax is first imported: set them before that import.

    * threads (GANBENCH_THREADS, exported from the spec by ganbench.impl_entry): XLA:CPU has no
      "N threads" knob, so 1 turns off Eigen's thread pool and any other count keeps XLA's default;
    * determinism: XLA:CPU is deterministic as it is (fixed reduction order, no autotuning); on a
      GPU, GANBENCH_DETERMINISTIC=1 adds --xla_gpu_deterministic_ops=true;
    * precision: float32, x64 off (the default); matmuls and convolutions at ``highest`` precision
      (no TF32 on a GPU), set below through ``jax.config``.
    """
    if "jax" in sys.modules:  # too late to change XLA's flags; keep what the process has
        return
    flags = os.environ.get("XLA_FLAGS", "").split()
    if threads == 1 and not any(f.startswith("--xla_cpu_multi_thread_eigen") for f in flags):
        flags.append("--xla_cpu_multi_thread_eigen=false")
    if runkit.deterministic_requested("cuda") and not any(f.startswith("--xla_gpu_deterministic_ops") for f in flags):
        flags.append("--xla_gpu_deterministic_ops=true")
    if flags:
        os.environ["XLA_FLAGS"] = " ".join(flags)
    os.environ.setdefault("JAX_ENABLE_X64", "0")


_configure_xla(runkit.thread_count({}))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

import adam  # noqa: E402
from models import build  # noqa: E402

jax.config.update("jax_enable_x64", False)
jax.config.update("jax_default_matmul_precision", "highest")  # full float32 (no TF32 / bf16 passes)


def _resolve_device(name: str):
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:  # no GPU backend at all
        gpus = []
    kind = runkit.resolve_device(name, bool(gpus), "JAX")
    return gpus[0] if kind == "cuda" else jax.devices("cpu")[0]


def softplus(x):
    return jax.nn.softplus(x)


class Engine:
    framework = "jax"
    framework_version = jax.__version__

    def __init__(self, spec: dict, framework_seed: int, device: str | None = None):
        self.spec = spec
        self._loss_scale = runkit.loss_scale(spec)
        self.dev = _resolve_device(device or spec["device"])
        self.device = "cpu" if self.dev.platform == "cpu" else f"cuda ({self.dev.device_kind})"
        self._specs = runkit.param_specs(spec)
        self._nets = {"G": [p.name for p in self._specs if p.net == "G" and p.trainable],
                      "D": [p.name for p in self._specs if p.net == "D" and p.trainable]}
        self._bn_stat_names = [p.name for p in self._specs if not p.trainable]
        self.g_apply, self.d_apply = build(spec)
        zeros = {p.name: np.zeros(p.shape, np.float32) for p in self._specs}
        self._set_state(zeros)
        # freeze_d false (the source's bug): G's optimizer owns G's *and* D's variables, with its own
        # moments for D's and its own step count
        self._g_owns = ("G",) if spec["freeze_d"] else ("G", "D")
        self.opt_d = self._put(adam.init(self.params["D"]))
        self.opt_g = self._put(adam.init({net: self.params[net] for net in self._g_owns}))
        self.t_d = self.t_g = 0
        mul, add = runkit.SCALE[runkit.output_kind(spec)]
        self._mul, self._add = float(mul), float(add)
        self.data = None
        self._chunk = jax.jit(self._chunk_fn, donate_argnums=(0,))
        self._g_fwd = jax.jit(self.g_apply, static_argnums=(3,))
        self._d_fwd = jax.jit(self.d_apply, static_argnums=(3,))

    def _put(self, tree):
        return jax.device_put(tree, self.dev)

    def _set_state(self, state: dict) -> None:
        self.params = self._put({net: {n: np.asarray(state[n], np.float32) for n in names}
                                 for net, names in self._nets.items()})
        self.bn_stats = self._put({n: np.asarray(state[n], np.float32) for n in self._bn_stat_names})

    # ------------------------------------------------------------ state
    def load_state(self, state: dict) -> None:
        runkit.check_state(self.spec, state)
        self._set_state(state)

    def export_state(self) -> dict:
        flat = {**self.params["G"], **self.params["D"], **self.bn_stats}
        return {p.name: np.array(flat[p.name], np.float32) for p in self._specs}

    def param_count(self) -> int:
        return int(sum(x.size for x in jax.tree_util.tree_leaves(self.params)))

    # ------------------------------------------------------------ data
    def set_data(self, images: np.ndarray) -> None:
        self.data = jax.device_put(np.ascontiguousarray(images), self.dev)

    # ------------------------------------------------------------ training (pure functions)
    # Losses from logits as softplus terms, BCE(x, y) = y softplus(-x) + (1 - y) softplus(x), as in both
    # reference impls (their gradients never form 1 - sigmoid(x) by cancellation); loss_form
    # "probability": the sources' log(D(x)) with D(x) = sigmoid(x); loss_reduction "sum": batch_size x the mean.
    def _neg_log_d(self, x):  # -log D(x)
        if self.spec["loss_form"] == "probability":
            return -jnp.log(jax.nn.sigmoid(x))
        return softplus(-x)

    def _neg_log_1m_d(self, x):  # -log(1 - D(x))
        if self.spec["loss_form"] == "probability":
            return -jnp.log(1.0 - jax.nn.sigmoid(x))
        return softplus(x)

    def _d_loss(self, logits_real, logits_fake):
        """(loss to minimise, its batch mean for the log)."""
        s = self.spec["label_smoothing"]
        real = s * self._neg_log_d(logits_real)
        if s != 1.0:
            real = real + (1.0 - s) * self._neg_log_1m_d(logits_real)
        mean = jnp.mean(real) + jnp.mean(self._neg_log_1m_d(logits_fake))
        return mean * self._loss_scale, mean

    def _g_loss(self, logits_fake):
        if self.spec["g_loss"] == "nonsaturating":  # -log D(G(z))
            mean = jnp.mean(self._neg_log_d(logits_fake))
        else:  # minimax: log(1 - D(G(z)))
            mean = -jnp.mean(self._neg_log_1m_d(logits_fake))
        return mean * self._loss_scale, mean

    def _real(self, data, idx):
        return jnp.take(data, idx, axis=0).astype(jnp.float32) * self._mul + self._add

    def _iteration(self, carry, xs, data):
        """One iteration: (params, bn_stats, opt_d, opt_g) -> same, metrics [4] (d_loss, g_loss, mean
        D(x), mean D(G(z))). ``scal[u]`` = (-lr/bc1, sqrt(bc2)) of the u-th Adam update (D's, then G's)."""
        s = self.spec
        params, bn_stats, opt_d, opt_g = carry
        idx, noise, scal = xs
        nd = s["d_steps"]
        hd, hg = s["optim"]["d"], s["optim"]["g"]
        for j in range(nd):
            x = self._real(data, idx[j])
            z = noise[runkit.d_noise_index(s, j)]
            fake, bn_stats = self.g_apply(params["G"], bn_stats, z, True)  # train-mode BN: G's statistics advance
            fake = lax.stop_gradient(fake)

            def d_objective(dp, bn_stats):
                logits_real, bn_stats = self.d_apply(dp, bn_stats, x, True)
                logits_fake, bn_stats = self.d_apply(dp, bn_stats, fake, True)
                loss, mean = self._d_loss(logits_real, logits_fake)
                return loss, (bn_stats, logits_real, logits_fake, mean)

            (_, (bn_stats, logits_real, logits_fake, loss_d)), grads = jax.value_and_grad(d_objective, has_aux=True)(params["D"], bn_stats)
            d_new, opt_d = adam.update(params["D"], grads, opt_d, hd, scal[j, 0], scal[j, 1])
            params = {**params, "D": d_new}
        for k in range(s["g_steps"]):
            z = noise[runkit.g_noise_index(s, k)]

            def g_objective(owned, params, bn_stats):
                nets = {**params, **owned}  # D's weights are G's optimizer's only when it owns them
                fake, bn_stats = self.g_apply(nets["G"], bn_stats, z, True)
                logits, bn_stats = self.d_apply(nets["D"], bn_stats, fake, True)
                loss, mean = self._g_loss(logits)
                return loss, (bn_stats, mean)

            owned = {net: params[net] for net in self._g_owns}
            (_, (bn_stats, loss_g)), grads = jax.value_and_grad(g_objective, has_aux=True)(owned, params, bn_stats)
            owned, opt_g = adam.update(owned, grads, opt_g, hg, scal[nd + k, 0], scal[nd + k, 1])
            params = {**params, **owned}
        out = jnp.stack([loss_d, loss_g, jnp.mean(jax.nn.sigmoid(logits_real)), jnp.mean(jax.nn.sigmoid(logits_fake))])
        return (params, bn_stats, opt_d, opt_g), out

    def _chunk_fn(self, carry, data, idx, noise, scal):
        return lax.scan(lambda c, xs: self._iteration(c, xs, data), carry, (idx, noise, scal))

    def train_chunk(self, idx: np.ndarray, noise: np.ndarray):
        k = idx.shape[0]
        carry = (self.params, self.bn_stats, self.opt_d, self.opt_g)
        scal = runkit.chunk_bias_scalars(self.spec, self.t_d, self.t_g, k)
        xs = self._put((np.asarray(idx, np.int32), np.asarray(noise, np.float32), scal))
        (self.params, self.bn_stats, self.opt_d, self.opt_g), out = self._chunk(carry, self.data, *xs)
        self.t_d += k * self.spec["d_steps"]
        self.t_g += k * self.spec["g_steps"]
        return out

    def fetch(self, handle) -> np.ndarray:
        return np.asarray(handle).astype(np.float64)

    # ------------------------------------------------------------ inference / twins
    def generate(self, z: np.ndarray) -> np.ndarray:
        return self.forward_g(z, training=False)

    def forward_g(self, z: np.ndarray, training: bool) -> np.ndarray:
        out, bn_stats = self._g_fwd(self.params["G"], self.bn_stats, self._put(np.asarray(z, np.float32)), bool(training))
        if training:
            self.bn_stats = bn_stats
        return np.asarray(out)

    def forward_d(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Logits for model-range float inputs in canonical layout."""
        out, bn_stats = self._d_fwd(self.params["D"], self.bn_stats, self._put(np.asarray(x, np.float32)), bool(training))
        if training:
            self.bn_stats = bn_stats
        return np.asarray(out)

    def optimizer_steps(self) -> tuple[int, int]:
        """(Adam steps taken by D's optimizer, by G's optimizer)."""
        return self.t_d, self.t_g

    def optimizer_state(self, native: bool = False) -> dict:
        """Adam state in canonical names/layouts: ``{opt}/step``, ``{opt}/m/<name>``, ``{opt}/v/<name>``
        for opt in d, g (only the variables the optimizer owns, once it has stepped). The moments are
        PyTorch's, so ``native`` changes nothing."""
        out = {}
        for tag, st, t in (("d", {"D": self.opt_d}, self.t_d), ("g", self.opt_g, self.t_g)):
            if tag == "d":
                st = {"m": {"D": self.opt_d["m"]}, "v": {"D": self.opt_d["v"]}}
            if t:
                for w in ("m", "v"):
                    for net_vals in st[w].values():
                        for name, val in net_vals.items():
                            out[f"{tag}/{w}/{name}"] = np.array(val, np.float32)
            out[f"{tag}/step"] = np.array(t)
        return out

    def load_optimizer_state(self, state: dict) -> None:
        """Inverse of ``optimizer_state(native=True)``: both optimizers continue bit-exactly (checkpoints)."""
        def moments(tag, tree):
            return self._put({w: jax.tree_util.tree_map_with_path(
                lambda path, x: np.asarray(state.get(f"{tag}/{w}/{path[-1].key}", np.zeros(x.shape)), np.float32),
                tree) for w in ("m", "v")})
        self.opt_d = moments("d", self.params["D"])
        self.opt_g = moments("g", {net: self.params[net] for net in self._g_owns})
        self.t_d, self.t_g = int(state["d/step"]), int(state["g/step"])

    def synchronize(self) -> None:
        jax.block_until_ready((self.params, self.bn_stats))

    def peak_device_mb(self):
        if self.dev.platform == "cpu":
            return None
        stats = self.dev.memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else peak / 2**20
