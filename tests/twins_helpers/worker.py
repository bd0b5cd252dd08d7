"""Run twin-test cases inside ONE framework process: python worker.py JOB.json

JOB = {"impl_dir": path, "out": path.npz, "cases": [case, ...]}; each case has
"name", "kind" and "spec" (a full spec dict), and for most kinds "inputs" (an
npz). Results go to one npz keyed "<case>/<what>":

count    -> count (trainable scalars, as the framework counts them)
forward  -> inputs state/<canonical>, z, x; g_train, g_eval, d_train, d_eval,
            state_after/<canonical> (train-mode forwards advance BN statistics)
step     -> inputs state/<canonical>, data (prepared uint8), idx [K,d,B], noise [K,n,B,z];
            runs K iterations as one chunk; stats [K,4], state/<canonical>, opt_steps [2],
            opt/<d|g>/<step|m/<canonical>|v/<canonical>> (engine.optimizer_state())
init     -> the run's own initial state (runkit.init_params) loaded and exported: state/<canonical>;
            names: the framework's own parameter/variable names; modules: torch module class names
adam     -> inputs p0_<i>, grads_<i> [T, ...], hyper (lr, b1, b2, eps); the impl's Adam applied T
            times; p_<i> (the parameters after T steps)
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def _state(npz, prefix="state/"):
    return {k[len(prefix):]: npz[k] for k in npz.files if k.startswith(prefix)}


def _native_names(eng) -> list[str]:
    """The framework's own names of every parameter / BN statistic the model holds."""
    if eng.framework == "pytorch":
        return [f"{tag}.{n}" for tag, net in (("G", eng.G), ("D", eng.D))
                for n, _ in list(net.named_parameters()) + list(net.named_buffers())]
    if eng.framework == "jax":  # the params pytree's keys (canonical names) and the BN statistics
        return [n for net in ("G", "D") for n in eng.params[net]] + list(eng.bn_stats)
    return [v.name for net in (eng.G, eng.D) for v in net.variables]


def _adam(framework: str, arrays: dict) -> dict:
    """Apply the impl's PaperAdam T times to zero-initialised parameters with the given gradients."""
    lr, b1, b2, eps = (float(x) for x in arrays["hyper"])
    n = len([k for k in arrays if k.startswith("p0_")])
    p0 = [arrays[f"p0_{i}"] for i in range(n)]
    grads = [arrays[f"grads_{i}"] for i in range(n)]
    steps = grads[0].shape[0]
    if framework == "jax":
        import jax
        from ganbench.runkit import bias_scalars
        import adam as jax_adam
        hyper = {"beta1": b1, "beta2": b2, "eps": eps}
        step = jax.jit(lambda ps, gs, st, sc: jax_adam.update(ps, gs, st, hyper, sc[0], sc[1]))
        ps = [jax.numpy.asarray(p) for p in p0]
        st = jax_adam.init(ps)
        for t in range(steps):
            sc = bias_scalars(lr, b1, b2, t + 1, 1)[0].astype(np.float32)
            ps, st = step(ps, [g[t] for g in grads], st, sc)
        return {f"p_{i}": np.asarray(p) for i, p in enumerate(ps)}
    from adam import PaperAdam
    if framework == "pytorch":
        import torch
        ps = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in p0]
        opt = PaperAdam(ps, lr=lr, beta1=b1, beta2=b2, eps=eps)
        for t in range(steps):
            for p, g in zip(ps, grads):
                p.grad = torch.from_numpy(g[t].copy())
            opt.step()
        return {f"p_{i}": p.detach().numpy() for i, p in enumerate(ps)}
    import tensorflow as tf
    vs = [tf.Variable(p) for p in p0]
    opt = PaperAdam(vs, lr=lr, beta1=b1, beta2=b2, eps=eps)
    step = tf.function(lambda gs: opt.apply(gs, vs))
    for t in range(steps):
        step([tf.constant(g[t]) for g in grads])
    return {f"p_{i}": v.numpy() for i, v in enumerate(vs)}


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    from ganbench import runkit
    from ganbench.impl_entry import load_member

    Engine = load_member(Path(job["impl_dir"]))  # the impl's own engine (one framework per process)

    out: dict[str, np.ndarray] = {}
    timings = {}
    for case in job["cases"]:
        t = time.perf_counter()
        name, kind = case["name"], case["kind"]
        spec = runkit.validate_spec(case["spec"])
        eng = Engine(spec, 0, device="cpu")
        if kind == "count":
            out[f"{name}/count"] = np.array(eng.param_count())
        elif kind == "forward":
            with np.load(case["inputs"]) as npz:
                eng.load_state(_state(npz))
                z, x = npz["z"], npz["x"]
            out[f"{name}/g_eval"] = eng.forward_g(z, training=False)
            out[f"{name}/d_eval"] = eng.forward_d(x, training=False)
            out[f"{name}/g_train"] = eng.forward_g(z, training=True)
            out[f"{name}/d_train"] = eng.forward_d(x, training=True)
            for k, v in eng.export_state().items():
                out[f"{name}/state_after/{k}"] = v
        elif kind == "step":
            with np.load(case["inputs"]) as npz:
                eng.load_state(_state(npz))
                eng.set_data(npz["data"])
                idx, noise = npz["idx"], npz["noise"]
            out[f"{name}/stats"] = eng.fetch(eng.train_chunk(idx, noise))
            for k, v in eng.export_state().items():
                out[f"{name}/state/{k}"] = v
            out[f"{name}/opt_steps"] = np.array(eng.optimizer_steps())
            for k, v in eng.optimizer_state().items():
                out[f"{name}/opt/{k}"] = v
        elif kind == "init":
            eng.load_state(runkit.init_params(spec, runkit.make_streams(spec["seed"]).init))
            for k, v in eng.export_state().items():
                out[f"{name}/state/{k}"] = v
            out[f"{name}/names"] = np.array(_native_names(eng))
            if eng.framework == "pytorch":
                out[f"{name}/modules"] = np.array(sorted({type(m).__name__ for net in (eng.G, eng.D)
                                                           for m in net.modules()}))
        elif kind == "adam":
            with np.load(case["inputs"]) as npz:
                arrays = {k: npz[k] for k in npz.files}
            for k, v in _adam(eng.framework, arrays).items():
                out[f"{name}/{k}"] = v
        else:
            raise ValueError(f"unknown case kind {kind!r}")
        timings[name] = time.perf_counter() - t
    np.savez(job["out"], **out)
    Path(job["out"] + ".timings.json").write_text(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
