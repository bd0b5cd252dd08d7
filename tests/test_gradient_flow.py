"""runkit.gradient_flow: the gradient that reaches G's first layer and G's dead hidden units,
computed in numpy from the canonical weights, against PyTorch's autograd."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ganbench import runkit
from ganbench.runkit.gradient_flow import GradientFlow, g_first_layer_gradient
from twins_helpers.cases import make_spec


def _torch_reference(state: dict, spec: dict, z: np.ndarray) -> float:
    import torch
    import torch.nn.functional as F

    t = {k: torch.tensor(np.asarray(v, np.float64), requires_grad=(k == "G/fc1/kernel")) for k, v in state.items()}
    a = spec["arch"]
    act = ((lambda h: F.leaky_relu(h, a["leaky_slope"])) if a["hidden_activation"] == "leaky_relu" else F.relu)
    zt = torch.tensor(np.asarray(z, np.float64))
    x = act(zt @ t["G/fc1/kernel"] + t["G/fc1/bias"]) @ t["G/fc2/kernel"] + t["G/fc2/bias"]
    x = torch.tanh(x) if a["output"] == "tanh" else torch.sigmoid(x)
    logit = (act(x @ t["D/fc1/kernel"] + t["D/fc1/bias"]) @ t["D/fc2/kernel"] + t["D/fc2/bias"])[:, 0]
    loss = F.softplus(-logit).mean() if spec["g_loss"] == "nonsaturating" else -F.softplus(logit).mean()
    loss.backward()
    return float(t["G/fc1/kernel"].grad.norm())


@pytest.mark.parametrize("act, out, g_loss", [("relu", "sigmoid", "nonsaturating"), ("leaky_relu", "tanh", "minimax"),
                                              ("leaky_relu", "sigmoid", "nonsaturating")])
def test_first_layer_gradient_is_autograds(act, out, g_loss):
    spec = make_spec("basic", z_dim=12, g_loss=g_loss,
                     arch={"hidden": 16, "d_hidden": 24, "hidden_activation": act, "output": out, "leaky_slope": 0.1})
    state = runkit.init_params(spec, np.random.default_rng(3))
    state["D/fc2/kernel"] = state["D/fc2/kernel"] * 5  # a confident D: gradients far from their starting size
    z = np.random.default_rng(4).uniform(-1, 1, (32, 12))
    norm, _ = g_first_layer_gradient(state, spec, z)
    assert norm > 0 and norm == pytest.approx(_torch_reference(state, spec, z), rel=1e-9)


def test_dead_units_are_the_ones_off_for_every_probe_sample():
    spec = make_spec("basic", z_dim=8, arch={"hidden": 10})
    state = runkit.init_params(spec, np.random.default_rng(5))
    state["G/fc1/bias"] = np.zeros(10, np.float32)
    state["G/fc1/bias"][:3] = -100.0  # three units off for any z in [-1, 1]^8
    z = np.random.default_rng(6).uniform(-1, 1, (64, 8))
    norm, dead = g_first_layer_gradient(state, spec, z)
    assert dead == pytest.approx(0.3)
    # a dead ReLU unit passes no gradient: its column of the first-layer gradient is zero, so
    # removing the three units' weights leaves the norm unchanged
    state["G/fc1/kernel"][:, :3] = 0.0
    assert g_first_layer_gradient(state, spec, z)[0] == pytest.approx(norm, rel=1e-12)


def test_only_basic_runs_with_probes_are_measured():
    class Engine:
        def export_state(self):
            raise AssertionError("not called for a DCGAN or without probes")

    rng = np.random.default_rng(0)
    for spec in (make_spec("dcgan"), make_spec("basic", probe_size=0)):
        assert all(math.isnan(v) for v in GradientFlow(spec, rng).measure(Engine()))
    assert GradientFlow(make_spec("basic", probe_size=16), rng).z.shape == (16, 100)
