"""TensorFlow engine for runkit's training driver (see ganbench.runkit.loop for the interface).

One iteration = ``d_steps`` D steps then ``g_steps`` G steps (see impls/README.md,
"Training step semantics"), the same as the PyTorch twin. A whole chunk of
iterations is one ``tf.function`` call (a ``tf.while_loop``, traced once;
``spec['compile']`` compiles the loop body, one iteration, with XLA ``jit_compile``). Training data live on the
device as one uint8 tensor; a chunk's indices and noise arrive in one transfer
each. This module never imports torch.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganbench import runkit  # noqa: E402
from adam import PaperAdam  # noqa: E402
from models import build  # noqa: E402

_CONFIGURED = False


def _configure(spec: dict, device: str) -> str:
    """Process-wide TF settings (threads, devices, determinism); returns the device string."""
    global _CONFIGURED
    gpus = tf.config.list_physical_devices("GPU")
    use_gpu = runkit.resolve_device(device, bool(gpus), "TensorFlow") == "cuda"
    if not _CONFIGURED:
        threads = runkit.thread_count(spec)
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        if not use_gpu and gpus:
            tf.config.set_visible_devices([], "GPU")
        if use_gpu:
            for g in gpus:
                tf.config.experimental.set_memory_growth(g, True)
        # full fp32 in both frameworks (TF32 off), so the twins compute the same function
        tf.config.experimental.enable_tensor_float_32_execution(False)
        if runkit.deterministic_requested("cuda" if use_gpu else "cpu"):
            tf.config.experimental.enable_op_determinism()
        _CONFIGURED = True
    return "/GPU:0" if use_gpu else "/CPU:0"


class Engine:
    framework = "tensorflow"
    framework_version = tf.__version__

    def __init__(self, spec: dict, framework_seed: int, device: str | None = None):
        self.spec = spec
        self._loss_scale = runkit.loss_scale(spec)
        self.tf_device = _configure(spec, device or spec["device"])
        tf.random.set_seed(framework_seed)
        if self.tf_device == "/CPU:0":
            self.device = "cpu"
        else:
            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            self.device = f"cuda ({details.get('device_name', 'GPU')})"
        with tf.device(self.tf_device):
            self.G, self.D = build(spec)
            o = spec["optim"]
            self.opt_d = PaperAdam(self.D.train_vars, **o["d"], name="adam_d")
            # freeze_d false (the source's bug): G's optimizer owns G's *and* D's variables, so in
            # every G step D moves under G's Adam (its own moments and step count for D)
            self.g_step_vars = self.G.train_vars + ([] if spec["freeze_d"] else self.D.train_vars)
            self.opt_g = PaperAdam(self.g_step_vars, **o["g"], name="adam_g")
        mul, add = runkit.SCALE[runkit.output_kind(spec)]
        self._mul, self._add = float(mul), float(add)
        self.data = None
        jit = bool(spec["compile"])
        s = spec
        z, b = s["z_dim"], s["batch_size"]
        n_noise = runkit.noise_batches_per_iteration(s)
        # XLA compiles per concrete shape, and chunks vary in length: with jit_compile only
        # the (fixed-shape) iteration is an XLA cluster, called from the chunk's while loop
        self._step = tf.function(self._iteration, jit_compile=True, autograph=False) if jit else self._iteration
        self._train_chunk = tf.function(
            self._chunk, autograph=False,
            input_signature=[tf.TensorSpec([None, s["d_steps"], b], tf.int64),
                             tf.TensorSpec([None, n_noise, b, z], tf.float32)])
        self._g_fn = {t: tf.function(lambda zz, t=t: self.G(zz, training=t), jit_compile=jit, autograph=False,
                                     input_signature=[tf.TensorSpec([None, z], tf.float32)]) for t in (True, False)}
        self._d_fn = {t: tf.function(lambda xx, t=t: self.D(xx, training=t), jit_compile=jit, autograph=False)
                      for t in (True, False)}

    # ------------------------------------------------------------ state
    def _all_vars(self) -> dict:
        return {**self.G.vars, **self.D.vars}

    def load_state(self, state: dict) -> None:
        runkit.check_state(self.spec, state)
        for name, var in self._all_vars().items():
            var.assign(np.asarray(state[name], np.float32))

    def export_state(self) -> dict:
        return {name: var.numpy() for name, var in self._all_vars().items()}

    def param_count(self) -> int:
        return int(sum(int(np.prod(v.shape)) for v in self.G.train_vars + self.D.train_vars))

    # ------------------------------------------------------------ data
    def set_data(self, images: np.ndarray) -> None:
        with tf.device(self.tf_device):
            self.data = tf.identity(tf.constant(np.ascontiguousarray(images)))

    def _real(self, idx):
        return tf.cast(tf.gather(self.data, idx), tf.float32) * self._mul + self._add

    # ------------------------------------------------------------ training
    # Losses from logits as softplus terms, BCE(x, y) = y softplus(-x) + (1 - y) softplus(x), written
    # identically in both twins (see the PyTorch engine); loss_form "probability": the sources'
    # log(D(x)) with D(x) = sigmoid(x); loss_reduction "sum": batch_size x the mean.
    def _neg_log_d(self, x):  # -log D(x)
        if self.spec["loss_form"] == "probability":
            return -tf.math.log(tf.sigmoid(x))
        return tf.nn.softplus(-x)

    def _neg_log_1m_d(self, x):  # -log(1 - D(x))
        if self.spec["loss_form"] == "probability":
            return -tf.math.log(1.0 - tf.sigmoid(x))
        return tf.nn.softplus(x)

    def _d_loss(self, logits_real, logits_fake):
        """(loss to minimise, its batch mean for the log)."""
        s = self.spec["label_smoothing"]
        real = s * self._neg_log_d(logits_real)
        if s != 1.0:
            real = real + (1.0 - s) * self._neg_log_1m_d(logits_real)
        mean = tf.reduce_mean(real) + tf.reduce_mean(self._neg_log_1m_d(logits_fake))
        return mean * self._loss_scale, mean

    def _g_loss(self, logits_fake):
        if self.spec["g_loss"] == "nonsaturating":  # -log D(G(z))
            mean = tf.reduce_mean(self._neg_log_d(logits_fake))
        else:  # minimax: log(1 - D(G(z)))
            mean = -tf.reduce_mean(self._neg_log_1m_d(logits_fake))
        return mean * self._loss_scale, mean

    def _iteration(self, idx, noise):
        s = self.spec
        G, D = self.G, self.D
        for j in range(s["d_steps"]):
            x = self._real(idx[j])
            z = noise[runkit.d_noise_index(s, j)]
            fake = tf.stop_gradient(G(z, training=True))  # batch stats; G's running stats advance
            with tf.GradientTape() as tape:
                logits_real = D(x, training=True)
                logits_fake = D(fake, training=True)
                loss_d, mean_d = self._d_loss(logits_real, logits_fake)
            self.opt_d.apply(tape.gradient(loss_d, D.train_vars), D.train_vars)
        for k in range(s["g_steps"]):
            z = noise[runkit.g_noise_index(s, k)]
            with tf.GradientTape() as tape:
                loss_g, mean_g = self._g_loss(D(G(z, training=True), training=True))
            self.opt_g.apply(tape.gradient(loss_g, self.g_step_vars), self.g_step_vars)
        return tf.stack([mean_d, mean_g, tf.reduce_mean(tf.sigmoid(logits_real)), tf.reduce_mean(tf.sigmoid(logits_fake))])

    def _chunk(self, idx, noise):
        k = tf.shape(idx)[0]

        def body(i, stats):
            return i + 1, stats.write(i, self._step(idx[i], noise[i]))

        _, stats = tf.while_loop(lambda i, _: i < k, body, (tf.constant(0), tf.TensorArray(tf.float32, size=k)))
        return stats.stack()

    def train_chunk(self, idx: np.ndarray, noise: np.ndarray):
        with tf.device(self.tf_device):
            return self._train_chunk(tf.constant(idx), tf.constant(noise))

    def fetch(self, handle) -> np.ndarray:
        return handle.numpy().astype(np.float64)

    # ------------------------------------------------------------ inference / twins
    def generate(self, z: np.ndarray) -> np.ndarray:
        return self.forward_g(z, training=False)

    def forward_g(self, z: np.ndarray, training: bool) -> np.ndarray:
        with tf.device(self.tf_device):
            return self._g_fn[bool(training)](tf.constant(np.asarray(z, np.float32))).numpy()

    def forward_d(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Logits for model-range float inputs in canonical layout."""
        with tf.device(self.tf_device):
            return self._d_fn[bool(training)](tf.constant(np.asarray(x, np.float32))).numpy()

    def optimizer_steps(self) -> tuple[int, int]:
        """(Adam steps taken by D's optimizer, by G's optimizer)."""
        return int(self.opt_d.t.numpy()), int(self.opt_g.t.numpy())

    def optimizer_state(self, native: bool = False) -> dict:
        """Adam state in canonical names/layouts: ``{opt}/step``, ``{opt}/m/<name>``, ``{opt}/v/<name>``
        for opt in d, g (only the variables the optimizer owns and has stepped). ``native``: the fused
        kernel's own moments, unscaled (checkpoints: ``load_optimizer_state`` restores them exactly)."""
        names = {id(v): name for name, v in self._all_vars().items()}
        g_vars = self.g_step_vars
        out = {}
        for tag, opt, variables in (("d", self.opt_d, self.D.train_vars), ("g", self.opt_g, g_vars)):
            t = int(opt.t.numpy())
            out[f"{tag}/step"] = np.array(t)
            c1, c2 = (np.float32(1), np.float32(1)) if native else (np.float32(opt.c1), np.float32(opt.c2))
            if t:
                for var, m, v in zip(variables, opt.m, opt.v):  # moments in PyTorch's convention (adam.py)
                    out[f"{tag}/m/{names[id(var)]}"] = m.numpy() * c1
                    out[f"{tag}/v/{names[id(var)]}"] = v.numpy() * c2
        return out

    def load_optimizer_state(self, state: dict) -> None:
        """Inverse of ``optimizer_state(native=True)``: both optimizers continue bit-exactly (checkpoints)."""
        names = {id(v): name for name, v in self._all_vars().items()}
        for tag, opt, variables in (("d", self.opt_d, self.D.train_vars), ("g", self.opt_g, self.g_step_vars)):
            opt.t.assign(int(state[f"{tag}/step"]))
            for var, m, v in zip(variables, opt.m, opt.v):
                key = names[id(var)]
                m.assign(np.asarray(state.get(f"{tag}/m/{key}", np.zeros(m.shape, np.float32)), np.float32))
                v.assign(np.asarray(state.get(f"{tag}/v/{key}", np.zeros(v.shape, np.float32)), np.float32))

    def synchronize(self) -> None:
        # TF has no public device barrier; reading a value back waits for queued work
        if self.data is not None:
            self.data[:1].numpy()

    def peak_device_mb(self):
        if self.tf_device.startswith("/GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        return None
