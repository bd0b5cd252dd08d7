"""Case definitions and inputs shared by tests/test_twins.py (no framework imports)."""
from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from ganbench import runkit

REPO = Path(__file__).resolve().parents[2]
IMPLS = {"pytorch": REPO / "impls" / "pytorch", "tensorflow": REPO / "impls" / "tensorflow",
         "jax": REPO / "impls" / "jax"}
WORKER = Path(__file__).resolve().parent / "worker.py"

BASE_SPEC = {
    "run_id": "twin", "study": "test", "impl": "twin", "model": "basic", "dataset": "mnist", "seed": 0,
    "prior": "uniform", "z_dim": 100, "d_steps": 1, "g_steps": 1, "fresh_noise": False,
    "g_loss": "nonsaturating", "label_smoothing": 1.0, "freeze_d": True,
    "optim": {"d": {"lr": 0.0002, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8},
              "g": {"lr": 0.0002, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8}},
    "optim_preset": "dcgan", "batch_size": 64, "steps": 200, "image_size": 28, "channels": 1,
    "arch": {"hidden": 128, "output": "sigmoid"}, "eval_samples": 1000, "log_every": 50, "grid_every": 0,
    "grid_size": 64, "device": "cpu", "compile": False,
}


def make_spec(model: str = "basic", **kw) -> dict:
    spec = copy.deepcopy(BASE_SPEC)
    if model == "dcgan":
        spec.update(model="dcgan", image_size=32,
                    arch={"base_width": 8, "kernel_size": 4, "bn_momentum": 0.1, "bn_eps": 1e-5})
    arch = kw.pop("arch", None)
    spec.update(kw)
    if arch:
        spec["arch"].update(arch)
    return runkit.validate_spec(spec)


# ------------------------------------------------------------------ case lists
SCHEDULES = [(1, 1), (1, 2), (2, 1)]
PRIORS = list(runkit.spec.PRIORS)
G_LOSSES = list(runkit.spec.G_LOSSES)

# the DCGAN post's TF-1 variant (runkit.params doc): G twice D's width, no BN after the projection (a bias
# instead), BN without gamma, no bias on the outer convs, dense layers N(0, 0.01) beside truncated-normal
# convs, BN with batch statistics outside training too
BLOG_ARCH = {"g_width_mult": 2, "projection_bn": False, "bn_scale": False, "outer_conv_bias": False,
             "weight_init": "truncated_normal", "dense_init": "normal", "dense_init_std": 0.01,
             "bn_inference": "batch"}

COUNT_ARCHS = {
    "basic": dict(model="basic"),
    "basic_leaky_bias": dict(model="basic", arch={"hidden_activation": "leaky_relu", "bias_init": 0.1}),
    "dcgan32_k5_nobn": dict(model="dcgan", arch={"kernel_size": 5, "base_width": 8, "batch_norm": False,
                                                 "bias_init": 0.1}),
    "basic_h64_z20": dict(model="basic", z_dim=20, arch={"hidden": 64}),
    "basic_widths": dict(model="basic", z_dim=20, arch={"hidden": 64, "g_hidden": 32, "d_hidden": 256}),
    "dcgan32_k4_w8": dict(model="dcgan", arch={"kernel_size": 4, "base_width": 8}),
    "dcgan32_k5_w16": dict(model="dcgan", arch={"kernel_size": 5, "base_width": 16}),
    "dcgan64_k5_w4": dict(model="dcgan", image_size=64, arch={"kernel_size": 5, "base_width": 4}),
    "dcgan32_blog": dict(model="dcgan", arch={"kernel_size": 5, "base_width": 8, **BLOG_ARCH}),
}

FORWARD_ARCHS = {
    "basic_sigmoid": dict(model="basic", z_dim=20, arch={"hidden": 64, "output": "sigmoid"}),
    "basic_tanh": dict(model="basic", z_dim=20, arch={"hidden": 64, "output": "tanh"}),
    "basic_leaky02": dict(model="basic", z_dim=20, arch={"hidden": 64, "hidden_activation": "leaky_relu"}),
    "basic_leaky001": dict(model="basic", z_dim=20, arch={"hidden": 64, "hidden_activation": "leaky_relu",
                                                          "leaky_slope": 0.01, "output": "tanh"}),
    "dcgan32_k5_same": dict(model="dcgan", z_dim=16, arch={"kernel_size": 5, "base_width": 8, "padding": "same"}),
    "dcgan32_k4_same": dict(model="dcgan", z_dim=16, arch={"kernel_size": 4, "base_width": 8, "padding": "same"}),
    "dcgan32_k5_nobn": dict(model="dcgan", z_dim=16, arch={"kernel_size": 5, "base_width": 8, "batch_norm": False,
                                                           "padding": "same", "leaky_slope": 0.1}),
    "dcgan32_k4": dict(model="dcgan", z_dim=16, arch={"kernel_size": 4, "base_width": 8}),
    "dcgan32_k5": dict(model="dcgan", z_dim=16, arch={"kernel_size": 5, "base_width": 8}),
    "dcgan64_k4": dict(model="dcgan", z_dim=16, image_size=64, arch={"kernel_size": 4, "base_width": 4}),
    "dcgan64_k5": dict(model="dcgan", z_dim=16, image_size=64,
                       arch={"kernel_size": 5, "base_width": 4, "bn_momentum": 0.3, "bn_eps": 1e-3}),
    "dcgan32_blog": dict(model="dcgan", z_dim=16, arch={"kernel_size": 5, "base_width": 4, "padding": "same",
                                                        **BLOG_ARCH}),
}

INIT_ARCHS = {
    "basic_bias01": dict(model="basic", z_dim=20, arch={"hidden": 64, "bias_init": 0.1}),
    "basic_default": dict(model="basic", z_dim=20, arch={"hidden": 64}),
    "dcgan_nobn_bias01": dict(model="dcgan", z_dim=16, arch={"base_width": 8, "batch_norm": False, "bias_init": 0.1}),
    "dcgan_bn": dict(model="dcgan", z_dim=16, arch={"base_width": 8}),
    "dcgan_blog": dict(model="dcgan", z_dim=16, arch={"base_width": 8, **BLOG_ARCH}),
}

STEP_MODEL_KW = {
    "basic": dict(model="basic", z_dim=20, batch_size=16, arch={"hidden": 64}),
    "dcgan": dict(model="dcgan", z_dim=16, batch_size=8, arch={"base_width": 8}),
}


# The source recipes (config/recipes.yaml) at twin-test size: the knobs that reach the engines
_ADAM = lambda lr, b1: {"d": {"lr": lr, "beta1": b1, "beta2": 0.999, "eps": 1e-8},
                        "g": {"lr": lr, "beta1": b1, "beta2": 0.999, "eps": 1e-8}}
RECIPES = {
    "basic_tutorial": dict(model="basic", d_steps=1, g_steps=2, optim=_ADAM(2e-4, 0.9),
                           arch={"hidden_activation": "relu", "output": "sigmoid", "weight_init": "xavier_uniform",
                                 "bias_init": 0.1}),
    "vanilla_mnist": dict(model="basic", d_steps=1, g_steps=1, fresh_noise=True, optim=_ADAM(1e-3, 0.9),
                          arch={"weight_init": "xavier_uniform", "bias_init": 0.0}),
    "mnist_notebook": dict(model="basic", label_smoothing=0.9, optim=_ADAM(2e-4, 0.5),
                           arch={"hidden_activation": "leaky_relu", "leaky_slope": 0.01, "output": "tanh"}),
    "dcgan_carpedm20": dict(model="dcgan", d_steps=1, g_steps=2, optim=_ADAM(2e-4, 0.5),
                            arch={"kernel_size": 5, "padding": "same", "bn_eps": 1e-5, "bn_momentum": 0.1}),
    "dcgan_blog": dict(model="dcgan", optim=_ADAM(2e-4, 0.5), arch={"kernel_size": 5, "padding": "same", **BLOG_ARCH}),
}


def recipe_kw(name: str, **over) -> dict:
    """make_spec keywords for a recipe (twin-test size), with overrides."""
    kw = copy.deepcopy(RECIPES[name])
    arch = {**kw.pop("arch", {}), **over.pop("arch", {})}
    return {**kw, **over, "arch": arch}


def case_name(model, prior, d, g, g_loss, ls, frozen, extra=""):
    return f"{model}-{prior}-d{d}g{g}-{g_loss}-ls{ls}-{'frozen' if frozen else 'unfrozen'}{extra}"


def _kw(prior, d, g, gl, ls, fz, **extra):
    return dict(prior=prior, d_steps=d, g_steps=g, g_loss=gl, label_smoothing=ls, freeze_d=fz, **extra)


# ((d, g), g_loss, label smoothing, freeze_d): every value of each knob with every value of each
# other knob (pairwise), including each knob changed alone from the first case (the knob tests)
BASIC_COVER = [
    ((1, 1), "nonsaturating", 1.0, True),
    ((2, 1), "nonsaturating", 1.0, True),
    ((1, 2), "nonsaturating", 1.0, True),
    ((1, 1), "nonsaturating", 1.0, False),
    ((1, 2), "nonsaturating", 1.0, False),
    ((1, 1), "minimax", 1.0, True),
    ((1, 1), "nonsaturating", 0.9, True),
    ((2, 1), "minimax", 0.9, False),
    ((1, 2), "minimax", 0.9, True),
]


def step_cases(model: str) -> dict[str, dict]:
    """One-iteration (and one 3-iteration) twin cases.

    basic: schedule x g_loss x label smoothing x freeze_d with the uniform prior in
    nine cases that cover every pair of two knobs' values (BASIC_COVER: the recipe-like
    default, each knob changed alone, and two cases for the remaining pairs; the full
    factorial's 24 cases added no failure mode the pairs miss, and cost a minute), every
    schedule with the random and the normal prior, fresh_noise, 3 iterations in one chunk
    and the tanh output.
    The prior only changes the noise values the engines receive (runkit draws
    them), so it needs no crossing with the engine-visible knobs.
    dcgan: a pairwise-covering set over schedule, freeze_d, g_loss, label
    smoothing, prior and kernel size (the code path of the knobs is the one
    basic covers fully; these check that BN and the conv layers follow them),
    plus fresh_noise, 3 iterations, and a freeze_d pair.
    Cases that differ in one knob share their inputs (see build_jobs), so the
    knob-effect tests can compare them directly.
    """
    out = {}
    if model == "basic":
        for (d, g), gl, ls, fz in BASIC_COVER:
            out[case_name(model, "uniform", d, g, gl, ls, fz)] = _kw("uniform", d, g, gl, ls, fz)
        for prior, (d, g) in itertools.product(("random", "normal"), SCHEDULES):
            out[case_name(model, prior, d, g, "nonsaturating", 1.0, True)] = _kw(prior, d, g, "nonsaturating", 1.0, True)
        out[case_name(model, "uniform", 1, 1, "nonsaturating", 1.0, True, "-fresh")] = _kw(
            "uniform", 1, 1, "nonsaturating", 1.0, True, fresh_noise=True)
        out[case_name(model, "uniform", 2, 2, "nonsaturating", 1.0, False, "-fresh")] = _kw(
            "uniform", 2, 2, "nonsaturating", 1.0, False, fresh_noise=True)
        out["basic-normal-3iters"] = dict(prior="normal", iterations=3)
        out["basic-uniform-tanh"] = dict(arch={"output": "tanh"})
        # new knobs (one iteration each), and each basic recipe over 2 iterations
        out["basic-knob-leaky02"] = dict(arch={"hidden_activation": "leaky_relu"})
        out["basic-knob-leaky001"] = dict(arch={"hidden_activation": "leaky_relu", "leaky_slope": 0.01})
        out["basic-knob-bias01"] = dict(arch={"bias_init": 0.1})
        out["basic-knob-normal-init"] = dict(arch={"weight_init": "normal", "init_std": 0.05})
        out["basic-knob-truncated-init"] = dict(arch={"weight_init": "truncated_normal", "init_std": 0.05})
        # the loss's reduction and form, and one width per network (the inputs of the uniform one-iteration
        # cases, so each compares with its knob's default directly)
        out["basic-knob-sumloss"] = dict(loss_reduction="sum")
        out["basic-knob-probloss-ls0.9"] = dict(loss_form="probability", label_smoothing=0.9)
        out["basic-knob-widths"] = dict(arch={"g_hidden": 48, "d_hidden": 96})
        # freeze_d false with different D and G optimisers: D must move under G's Adam in the G step
        split = {"d": {"lr": 1e-3, "beta1": 0.5, "beta2": 0.99, "eps": 1e-8},
                 "g": {"lr": 2e-4, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}}
        for fz in (True, False):
            for g in (1, 2):
                out[f"basic-optsplit-g{g}-{'frozen' if fz else 'unfrozen'}"] = dict(g_steps=g, freeze_d=fz, optim=split)
        for r, kw in RECIPES.items():
            if kw["model"] == "basic":
                out[f"recipe-{r}"] = dict(iterations=2, **{k: v for k, v in recipe_kw(r).items() if k != "model"})
        return out
    cover = [  # (d, g), freeze, g_loss, smoothing, prior, kernel
        ((1, 1), True, "nonsaturating", 1.0, "uniform", 4),
        ((1, 2), True, "nonsaturating", 1.0, "uniform", 4),  # freeze_d pair of the case above
        ((1, 1), False, "minimax", 0.9, "random", 5),
        ((1, 2), True, "minimax", 1.0, "normal", 4),
        ((1, 2), False, "nonsaturating", 0.9, "uniform", 5),
        ((2, 1), True, "nonsaturating", 0.9, "random", 5),
        ((2, 1), False, "minimax", 1.0, "normal", 4),
    ]
    for (d, g), fz, gl, ls, prior, k in cover:
        out[case_name(model, prior, d, g, gl, ls, fz, f"-k{k}")] = _kw(prior, d, g, gl, ls, fz, arch={"kernel_size": k})
    out[case_name(model, "uniform", 2, 1, "nonsaturating", 1.0, False, "-k5-fresh")] = _kw(
        "uniform", 2, 1, "nonsaturating", 1.0, False, fresh_noise=True, arch={"kernel_size": 5})
    out["dcgan-normal-3iters-k5"] = dict(prior="normal", iterations=3, arch={"kernel_size": 5})
    out["dcgan-knob-k5-same"] = dict(arch={"kernel_size": 5, "padding": "same"})
    out["dcgan-knob-nobn"] = dict(arch={"kernel_size": 5, "batch_norm": False, "bias_init": 0.1})
    out["dcgan-knob-nobn-unfrozen"] = dict(freeze_d=False, g_steps=2, arch={"kernel_size": 4, "batch_norm": False})
    out["dcgan-knob-slope01-trunc"] = dict(arch={"kernel_size": 4, "leaky_slope": 0.1,
                                                 "weight_init": "truncated_normal"})
    out["dcgan-knob-sumloss-probloss"] = dict(loss_reduction="sum", loss_form="probability", arch={"kernel_size": 5})
    out["dcgan-knob-blog-unfrozen"] = dict(freeze_d=False, arch={"kernel_size": 4, **BLOG_ARCH})
    for r, kw in RECIPES.items():
        if kw["model"] == "dcgan":
            out[f"recipe-{r}"] = dict(iterations=2, **{k: v for k, v in recipe_kw(r).items() if k != "model"})
    return out


# D saturated on purpose (every bias 1000: D's logits are ~1e3 away from 0, G's images all ones): the
# logits form stays finite, the sources' log(sigmoid(.)) takes log(0). Their updates are NaN by design,
# so they stay out of step_cases (whose updates every framework must match).
SATURATED_CASES = {
    "saturated-logits": dict(arch={"bias_init": 1000.0}),
    "saturated-probability": dict(loss_form="probability", arch={"bias_init": 1000.0}),
}


def step_spec(model: str, kw: dict) -> tuple[dict, int]:
    kw = copy.deepcopy(kw)
    iterations = kw.pop("iterations", 1)
    arch = {**STEP_MODEL_KW[model].get("arch", {}), **kw.pop("arch", {})}
    base = {k: v for k, v in STEP_MODEL_KW[model].items() if k != "arch"}
    return make_spec(**{**base, **kw, "arch": arch}), iterations


# ------------------------------------------------------------------ inputs
def synthetic_mnist(n: int = 512, seed: int = 123) -> dict[str, np.ndarray]:
    """Random 'MNIST-like' uint8 arrays with the dataset file's keys (digit-ish blobs)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    imgs = np.zeros((n, 28, 28), np.float64)
    for i in range(n):
        cy, cx = rng.uniform(8, 20, 2)
        r = rng.uniform(3, 7)
        imgs[i] = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2)))
    imgs = np.clip(imgs * 255 + rng.normal(0, 20, imgs.shape), 0, 255).astype(np.uint8)[..., None]
    labels = rng.integers(0, 10, n).astype(np.uint8)
    return {"train_images": imgs, "train_labels": labels,
            "test_images": imgs[: n // 4].copy(), "test_labels": labels[: n // 4].copy()}


def random_state(spec: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A non-trivial state: O(1)-activation weights, random biases and BN statistics."""
    state = {}
    for p in runkit.param_specs(spec):
        fan_in = int(np.prod(p.shape[:-1])) if p.layer in ("dense", "conv") else None
        if p.layer == "deconv":  # (kh, kw, out, in): fan-in per output ~ kh*kw*in/4 for stride 2
            fan_in = max(1, p.shape[0] * p.shape[1] * p.shape[3] // 4)
        if fan_in:
            arr = rng.normal(0, 1.0 / np.sqrt(fan_in), p.shape)
        elif p.name.endswith("moving_var"):
            arr = rng.uniform(0.5, 2.0, p.shape)
        elif p.name.endswith("gamma"):
            arr = rng.uniform(0.5, 1.5, p.shape)
        else:  # biases, beta, moving_mean
            arr = rng.normal(0, 0.1, p.shape)
        state[p.name] = arr.astype(np.float32)
    return state


def write_inputs(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def state_arrays(state: dict) -> dict:
    return {f"state/{k}": v for k, v in state.items()}


# Adam settings of the recipes and presets: (lr, beta1, beta2, eps)
ADAM_SETTINGS = {"lr2e-4_b0.5": (2e-4, 0.5, 0.999, 1e-8), "lr2e-4_b0.9": (2e-4, 0.9, 0.999, 1e-8),
                 "lr1e-3_b0.9": (1e-3, 0.9, 0.999, 1e-8), "lr1e-3_b0.5_b2_0.99": (1e-3, 0.5, 0.99, 1e-8)}
ADAM_STEPS = 6


def adam_inputs(rng: np.random.Generator, steps: int = ADAM_STEPS) -> list[np.ndarray]:
    """Gradients [T, ...] for two tensors; each element keeps its sign over the steps (so the
    summed update never cancels) and magnitudes span 1e-10 .. 1 (eps matters at the low end)."""
    out = []
    for shape in ((64, 32), (257,)):
        sign = rng.choice([-1.0, 1.0], size=shape)
        mag = 10.0 ** rng.uniform(-10, 0, size=shape)
        out.append((sign * mag * (1 + 0.5 * rng.uniform(-1, 1, size=(steps, *shape)))).astype(np.float32))
    return out


def adam_reference(grads: list[np.ndarray], lr, b1, b2, eps) -> list[np.ndarray]:
    """Algorithm 1 of the Adam paper in float64 (eps added to the bias-corrected sqrt(v)), from p = 0."""
    res = []
    for g in grads:
        g = g.astype(np.float64)
        p, m, v = np.zeros(g.shape[1:]), np.zeros(g.shape[1:]), np.zeros(g.shape[1:])
        for t in range(1, len(g) + 1):
            m = b1 * m + (1 - b1) * g[t - 1]
            v = b2 * v + (1 - b2) * g[t - 1] ** 2
            p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        res.append(p)
    return res


def build_jobs(tmp: Path, data: dict) -> tuple[list[dict], dict]:
    """All cases (same list for each framework) and the metadata the tests need."""
    cases, meta = [], {"step": {}, "forward": {}, "count": {}, "init": {}, "adam": {}}
    rng = np.random.default_rng(11)
    for name, hyper in ADAM_SETTINGS.items():
        grads = adam_inputs(rng)
        arrays = {f"grads_{i}": g for i, g in enumerate(grads)}
        arrays.update({f"p0_{i}": np.zeros(g.shape[1:], np.float32) for i, g in enumerate(grads)})
        path = write_inputs(tmp / f"adam-{name}.npz", hyper=np.array(hyper, np.float64), **arrays)
        cases.append({"name": f"adam-{name}", "kind": "adam", "spec": make_spec("basic", z_dim=4,
                                                                               arch={"hidden": 4}),
                      "inputs": path})
        meta["adam"][name] = {"case": f"adam-{name}", "reference": adam_reference(grads, *hyper)}
    for name, kw in INIT_ARCHS.items():
        cases.append({"name": f"init-{name}", "kind": "init", "spec": make_spec(**kw)})
        meta["init"][name] = f"init-{name}"
    for name, kw in COUNT_ARCHS.items():
        cases.append({"name": f"count-{name}", "kind": "count", "spec": make_spec(**kw)})
        meta["count"][name] = f"count-{name}"
    for name, kw in FORWARD_ARCHS.items():
        spec = make_spec(**kw)
        # archs with the same parameter shapes get the same state and inputs (knob pairs compare directly)
        shapes = repr([(p.name, p.shape) for p in runkit.param_specs(spec)] + [spec["z_dim"], spec["image_size"]])
        rng = np.random.default_rng([7, zlib.crc32(shapes.encode())])
        state = random_state(spec, rng)
        z = runkit.sample_noise(rng, "normal", (8, spec["z_dim"]))
        kind = runkit.output_kind(spec)
        x = runkit.data.scale_np(runkit.prepare_images(data["train_images"][:8], spec), kind)
        path = write_inputs(tmp / f"fwd-{name}.npz", z=z, x=x, **state_arrays(state))
        cases.append({"name": f"fwd-{name}", "kind": "forward", "spec": spec, "inputs": path})
        meta["forward"][name] = {"case": f"fwd-{name}", "state": state, "inputs": path}
    for model in ("basic", "dcgan"):
        prepared = {}
        extra = SATURATED_CASES if model == "basic" else {}
        for name, kw in {**step_cases(model), **extra}.items():
            spec, iters = step_spec(model, kw)
            key = (spec["image_size"], runkit.output_kind(spec))
            if key not in prepared:
                prepared[key] = runkit.prepare_images(data["train_images"], spec)
            images = prepared[key]
            st = runkit.make_streams(0)
            state = runkit.init_params(spec, st.init)
            # inputs depend only on (model, prior, iterations): cases that differ in a knob see the
            # same numbers (shorter schedules use a prefix), so knob effects can be compared directly
            r = np.random.default_rng([0 if model == "basic" else 1, PRIORS.index(spec["prior"]), iters])
            b, zd = spec["batch_size"], spec["z_dim"]
            base_idx = r.permutation(len(images))[: iters * 2 * b].reshape(iters, 2, b)
            base_noise = runkit.sample_noise(r, spec["prior"], (iters, 4, b, zd))
            idx = base_idx[:, : spec["d_steps"]]
            noise = base_noise[:, : runkit.noise_batches_per_iteration(spec)]
            path = write_inputs(tmp / f"step-{name}.npz", data=images, idx=idx, noise=noise, **state_arrays(state))
            cases.append({"name": name, "kind": "step", "spec": spec, "inputs": path})
            meta["step"][name] = {"spec": spec, "state": state, "iterations": iters}
    return cases, meta


def run_workers(tmp: Path, cases: list[dict], frameworks=("pytorch", "tensorflow"), timeout: int = 600,
                split: dict | None = None):
    """Worker processes (``split[fw]`` per framework, default 1), all run concurrently.

    Returns {framework: {key: array, "_timings": {case: seconds}}}.
    """
    split = split or {}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", GANBENCH_THREADS=os.environ.get("GANBENCH_THREADS", "1"))
    procs = {}
    for fw in frameworks:
        n = split.get(fw, 1)
        for part in range(n):
            tag = f"{fw}-{part}"
            job = {"impl_dir": str(IMPLS[fw]), "out": str(tmp / f"out-{tag}.npz"), "cases": cases[part::n]}
            job_path = tmp / f"job-{tag}.json"
            job_path.write_text(json.dumps(job))
            procs[(fw, tag)] = subprocess.Popen([sys.executable, str(WORKER), str(job_path)], env=env,
                                                cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                text=True)
    results, t0 = {fw: {"_timings": {}} for fw in frameworks}, time.monotonic()
    try:
        for (fw, tag), p in procs.items():
            _, err = p.communicate(timeout=max(1, timeout - (time.monotonic() - t0)))
            if p.returncode != 0:
                raise RuntimeError(f"{fw} worker failed (rc {p.returncode}):\n{err[-4000:]}")
            with np.load(tmp / f"out-{tag}.npz") as npz:
                results[fw].update({k: npz[k] for k in npz.files})
            results[fw]["_timings"].update(json.loads((tmp / f"out-{tag}.npz.timings.json").read_text()))
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    return results
