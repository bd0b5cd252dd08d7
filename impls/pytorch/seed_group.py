"""PyTorch seed-group engine: K seeds of one arm in one batched training step (runkit.seed_group).

Every weight, BN running statistic and Adam moment of the K seeds is one tensor with a leading
seed axis ``[K, ...]``. The networks are the single-seed engine's nn.Modules (models.py), called
per seed through ``torch.func.functional_call`` and batched over seeds by ``torch.func.vmap``: a
linear layer's K matmuls become one batched matmul, a convolution's K convolutions one call, BN
normalises each seed with its own batch statistics and updates its own running ones (in place, in
the stacked buffers). Gradients come from ``torch.func.grad`` per seed, and the Adam update is
impls/pytorch/adam.py's, elementwise on the stacked tensors. The iteration is the single-seed
engine's (engine.Engine._iteration): ``d_steps`` D steps (G's forward in train mode without
gradients, then D on real and on fake) then ``g_steps`` G steps, with G's optimiser owning D's
weights too when freeze_d is false. Eager: ``spec.compile`` is not applied to groups.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from ganbench import runkit
from adam import paper_adam_update
from engine import open_device
from losses import GanLosses
from models import build, canonical_tensors, from_torch_layout, to_torch_layout

NETS = ("G", "D")


class SeedGroupEngine(GanLosses):
    framework = "pytorch"
    framework_version = torch.__version__

    def __init__(self, spec: dict, framework_seeds: list[int], device: str | None = None):
        self.spec, self.seeds = spec, len(framework_seeds)
        self.dev, self.device = open_device(spec, framework_seeds[0], device)
        self._loss_scale = runkit.loss_scale(spec)
        G, D = build(spec)
        self.nets = {"G": G.to(self.dev), "D": D.to(self.dev)}  # templates: their own tensors are never used
        where = {id(t): (net, name) for net, mod in self.nets.items()
                 for name, t in [*mod.named_parameters(), *mod.named_buffers()]}
        # canonical name -> (net, module-relative name, layout kind)
        self._canon = {c: (*where[id(t)], kind) for c, (t, kind) in canonical_tensors(spec, G, D).items()}
        self._canon_of = {(net, n): (c, kind) for c, (net, n, kind) in self._canon.items()}  # the inverse
        stack = lambda t: t.detach().unsqueeze(0).repeat(self.seeds, *[1] * t.ndim).contiguous()  # noqa: E731
        self.params = {net: {n: stack(t) for n, t in mod.named_parameters()} for net, mod in self.nets.items()}
        self.buffers = {net: {n: stack(t) for n, t in mod.named_buffers()} for net, mod in self.nets.items()}
        # freeze_d false (the source's bug): G's optimiser owns D's weights too, with moments of its own
        self._g_owns = ("G",) if spec["freeze_d"] else ("G", "D")
        self.opt = {"d": self._zero_moments(("D",)), "g": self._zero_moments(self._g_owns)}
        self.t_d = self.t_g = 0
        mul, add = runkit.SCALE[runkit.output_kind(spec)]
        self._mul, self._add = float(mul), float(add)
        self.data = None
        if self.dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.dev)

    def _zero_moments(self, nets) -> dict:
        return {w: {net: {n: torch.zeros_like(t) for n, t in self.params[net].items()} for net in nets}
                for w in ("m", "v")}

    # ------------------------------------------------------------ one seed's networks (vmapped below)
    def _net(self, net: str, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.nets[net], {**params, **buffers}, (x,))

    def _seed(self, tree: dict, k: int) -> dict:
        return {n: t[k] for n, t in tree.items()}  # views: in-place BN updates reach the stacked buffers

    # ------------------------------------------------------------ state
    def load_state(self, k: int, state: dict) -> None:
        runkit.check_state(self.spec, state)
        with torch.no_grad():
            for name, (net, n, kind) in self._canon.items():
                arr = np.ascontiguousarray(to_torch_layout(np.asarray(state[name], np.float32), kind))
                tree = self.params[net] if n in self.params[net] else self.buffers[net]
                tree[n][k].copy_(torch.from_numpy(arr))

    def export_state(self, k: int) -> dict:
        out = {}
        for name, (net, n, kind) in self._canon.items():
            t = (self.params[net] if n in self.params[net] else self.buffers[net])[n][k]
            out[name] = np.ascontiguousarray(from_torch_layout(t.cpu().numpy(), kind))
        return out

    def set_data(self, images: np.ndarray) -> None:
        t = torch.from_numpy(np.ascontiguousarray(images)).to(self.dev)
        self.data = t.permute(0, 3, 1, 2).contiguous() if t.ndim == 4 else t  # NHWC -> NCHW, once

    # ------------------------------------------------------------ training
    def _d_objective(self, pd, bd, x, fake):
        logits_real, logits_fake = self._net("D", pd, bd, x), self._net("D", pd, bd, fake)
        loss, mean = self._d_loss(logits_real, logits_fake)
        return loss, (mean, torch.sigmoid(logits_real).mean(), torch.sigmoid(logits_fake).mean())

    def _g_objective(self, owned, params, buffers, z):
        nets = {**params, **owned}  # D's weights are G's optimiser's only when it owns them
        logits = self._net("D", nets["D"], buffers["D"], self._net("G", nets["G"], buffers["G"], z))
        loss, mean = self._g_loss(logits)
        return loss, mean

    def _adam(self, tag: str, owned: dict, grads: dict, t: int) -> None:
        h = self.spec["optim"][tag]
        keys = [(net, n) for net in owned for n in owned[net]]
        pick = lambda tree: [tree[net][n] for net, n in keys]  # noqa: E731
        paper_adam_update(pick(owned), pick(grads), pick(self.opt[tag]["m"]), pick(self.opt[tag]["v"]),
                          h["lr"], h["beta1"], h["beta2"], h["eps"], t)

    def _iteration(self, idx: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """One iteration of every seed: idx [K, d_steps, B], noise [K, n_noise, B, z] -> metrics [K, 4]."""
        s, p, b = self.spec, self.params, self.buffers
        for j in range(s["d_steps"]):
            x = self.data[idx[:, j]].float() * self._mul + self._add  # [K, B, ...]
            z = noise[:, runkit.d_noise_index(s, j)]                    # [K, B, z]
            with torch.no_grad():  # train-mode BN: batch statistics, G's running statistics advance
                fake = vmap(lambda pg, bg, z: self._net("G", pg, bg, z))(p["G"], b["G"], z)
            grads, (mean_d, d_real, d_fake) = vmap(grad(self._d_objective, has_aux=True))(p["D"], b["D"], x, fake)
            self.t_d += 1
            self._adam("d", {"D": p["D"]}, {"D": grads}, self.t_d)
        for k in range(s["g_steps"]):
            z = noise[:, runkit.g_noise_index(s, k)]
            owned = {net: p[net] for net in self._g_owns}
            grads, mean_g = vmap(grad(self._g_objective, has_aux=True))(owned, p, b, z)
            self.t_g += 1
            self._adam("g", owned, grads, self.t_g)
        return torch.stack([mean_d, mean_g, d_real, d_fake], dim=1)

    def train_chunk(self, idx: np.ndarray, noise: np.ndarray) -> torch.Tensor:
        for mod in self.nets.values():
            mod.train()
        idx_t = torch.from_numpy(idx).to(self.dev, non_blocking=True)      # [K, n, d_steps, B]
        noise_t = torch.from_numpy(noise).to(self.dev, non_blocking=True)  # [K, n, n_noise, B, z]
        with torch.no_grad():
            return torch.stack([self._iteration(idx_t[:, i], noise_t[:, i]) for i in range(idx.shape[1])], dim=1)

    def fetch(self, handle: torch.Tensor) -> np.ndarray:
        return handle.cpu().numpy().astype(np.float64)  # [K, n, 4]

    # ------------------------------------------------------------ one seed: inference / twins
    @torch.no_grad()
    def _forward(self, net: str, k: int, x: np.ndarray, training: bool) -> np.ndarray:
        mod = self.nets[net]
        mod.train(training)
        t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.dev)
        if net == "D" and t.ndim == 4:
            t = t.permute(0, 3, 1, 2)
        out = self._net(net, self._seed(self.params[net], k), self._seed(self.buffers[net], k), t)
        mod.train(True)
        return (out.permute(0, 2, 3, 1) if out.ndim == 4 else out).cpu().numpy()  # canonical NHWC

    def generate(self, k: int, z: np.ndarray) -> np.ndarray:
        return self._forward("G", k, z, training=False)

    def forward_g(self, k: int, z: np.ndarray, training: bool) -> np.ndarray:
        return self._forward("G", k, z, training)

    def forward_d(self, k: int, x: np.ndarray, training: bool) -> np.ndarray:
        return self._forward("D", k, x, training)

    # ------------------------------------------------------------ optimisers
    def optimizer_steps(self) -> tuple[int, int]:
        return self.t_d, self.t_g

    def optimizer_state(self, k: int, native: bool = False) -> dict:
        """Seed ``k``'s Adam state in engine.Engine.optimizer_state's names (only once stepped)."""
        out = {}
        for tag, t in (("d", self.t_d), ("g", self.t_g)):
            for w in ("m", "v") if t else ():
                for net, tree in self.opt[tag][w].items():
                    for n, val in tree.items():
                        c, kind = self._canon_of[(net, n)]
                        out[f"{tag}/{w}/{c}"] = np.ascontiguousarray(from_torch_layout(val[k].cpu().numpy(), kind))
            out[f"{tag}/step"] = np.array(t)
        return out

    def load_optimizer_state(self, k: int, state: dict) -> None:
        with torch.no_grad():
            for tag in ("d", "g"):
                for w in ("m", "v"):
                    for net, tree in self.opt[tag][w].items():
                        for n, val in tree.items():
                            c, kind = self._canon_of[(net, n)]
                            arr = state.get(f"{tag}/{w}/{c}")
                            if arr is None:
                                val[k].zero_()
                            else:
                                val[k].copy_(torch.from_numpy(np.ascontiguousarray(
                                    to_torch_layout(np.asarray(arr, np.float32), kind))))
        self.t_d, self.t_g = int(state["d/step"]), int(state["g/step"])

    def synchronize(self) -> None:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def peak_device_mb(self):
        return torch.cuda.max_memory_allocated(self.dev) / 2**20 if self.dev.type == "cuda" else None
