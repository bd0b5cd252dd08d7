"""PyTorch engine for runkit's training driver (see ganbench.runkit.loop for the interface).

One iteration = ``d_steps`` D steps then ``g_steps`` G steps (see impls/README.md,
"Training step semantics"). Eager PyTorch; ``spec['compile']`` captures the whole
iteration (the d_steps/g_steps loop unrolled: forwards, gradients, losses, both
Adam updates, BN statistics) as one ``torch.compile(fullgraph=True)`` graph,
with CUDA graphs (``mode="reduce-overhead"``) on a GPU; the chunk's loop over
iterations stays in Python. Training data live on the device as one uint8 tensor; a
chunk's indices and noise arrive in one transfer each, and the per-iteration
stats stay on the device until ``fetch``.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from ganbench import runkit
from adam import PaperAdam, captured_update
from linear import use_onednn
from losses import GanLosses
from models import build, canonical_tensors, from_torch_layout, to_torch_layout


def open_device(spec: dict, framework_seed: int, device: str | None = None) -> tuple[torch.device, str]:
    """The run's device (spec.device, or ``device``) set up for it: threads, seed, full fp32 (no TF32) and
    deterministic kernels where requested; returns it and its description for timing.json."""
    dev = torch.device(runkit.resolve_device(device or spec["device"], torch.cuda.is_available(), "PyTorch"))
    threads = runkit.thread_count(spec)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(framework_seed)
    if dev.type == "cuda":
        torch.cuda.manual_seed_all(framework_seed)
        # full fp32 in both frameworks (TF32 off), so the twins compute the same function
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if runkit.deterministic_requested(dev.type):
        if dev.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True)
    elif dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return dev, str(dev) if dev.type == "cpu" else f"cuda ({torch.cuda.get_device_name(dev)})"


class Engine(GanLosses):
    framework = "pytorch"
    framework_version = torch.__version__

    def __init__(self, spec: dict, framework_seed: int, device: str | None = None):
        self.spec = spec
        self.dev, self.device = open_device(spec, framework_seed, device)
        G, D = build(spec)
        self.G, self.D = G.to(self.dev), D.to(self.dev)
        self._canon = canonical_tensors(spec, self.G, self.D)
        o = spec["optim"]
        self.opt_d = PaperAdam(self.D.parameters(), **o["d"])
        # freeze_d false (the source's bug): G's optimizer is built over G's *and* D's parameters,
        # so in every G step D moves under G's Adam (its own moments and step count for D)
        g_params = list(self.G.parameters()) + ([] if spec["freeze_d"] else list(self.D.parameters()))
        self.opt_g = PaperAdam(g_params, **o["g"])
        self._loss_scale = runkit.loss_scale(spec)
        # inference (samples, probes) stays eager: compiling it would only add compile time
        self.g_fn, self.d_fn = self.G, self.D
        self._captured = self._capture() if spec["compile"] else None
        mul, add = runkit.SCALE[runkit.output_kind(spec)]
        self._mul = torch.tensor(mul, dtype=torch.float32, device=self.dev)
        self._add = torch.tensor(add, dtype=torch.float32, device=self.dev)
        self.data = None
        if self.dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.dev)

    # ------------------------------------------------------------ state
    def load_state(self, state: dict) -> None:
        runkit.check_state(self.spec, state)
        with torch.no_grad():
            for name, (t, kind) in self._canon.items():
                arr = np.ascontiguousarray(to_torch_layout(np.asarray(state[name], np.float32), kind))
                t.copy_(torch.from_numpy(arr))

    def export_state(self) -> dict:
        return {name: np.ascontiguousarray(from_torch_layout(t.detach().cpu().numpy(), kind))
                for name, (t, kind) in self._canon.items()}

    def param_count(self) -> int:
        return sum(p.numel() for p in self.G.parameters()) + sum(p.numel() for p in self.D.parameters())

    # ------------------------------------------------------------ data
    def set_data(self, images: np.ndarray) -> None:
        t = torch.from_numpy(np.ascontiguousarray(images)).to(self.dev)
        if t.ndim == 4:  # NHWC -> NCHW, once
            t = t.permute(0, 3, 1, 2).contiguous()
        self.data = t

    def _real(self, idx: torch.Tensor) -> torch.Tensor:
        return self.data[idx].float() * self._mul + self._add

    # ------------------------------------------------------------ training
    def _iteration(self, idx: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        s = self.spec
        G, D = self.g_fn, self.d_fn
        for j in range(s["d_steps"]):
            x = self._real(idx[j])
            z = noise[runkit.d_noise_index(s, j)]
            with torch.no_grad():
                fake = G(z)  # train-mode BN: batch stats, G's running stats advance
            logits_real, logits_fake = D(x), D(fake)
            loss_d, mean_d = self._d_loss(logits_real, logits_fake)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        self.D.requires_grad_(not s["freeze_d"])  # unfrozen: opt_g also owns (and steps) D
        try:
            for k in range(s["g_steps"]):
                z = noise[runkit.g_noise_index(s, k)]
                loss_g, mean_g = self._g_loss(D(G(z)))
                self.opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                self.opt_g.step()
        finally:
            self.D.requires_grad_(True)
        return torch.stack([mean_d.detach(), mean_g.detach(),
                            torch.sigmoid(logits_real.detach()).mean(), torch.sigmoid(logits_fake.detach()).mean()])

    # ------------------------------------------------------------ whole-step capture (spec.compile)
    def _capture(self):
        """The captured iteration: one graph per engine (static shapes), CUDA graphs on a GPU; on the
        CPU the linear layers' matmuls on oneDNN (linear.py) and Inductor's C++ wrapper (a Python
        call per kernel would be ~10% of a BasicGAN iteration).
        GANBENCH_TORCH_COMPILE_MODE overrides the mode (e.g. ``default`` to leave CUDA graphs out)."""
        import torch._dynamo.config as dynamo_config
        dynamo_config.trace_autograd_ops = True  # torch.autograd.grad inside the graph
        self.opt_d.init_state()
        self.opt_g.init_state()
        self._d_params = list(self.D.parameters())
        self._g_params = [p for g in self.opt_g.param_groups for p in g["params"]]
        mode = os.environ.get("GANBENCH_TORCH_COMPILE_MODE", "").strip() or (
            "reduce-overhead" if self.dev.type == "cuda" else "default")
        self._cuda_graphs = mode == "reduce-overhead" and self.dev.type == "cuda"
        if self._cuda_graphs:  # fixed addresses: no copies of weights, moments or data per replay
            for net in (self.G, self.D):
                for t in list(net.parameters()) + list(net.buffers()):
                    torch._dynamo.mark_static_address(t)
            for t in (self._mul, self._add):
                torch._dynamo.mark_static_address(t)
        if self.dev.type == "cpu" and mode == "default":
            use_onednn(self.G, self.D)
            return torch.compile(self._captured_iteration, fullgraph=True, dynamic=False,
                                 options={"cpp_wrapper": True})
        return torch.compile(self._captured_iteration, fullgraph=True, dynamic=False, mode=mode)

    def _moments(self, opt, params):
        return [opt.state[p]["exp_avg"] for p in params], [opt.state[p]["exp_avg_sq"] for p in params]

    def _captured_iteration(self, idx, noise, scal, d_m, d_v, g_m, g_v):
        """One iteration as plain tensor code (traced whole): the eager ``_iteration``'s arithmetic
        with ``torch.autograd.grad`` and :func:`adam.captured_update` in place of
        ``backward``/``step``. ``scal[u]`` = (-lr/bc1, sqrt(bc2)) of the u-th update (D's, then G's)."""
        s = self.spec
        G, D = self.G, self.D
        od, og = s["optim"]["d"], s["optim"]["g"]
        nd = s["d_steps"]
        for j in range(nd):
            x = self._real(idx[j])
            z = noise[runkit.d_noise_index(s, j)]
            with torch.no_grad():
                fake = G(z)
            logits_real, logits_fake = D(x), D(fake)
            loss_d, mean_d = self._d_loss(logits_real, logits_fake)
            grads = torch.autograd.grad(loss_d, self._d_params)
            captured_update(self._d_params, grads, d_m, d_v, od["beta1"], od["beta2"], od["eps"],
                            scal[j, 0], scal[j, 1])
        for k in range(s["g_steps"]):
            z = noise[runkit.g_noise_index(s, k)]
            loss_g, mean_g = self._g_loss(D(G(z)))
            # only G's optimizer's variables get gradients (with freeze_d, D's weights stay put)
            grads = torch.autograd.grad(loss_g, self._g_params)
            captured_update(self._g_params, grads, g_m, g_v, og["beta1"], og["beta2"], og["eps"],
                            scal[nd + k, 0], scal[nd + k, 1])
        return torch.stack([mean_d.detach(), mean_g.detach(),
                            torch.sigmoid(logits_real.detach()).mean(), torch.sigmoid(logits_fake.detach()).mean()])

    def _train_chunk_captured(self, idx_t, noise_t, k: int) -> torch.Tensor:
        scal = runkit.chunk_bias_scalars(self.spec, *self.optimizer_steps(), k)
        scal = torch.from_numpy(scal).to(self.dev, non_blocking=True)
        d_m, d_v = self._moments(self.opt_d, self._d_params)
        g_m, g_v = self._moments(self.opt_g, self._g_params)
        if self._cuda_graphs:
            for t in (*d_m, *d_v, *g_m, *g_v, self.data):
                torch._dynamo.mark_static_address(t)
        out = []
        for i in range(k):
            if self._cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            r = self._captured(idx_t[i], noise_t[i], scal[i], d_m, d_v, g_m, g_v)
            out.append(r.clone() if self._cuda_graphs else r)  # a replay overwrites its outputs
        for opt, params, n in ((self.opt_d, self._d_params, self.spec["d_steps"]),
                               (self.opt_g, self._g_params, self.spec["g_steps"])):
            for p in params:  # the step count lives on the host, as in eager PaperAdam
                opt.state[p]["step"] += k * n
        return torch.stack(out)

    def train_chunk(self, idx: np.ndarray, noise: np.ndarray) -> torch.Tensor:
        self.G.train()
        self.D.train()
        idx_t = torch.from_numpy(idx).to(self.dev, non_blocking=True)
        noise_t = torch.from_numpy(noise).to(self.dev, non_blocking=True)
        if self._captured is not None:
            return self._train_chunk_captured(idx_t, noise_t, idx.shape[0])
        return torch.stack([self._iteration(idx_t[i], noise_t[i]) for i in range(idx.shape[0])])

    def fetch(self, handle: torch.Tensor) -> np.ndarray:
        return handle.cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------ inference / twins
    @torch.no_grad()
    def generate(self, z: np.ndarray) -> np.ndarray:
        return self.forward_g(z, training=False)

    def _mode(self, training: bool):
        self.G.train(training)
        self.D.train(training)

    @torch.no_grad()
    def forward_g(self, z: np.ndarray, training: bool) -> np.ndarray:
        self._mode(training)
        out = self.g_fn(torch.from_numpy(np.ascontiguousarray(z, np.float32)).to(self.dev))
        self._mode(True)
        if out.ndim == 4:
            out = out.permute(0, 2, 3, 1)  # canonical NHWC
        return out.cpu().numpy()

    @torch.no_grad()
    def forward_d(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Logits for model-range float inputs in canonical layout."""
        self._mode(training)
        t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.dev)
        if t.ndim == 4:
            t = t.permute(0, 3, 1, 2)
        out = self.d_fn(t)
        self._mode(True)
        return out.cpu().numpy()

    def optimizer_steps(self) -> tuple[int, int]:
        """(Adam steps taken by D's optimizer, by G's optimizer)."""
        def t(opt):
            states = [opt.state[p] for g in opt.param_groups for p in g["params"] if opt.state[p]]
            return states[0]["step"] if states else 0
        return t(self.opt_d), t(self.opt_g)

    def optimizer_state(self, native: bool = False) -> dict:
        """Adam state in canonical names/layouts: ``{opt}/step``, ``{opt}/m/<name>``, ``{opt}/v/<name>``
        for opt in d, g (only the variables the optimizer owns and has stepped). ``native``: the
        exact stored values (checkpoints); PyTorch's moments are the canonical ones."""
        kinds = {id(t): (name, kind) for name, (t, kind) in self._canon.items()}
        out = {}
        for tag, opt in (("d", self.opt_d), ("g", self.opt_g)):
            steps = [0]
            for p in (p for g in opt.param_groups for p in g["params"]):
                st = opt.state[p]
                if not st or not st["step"]:  # the captured step creates every state at step 0
                    continue
                name, kind = kinds[id(p)]
                steps.append(st["step"])
                out[f"{tag}/m/{name}"] = from_torch_layout(st["exp_avg"].detach().cpu().numpy(), kind)
                out[f"{tag}/v/{name}"] = from_torch_layout(st["exp_avg_sq"].detach().cpu().numpy(), kind)
            out[f"{tag}/step"] = np.array(max(steps))
        return out

    def load_optimizer_state(self, state: dict) -> None:
        """Inverse of ``optimizer_state(native=True)``: both optimizers continue bit-exactly (checkpoints)."""
        kinds = {id(t): (name, kind) for name, (t, kind) in self._canon.items()}
        for tag, opt in (("d", self.opt_d), ("g", self.opt_g)):
            step = int(state[f"{tag}/step"])
            for p in (p for g in opt.param_groups for p in g["params"]):
                name, kind = kinds[id(p)]
                st = opt.state[p]
                if f"{tag}/m/{name}" not in state:  # not stepped yet
                    if st:
                        st["step"] = 0
                        st["exp_avg"].zero_()
                        st["exp_avg_sq"].zero_()
                    continue
                m, v = (torch.from_numpy(np.ascontiguousarray(to_torch_layout(
                    np.asarray(state[f"{tag}/{w}/{name}"], np.float32), kind))) for w in ("m", "v"))
                if st:  # in place: tensors keep their addresses (captured graphs)
                    st["exp_avg"].copy_(m)
                    st["exp_avg_sq"].copy_(v)
                    st["step"] = step
                else:
                    opt.state[p] = {"step": step, "exp_avg": m.to(self.dev), "exp_avg_sq": v.to(self.dev)}

    def synchronize(self) -> None:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def peak_device_mb(self):
        if self.dev.type == "cuda":
            return torch.cuda.max_memory_allocated(self.dev) / 2**20
        return None
