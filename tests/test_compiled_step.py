"""The compiled (whole-step captured) iteration agrees with the eager one, in each framework.

``spec.compile`` swaps the engine's training iteration for a captured one (PyTorch: the whole
iteration under ``torch.compile(fullgraph=True)``; TensorFlow: the iteration under XLA
``jit_compile``). From the same initial state, data, indices and noise, one iteration (the
run's first step, a chunk of its own) must move every weight and BN statistic alike in both engines: per weight |delta_compiled - delta_eager|
within the twins' relative tolerance of the update (tests/test_twins.py), the logged stats
within float round-off, the optimizer state and step counts equal. One BasicGAN case (the
BasicGAN post's recipe, freeze_d false, so G's optimizer also steps D) and one DCGAN case
(carpedm20's k5 'same' with batch norm, 1:2 schedule).

Each framework runs in its own subprocess (this file is also the worker:
``python tests/test_compiled_step.py JOB.json``), the two concurrently; each compiles
one graph per case (PyTorch on 2 CPU cores: ~15-40 s per graph).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FRAMEWORKS = ("pytorch", "tensorflow")
CASES = {  # name -> (recipe, make_spec overrides at twin-test size)
    "basic_tutorial-unfrozen": ("basic_tutorial", dict(freeze_d=False, z_dim=20, batch_size=16,
                                                       arch={"hidden": 64})),
    "dcgan_carpedm20": ("dcgan_carpedm20", dict(z_dim=16, batch_size=8, arch={"base_width": 8})),
}
ITERATIONS = 1  # one iteration (the run's first step, a chunk of its own)


# ------------------------------------------------------------------ worker (one framework per process)
def _worker(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    from ganbench import runkit
    from ganbench.impl_entry import load_member

    Engine = load_member(REPO / "impls" / job["framework"])

    out = {}
    for name, spec in job["cases"].items():
        with np.load(job["inputs"][name]) as npz:
            inputs = {k: npz[k] for k in npz.files}
        state = {k[len("state/"):]: v for k, v in inputs.items() if k.startswith("state/")}
        for compiled in (False, True):
            tag = f"{name}/{'compiled' if compiled else 'eager'}"
            eng = Engine(runkit.validate_spec(dict(spec, compile=compiled)), 0, device="cpu")
            eng.load_state(state)
            eng.set_data(inputs["data"])
            stats = [eng.fetch(eng.train_chunk(inputs["idx"][i:i + 1], inputs["noise"][i:i + 1]))
                     for i in range(ITERATIONS)]
            out[f"{tag}/stats"] = np.concatenate(stats)
            out[f"{tag}/opt_steps"] = np.array(eng.optimizer_steps())
            for k, v in eng.export_state().items():
                out[f"{tag}/state/{k}"] = v
            for k, v in eng.optimizer_state().items():
                out[f"{tag}/opt/{k}"] = v
            if compiled and job["framework"] == "pytorch":
                import torch._dynamo.utils
                out[f"{tag}/graphs"] = np.array(torch._dynamo.utils.counters["stats"]["unique_graphs"])
                torch._dynamo.utils.counters.clear()
    np.savez(job["out"], **out)
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))


# ------------------------------------------------------------------ tests
import pytest  # noqa: E402

from ganbench import runkit  # noqa: E402
from test_twins import (DELTA_OUTLIER_FRACTION, DELTA_OUTLIER_RTOL, DELTA_OUTLIERS, DELTA_RTOL,  # noqa: E402
                        STATS_ATOL, update_difference)
from twins_helpers import cases as C  # noqa: E402


def _inputs(tmp: Path, name: str, spec: dict, data: dict) -> Path:
    rng = np.random.default_rng(7)
    images = runkit.prepare_images(data["train_images"], spec)
    n = runkit.noise_batches_per_iteration(spec)
    b = spec["batch_size"]
    arrays = {f"state/{k}": v for k, v in runkit.init_params(spec, runkit.make_streams(0).init).items()}
    arrays["data"] = images
    arrays["idx"] = rng.integers(0, len(images), (ITERATIONS, spec["d_steps"], b)).astype(np.int64)
    arrays["noise"] = runkit.sample_noise(rng, spec["prior"], (ITERATIONS, n, b, spec["z_dim"]))
    path = tmp / f"{name}.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compiled_step")
    data = C.synthetic_mnist()
    specs, inputs = {}, {}
    for name, (recipe, over) in CASES.items():
        kw = C.recipe_kw(recipe, **over)
        specs[name] = C.make_spec(kw.pop("model"), **kw)
        inputs[name] = str(_inputs(tmp, name, specs[name], data))
    env = dict(os.environ, GANBENCH_THREADS="1")
    procs = {}
    for fw in FRAMEWORKS:
        job = tmp / f"{fw}.json"
        job.write_text(json.dumps({"framework": fw, "cases": specs, "inputs": inputs, "out": str(tmp / f"{fw}.npz")}))
        procs[fw] = subprocess.Popen([sys.executable, __file__, str(job)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
    res = {}
    for fw, p in procs.items():
        log, _ = p.communicate(timeout=600)
        assert p.returncode == 0, f"{fw} worker failed:\n{log[-4000:]}"
        with np.load(tmp / f"{fw}.npz") as npz:
            res[fw] = {k: npz[k] for k in npz.files}
    init = {name: {k[len("state/"):]: v for k, v in np.load(inputs[name]).items() if k.startswith("state/")}
            for name in CASES}
    return res, specs, init


def _relative_difference(r, spec, init, name):
    """{tensor: test_twins.update_difference of the eager (reference) and the compiled iteration}."""
    lr = min(spec["optim"]["d"]["lr"], spec["optim"]["g"]["lr"])
    out = {}
    for k, w0 in init.items():
        rel = update_difference(w0, r[f"{name}/eager/state/{k}"], r[f"{name}/compiled/state/{k}"], k, lr,
                                f"{name} eager vs compiled")
        if rel is not None:
            out[k] = rel
    return out


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_compiled_iteration_matches_eager(results, fw, name):
    res, specs, init = results
    r, spec = res[fw], specs[name]
    worst, report = 0.0, []
    for k, rel in _relative_difference(r, spec, init[name], name).items():
        n_out = int((rel > DELTA_RTOL).sum())
        assert n_out <= max(DELTA_OUTLIERS, int(DELTA_OUTLIER_FRACTION * rel.size)), \
            f"{fw} {name} {k}: {n_out} weights differ by > {DELTA_RTOL} of the update ({rel.max():.2e} max)"
        assert rel.max() <= DELTA_OUTLIER_RTOL, f"{fw} {name} {k}: {rel.max():.3g}"
        worst = max(worst, float(rel.max()))
        report.append(k)
    assert any(k.startswith("G/") for k in report) and any(k.startswith("D/") for k in report)
    np.testing.assert_allclose(r[f"{name}/compiled/stats"], r[f"{name}/eager/stats"], rtol=0, atol=STATS_ATOL)
    steps = [ITERATIONS * spec["d_steps"], ITERATIONS * spec["g_steps"]]
    assert list(r[f"{name}/compiled/opt_steps"]) == list(r[f"{name}/eager/opt_steps"]) == steps
    opt = sorted(k for k in r if k.startswith(f"{name}/eager/opt/"))
    assert opt == sorted(k.replace("/compiled/", "/eager/") for k in r if k.startswith(f"{name}/compiled/opt/"))
    for k in opt:  # Adam's moments: same expression, float round-off apart
        a, b = r[k], r[k.replace("/eager/", "/compiled/")]
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-3 * float(np.abs(a).max()) + 1e-30, err_msg=k)
    print(f"{fw} {name}: worst relative |delta_compiled - delta_eager| {worst:.2e}")


def test_pytorch_captures_one_graph_per_engine(results):
    """fullgraph capture, no recompilation between the first step and the next chunk."""
    res, _, _ = results
    for name in CASES:
        assert int(res["pytorch"][f"{name}/compiled/graphs"]) == 1, name
