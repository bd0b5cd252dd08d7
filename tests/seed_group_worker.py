"""Worker of tests/test_seed_groups.py: one framework's seed-group engine against its single-seed engine.

    python tests/seed_group_worker.py <impl> <out folder> <data.npz> <cases.json>

cases.json: {case: {"spec": spec, "ks": [1, 3, 5]}}. For each case it writes, under <out>/<case>/:

* ``engine.npz``: a group of 3 and three single-seed engines loaded with the same initial weights
  (seed k's own init stream): ``<who>/fwd_g/<k>``, ``<who>/fwd_d/<k>`` (inference mode), and the
  canonical state before (``before/<k>/<name>``) and after one iteration on the same inputs
  (``<who>/after/<k>/<name>``), who = single | group;
* ``single-<seed>/`` run folders from runkit's single-seed driver, ``k<K>-<seed>/`` from the
  seed-group driver with K seeds (the seeds 0 .. K-1), for each K of the case.
One process, one framework, one thread (as the train rule runs an impl).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("GANBENCH_THREADS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

from ganbench import runkit  # noqa: E402
from ganbench.impl_entry import load_member  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ENGINE_K = 3


def engine_check(impl: Path, spec: dict, data: Path) -> dict:
    engine_cls = load_member(impl, "engine:Engine")
    group_cls = load_member(impl, "seed_group:SeedGroupEngine")
    images = runkit.load_train_images(data, spec)
    group = group_cls(spec, list(range(1, ENGINE_K + 1)))
    group.set_data(images)
    out, singles = {}, []
    rng = np.random.default_rng(99)
    z = runkit.sample_noise(rng, spec["prior"], (16, spec["z_dim"]))
    x = rng.uniform(-1, 1, (16, *images.shape[1:])).astype(np.float32)
    x = x.reshape(16, -1) if spec["model"] == "basic" else x
    for k in range(ENGINE_K):
        state = runkit.init_params(spec, runkit.make_streams(k).init)
        group.load_state(k, state)
        single = engine_cls(spec, k + 1)
        single.set_data(images)
        single.load_state(state)
        singles.append(single)
        out.update({f"before/{k}/{n}": v for n, v in state.items()})
    for k, single in enumerate(singles):
        for who, fg, fd in (("single", single.generate, lambda a: single.forward_d(a, False)),
                            ("group", lambda a: group.generate(k, a), lambda a: group.forward_d(k, a, False))):
            out[f"{who}/fwd_g/{k}"], out[f"{who}/fwd_d/{k}"] = fg(z), fd(x)
    plans = [runkit.ChunkPlanner(spec, len(images), *(lambda st: (st.batches, st.noise))(runkit.make_streams(k)))
             .plan(1) for k in range(ENGINE_K)]
    out["group/metrics"] = group.fetch(group.train_chunk(np.stack([p[0] for p in plans]),
                                                         np.stack([p[1] for p in plans])))
    out["single/metrics"] = np.stack([s.fetch(s.train_chunk(*p)) for s, p in zip(singles, plans)])
    for k, single in enumerate(singles):
        out.update({f"single/after/{k}/{n}": v for n, v in single.export_state().items()})
        out.update({f"group/after/{k}/{n}": v for n, v in group.export_state(k).items()})
    return out


def main(impl_name: str, out: Path, data: Path, cases: dict) -> None:
    impl = REPO / "impls" / impl_name
    engine_cls = load_member(impl, "engine:Engine")
    group_cls = load_member(impl, "seed_group:SeedGroupEngine")
    for case, c in cases.items():
        spec, ks = c["spec"], c["ks"]
        folder = out / case
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "engine.npz", **engine_check(impl, spec, data))
        for seed in range(max(ks)):
            runkit.run_training({**spec, "seed": seed, "run_id": f"single-{seed}"}, data, folder / f"single-{seed}",
                                engine_cls)
        for k in ks:
            specs = [{**spec, "seed": seed, "run_id": f"k{k}-{seed}"} for seed in range(k)]
            runkit.run_group(specs, data, [folder / s["run_id"] for s in specs], group_cls)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), json.loads(Path(sys.argv[4]).read_text()))
