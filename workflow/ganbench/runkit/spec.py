"""Load and validate a run's ``spec.json`` (see impls/README.md, section 3).

``load_spec(path)`` returns a plain dict with every contract key checked and
the ``arch`` defaults filled in. Any problem raises :class:`SpecError` whose
message names the file and the offending key. Unknown keys are kept and
ignored, as the contract requires.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

MODELS = ("basic", "dcgan")
PRIORS = ("uniform", "random", "normal")
G_LOSSES = ("nonsaturating", "minimax")
# how the per-sample cross-entropy terms become a loss: their batch mean (every recipe) or their sum
# (= batch_size x the mean: the gradient's scale, which Adam almost cancels but for eps)
LOSS_REDUCTIONS = ("mean", "sum")
# how the cross-entropy is computed from D's logit x: "logits" = softplus terms (-log sigmoid(x) =
# softplus(-x)), stable for any x; "probability" = the sources' log(D(x)) with D(x) = sigmoid(x) in
# float32, which reaches log(0) = -inf once sigmoid saturates (|x| > ~17 for 1 - sigmoid, ~88 for sigmoid)
LOSS_FORMS = ("logits", "probability")
DEVICES = ("auto", "cpu", "cuda")
# dataset -> (native image size, channels) of results/data/<dataset>.npz (re-exported by ganbench.data);
# BasicGAN trains at the native size, the DCGAN at 32 or 64 (runkit.data.prepare_images)
DATASET_GEOMETRY = {"mnist": (28, 1), "fashion_mnist": (28, 1), "celeba": (64, 3)}

ARCH_DEFAULTS = {
    "basic": {"hidden": 128, "output": "sigmoid", "hidden_activation": "relu", "leaky_slope": 0.2,
              "weight_init": "xavier_uniform", "init_std": 0.02, "bias_init": 0.0},
    "dcgan": {"base_width": 64, "kernel_size": 5, "padding": "symmetric", "batch_norm": True, "bn_momentum": 0.1,
              "bn_eps": 1e-5, "weight_init": "normal", "init_std": 0.02, "bias_init": 0.0, "leaky_slope": 0.2,
              # the DCGAN post's TF-1 variant (runkit.params doc): every default keeps the common DCGAN
              "g_width_mult": 1, "projection_bn": True, "bn_scale": True, "outer_conv_bias": True,
              "dense_init": None, "dense_init_std": None, "bn_inference": "running"},
}
# how BN normalises outside training (samples, grids, D probes): "running" = its running statistics;
# "batch" = the statistics of the batch itself, in batches of batch_size, running statistics untouched
# (the DCGAN post's graph: tf.contrib.layers.batch_norm with is_training left at True)
BN_INFERENCE = ("running", "batch")
WEIGHT_INITS = ("xavier_uniform", "normal", "truncated_normal")
HIDDEN_ACTIVATIONS = ("relu", "leaky_relu")
PADDINGS = ("symmetric", "same")
# optional top-level keys: key -> default (validated below)
# (recipe and deviations are informational and optional; curve_samples defaults to eval_samples)
OPTIONAL_DEFAULTS = {"probe_size": 256, "curve_fractions": [], "loss_reduction": "mean", "loss_form": "logits"}
ADAM_DEFAULTS = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}

# key -> (python types, required)
_TOP = {
    "run_id": (str,),
    "study": (str,),
    "impl": (str,),
    "model": (str,),
    "dataset": (str,),
    "seed": (int,),
    "prior": (str,),
    "z_dim": (int,),
    "d_steps": (int,),
    "g_steps": (int,),
    "fresh_noise": (bool,),
    "g_loss": (str,),
    "label_smoothing": (int, float),
    "freeze_d": (bool,),
    "optim": (dict,),
    "optim_preset": (str,),
    "batch_size": (int,),
    "steps": (int,),
    "image_size": (int,),
    "channels": (int,),
    "arch": (dict,),
    "eval_samples": (int,),
    "log_every": (int,),
    "grid_every": (int,),
    "grid_size": (int,),
    "device": (str,),
    "compile": (bool,),
}
REQUIRED_KEYS = tuple(_TOP)


class SpecError(ValueError):
    """spec.json is missing a key or holds a bad value; the message names it (``key``: the bad
    key, dotted for nested ones, e.g. ``optim.d.lr``; None for a missing key or a bad top level)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def _type_ok(value: Any, types: tuple) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False  # True is an int in Python; never accept it as a number
    return isinstance(value, types)


class _SpecChecker:
    """validate_spec's checks, one method per part of the spec; every failure a SpecError naming the key."""

    def __init__(self, spec: dict, source: str):
        self.spec, self.source = spec, source

    def bad(self, key: str, why: str) -> SpecError:
        return SpecError(f"{self.source}: key '{key}' {why}", key)

    def choice(self, key: str, allowed: tuple) -> None:
        if self.spec[key] not in allowed:
            raise self.bad(key, f"must be one of {list(allowed)}, got {self.spec[key]!r}")

    def positive(self, key: str) -> None:
        if self.spec[key] <= 0:
            raise self.bad(key, f"must be > 0, got {self.spec[key]!r}")

    def arch_number(self, key: str, lo: float, hi: float | None = None, lo_open: bool = False) -> None:
        arch = self.spec["arch"]
        v = arch[key]
        ok = _type_ok(v, (int, float)) and math.isfinite(v) and (v > lo if lo_open else v >= lo)
        if hi is not None:
            ok = ok and v < hi
        if not ok:
            rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'})"
            raise self.bad(f"arch.{key}", f"must be a number in {rng}, got {v!r}")
        arch[key] = float(v)

    def top_level(self) -> None:
        """Required keys' types and values (the dataset fixes the channels)."""
        spec = self.spec
        missing = [k for k in REQUIRED_KEYS if k not in spec]
        if missing:
            raise SpecError(f"{self.source}: missing required key(s): {', '.join(repr(k) for k in missing)}")
        for key, types in _TOP.items():
            if not _type_ok(spec[key], types):
                names = "/".join(t.__name__ for t in types)
                raise self.bad(key, f"must be {names}, got {spec[key]!r} ({type(spec[key]).__name__})")
        self.choice("model", MODELS)
        self.choice("prior", PRIORS)
        self.choice("g_loss", G_LOSSES)
        self.choice("device", DEVICES)
        if spec["dataset"] not in DATASET_GEOMETRY:
            raise self.bad("dataset", f"must be one of {list(DATASET_GEOMETRY)}, got {spec['dataset']!r}")
        native, channels = DATASET_GEOMETRY[spec["dataset"]]
        for key in ("z_dim", "d_steps", "g_steps", "batch_size", "steps", "eval_samples", "log_every", "channels"):
            self.positive(key)
        if spec["seed"] < 0:
            raise self.bad("seed", f"must be >= 0, got {spec['seed']}")
        if spec["grid_every"] < 0:
            raise self.bad("grid_every", f"must be >= 0, got {spec['grid_every']}")
        root = math.isqrt(spec["grid_size"]) if spec["grid_size"] > 0 else 0
        if spec["grid_size"] <= 0 or root * root != spec["grid_size"]:
            raise self.bad("grid_size", f"must be a positive square number, got {spec['grid_size']}")
        ls = spec["label_smoothing"]
        if not (0 < ls <= 1):
            raise self.bad("label_smoothing", f"must be in (0, 1], got {ls!r}")
        if spec["channels"] != channels:
            raise self.bad("channels", f"must be {channels} for dataset {spec['dataset']!r}, got {spec['channels']}")

    def optimiser(self) -> None:
        """optim.d / optim.g: Adam's lr (required), beta1, beta2, eps (defaults filled in)."""
        spec = self.spec
        optim = spec["optim"]
        for net in ("d", "g"):
            if net not in optim or not isinstance(optim[net], dict):
                raise self.bad(f"optim.{net}", "is missing or not an object {lr, beta1, beta2, eps}")
            o = optim[net]
            if "lr" not in o:
                raise self.bad(f"optim.{net}.lr", "is missing")
            for k, default in ADAM_DEFAULTS.items():
                o.setdefault(k, default)
            for k in ("lr", "beta1", "beta2", "eps"):
                if not _type_ok(o[k], (int, float)):
                    raise self.bad(f"optim.{net}.{k}", f"must be a number, got {o[k]!r}")
                o[k] = float(o[k])
            if not (o["lr"] > 0 and math.isfinite(o["lr"])):
                raise self.bad(f"optim.{net}.lr", f"must be a finite number > 0, got {o['lr']!r}")
            for k in ("beta1", "beta2"):
                if not (0 <= o[k] < 1):
                    raise self.bad(f"optim.{net}.{k}", f"must be in [0, 1), got {o[k]!r}")
            if not o["eps"] > 0:
                raise self.bad(f"optim.{net}.eps", f"must be > 0, got {o['eps']!r}")

    def optional(self) -> None:
        """Probes, learning-curve samples, the loss's reduction and form, recipe bookkeeping."""
        spec = self.spec
        for k, default in OPTIONAL_DEFAULTS.items():
            spec.setdefault(k, default)
        self.choice("loss_reduction", LOSS_REDUCTIONS)
        self.choice("loss_form", LOSS_FORMS)
        spec.setdefault("curve_samples", spec["eval_samples"])
        if not (_type_ok(spec["probe_size"], (int,)) and spec["probe_size"] >= 0):
            raise self.bad("probe_size", f"must be an int >= 0, got {spec['probe_size']!r}")
        if not (_type_ok(spec["curve_samples"], (int,)) and spec["curve_samples"] > 0):
            raise self.bad("curve_samples", f"must be an int > 0, got {spec['curve_samples']!r}")
        fr = spec["curve_fractions"]
        if not isinstance(fr, list) or not all(_type_ok(f, (int, float)) and 0 < f < 1 for f in fr):
            raise self.bad("curve_fractions", f"must be a list of numbers in (0, 1), got {fr!r}")
        spec["curve_fractions"] = [float(f) for f in fr]
        if "checkpoint_every" in spec and spec["checkpoint_every"] is not None:
            ce = spec["checkpoint_every"]
            if not (_type_ok(ce, (int,)) and ce >= 0):
                raise self.bad("checkpoint_every", f"must be an int >= 0 (0 = no checkpoints), got {ce!r}")
        if "recipe" in spec and not isinstance(spec["recipe"], str):
            raise self.bad("recipe", f"must be a string, got {spec['recipe']!r}")
        if "deviations" in spec and not isinstance(spec["deviations"], dict):
            raise self.bad("deviations", f"must be an object, got {spec['deviations']!r}")

    def architecture(self) -> None:
        """The model's arch, its defaults (ARCH_DEFAULTS) filled in."""
        spec = self.spec
        model, arch = spec["model"], spec["arch"]
        for k, default in ARCH_DEFAULTS[model].items():
            arch.setdefault(k, default)
        if arch["weight_init"] not in WEIGHT_INITS:
            raise self.bad("arch.weight_init", f"must be one of {list(WEIGHT_INITS)}, got {arch['weight_init']!r}")
        self.arch_number("init_std", 0.0, lo_open=True)
        self.arch_number("bias_init", -math.inf)
        self.arch_number("leaky_slope", 0.0, 1.0)
        if model == "basic":
            self.basic_arch()
        else:
            self.dcgan_arch()

    def basic_arch(self) -> None:
        spec, arch = self.spec, self.spec["arch"]
        native = DATASET_GEOMETRY[spec["dataset"]][0]
        if arch["hidden_activation"] not in HIDDEN_ACTIVATIONS:
            raise self.bad("arch.hidden_activation",
                      f"must be one of {list(HIDDEN_ACTIVATIONS)}, got {arch['hidden_activation']!r}")
        if spec["image_size"] != native:
            raise self.bad("image_size", f"must be {native} for model 'basic' on dataset {spec['dataset']!r} "
                                    f"(its own image size), got {spec['image_size']}")
        if not (_type_ok(arch["hidden"], (int,)) and arch["hidden"] > 0):
            raise self.bad("arch.hidden", f"must be a positive int, got {arch['hidden']!r}")
        for key in ("g_hidden", "d_hidden"):  # one network's width, overriding hidden
            if arch.get(key) is None:
                arch[key] = arch["hidden"]
            elif not (_type_ok(arch[key], (int,)) and arch[key] > 0):
                raise self.bad(f"arch.{key}", f"must be a positive int (or null: arch.hidden), got {arch[key]!r}")
        if arch["output"] not in ("sigmoid", "tanh"):
            raise self.bad("arch.output", f"must be 'sigmoid' or 'tanh', got {arch['output']!r}")

    def dcgan_arch(self) -> None:
        spec, arch = self.spec, self.spec["arch"]
        if spec["image_size"] not in (32, 64):
            raise self.bad("image_size", f"must be 32 or 64 for model 'dcgan', got {spec['image_size']}")
        if not (_type_ok(arch["base_width"], (int,)) and arch["base_width"] > 0):
            raise self.bad("arch.base_width", f"must be a positive int, got {arch['base_width']!r}")
        if arch["kernel_size"] not in (4, 5) or isinstance(arch["kernel_size"], bool):
            raise self.bad("arch.kernel_size", f"must be 4 or 5, got {arch['kernel_size']!r}")
        m = arch["bn_momentum"]
        if not (_type_ok(m, (int, float)) and 0 < m <= 1):
            raise self.bad("arch.bn_momentum", f"must be in (0, 1] (PyTorch convention), got {m!r}")
        e = arch["bn_eps"]
        if not (_type_ok(e, (int, float)) and e > 0):
            raise self.bad("arch.bn_eps", f"must be > 0, got {e!r}")
        arch["bn_momentum"] = float(m)
        arch["bn_eps"] = float(e)
        if arch["padding"] not in PADDINGS:
            raise self.bad("arch.padding", f"must be one of {list(PADDINGS)}, got {arch['padding']!r}")
        for key in ("batch_norm", "projection_bn", "bn_scale", "outer_conv_bias"):
            if not isinstance(arch[key], bool):
                raise self.bad(f"arch.{key}", f"must be true or false, got {arch[key]!r}")
        if not (_type_ok(arch["g_width_mult"], (int,)) and arch["g_width_mult"] > 0):
            raise self.bad("arch.g_width_mult", f"must be a positive int (G's widths over D's), got {arch['g_width_mult']!r}")
        if arch["dense_init"] is not None and arch["dense_init"] not in WEIGHT_INITS:
            raise self.bad("arch.dense_init", f"must be null (= weight_init) or one of {list(WEIGHT_INITS)}, "
                                         f"got {arch['dense_init']!r}")
        if arch["dense_init_std"] is not None:
            self.arch_number("dense_init_std", 0.0, lo_open=True)
        if arch["bn_inference"] not in BN_INFERENCE:
            raise self.bad("arch.bn_inference", f"must be one of {list(BN_INFERENCE)}, got {arch['bn_inference']!r}")


def validate_spec(spec: dict, source: str = "spec") -> dict:
    """Check ``spec`` against the contract; returns a copy with arch defaults filled in."""
    if not isinstance(spec, dict):
        raise SpecError(f"{source}: top level must be a JSON object, got {type(spec).__name__}")
    check = _SpecChecker(json.loads(json.dumps(spec)), source)  # a deep copy, JSON types only
    check.top_level()
    check.optimiser()
    check.optional()
    check.architecture()
    return check.spec


def bn_batch_inference(spec: dict) -> bool:
    """True when a validated spec's G and D normalise with batch statistics outside training too."""
    return spec["model"] == "dcgan" and spec["arch"]["batch_norm"] and spec["arch"]["bn_inference"] == "batch"


def loss_scale(spec: dict) -> float:
    """The factor from the cross-entropy terms' batch mean to the loss a validated spec minimises:
    batch_size for ``loss_reduction: sum`` (the summed terms), else 1."""
    return float(spec["batch_size"]) if spec["loss_reduction"] == "sum" else 1.0


def load_spec(path: str | Path) -> dict:
    """Read and validate ``spec.json``; raises :class:`SpecError` naming the bad key."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec file ({exc.strerror or exc})") from exc
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not valid JSON ({exc})") from exc
    return validate_spec(spec, source=str(path))
