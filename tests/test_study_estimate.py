"""The study-time estimate of `./ganbench run -n`: step times read back from benchmark logs, and
the wall time they give for a study, checked against sums done by hand."""
from __future__ import annotations

import math
from pathlib import Path

from ganbench.config import load_config
from ganbench.grid import expand_runs
from ganbench.step_times import read_log, size_label
from ganbench.study_estimate import OVERHEAD_S, estimate, report

REPO = Path(__file__).resolve().parents[1]
IMPLS = ["jax", "pytorch", "tensorflow"]
MS = {"pytorch": 10.0, "tensorflow": 20.0, "jax": 40.0}  # ms per iteration in the synthetic log


def smoke():
    return load_config(REPO / ".test" / "config" / "smoke.yaml")


def write_log(path: Path, runs, impls=IMPLS, machine: str | None = "Test CPU (2 cores); device cpu; threads 1") -> Path:
    """A log as impls/benchmark_step_time.py writes it, timing every size of ``runs`` in ``impls``:
    two repetitions each, MS[impl] and 3 x MS[impl] (median 2 x MS[impl])."""
    lines = [f"# machine: {machine}; 2026-12-06"] if machine else []
    for size in sorted({size_label(r.spec) for r in runs.values()}):
        lines.append(f"smoke some-shape ({size}) compile=False")
        for rep, factor in ((1, 1.0), (2, 3.0)):
            lines += [f"[{rep}/2] {impl} some-shape: {MS[impl] * factor:.3f} ms/step" for impl in impls]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_log_is_read_back_by_device_size_impl_and_mode(tmp_path):
    log = tmp_path / "b.log"
    log.write_text("quick basic_tutorial-basic (basic h128 b64 d1g2) compile=True\n"
                   "[1/3] pytorch basic_tutorial-basic: 1.0 ms/step\n"
                   "[2/3] pytorch basic_tutorial-basic: 5.0 ms/step\n"
                   "[3/3] pytorch basic_tutorial-basic: 2.0 ms/step\n"
                   "[1/1] pytorch other-shape: 99.0 ms/step\n"  # not the header's shape: ignored
                   "# machine: Some GPU (16 cores); device cuda; threads 2; 2026-12-06\n"
                   "study dcgan_blog-dcgan (dcgan 32px w64 k5 b64 d1g1 gx2) compile=False\n"
                   "[1/1] jax dcgan_blog-dcgan: 7.5 ms/step\n")
    times = read_log(log)
    assert set(times) == {("cpu", "basic h128 b64 d1g2", "pytorch", True),
                          ("cuda", "dcgan 32px w64 k5 b64 d1g1 gx2", "jax", False)}
    cpu = times[("cpu", "basic h128 b64 d1g2", "pytorch", True)]
    assert cpu.ms_per_step == 2.0 and cpu.machine == "the machine of docs/speed/README.md"  # median of 1, 5, 2
    gpu = times[("cuda", "dcgan 32px w64 k5 b64 d1g1 gx2", "jax", False)]
    assert gpu.ms_per_step == 7.5 and gpu.machine == "Some GPU (16 cores)" and gpu.source == "b.log"


def test_the_wall_time_is_each_runs_iterations_times_its_step_time_over_the_slots(tmp_path):
    config = smoke()
    runs = expand_runs(config, IMPLS)
    measured = read_log(write_log(tmp_path / "b.log", runs))
    by_hand = sum(r.spec["steps"] * 2 * MS[r.spec["impl"]] / 1000 + OVERHEAD_S["cpu"] for r in runs.values())
    est = estimate(config, IMPLS, measured, "cpu", slots=2)
    assert est.jobs_first == est.jobs_cap == len(runs) == 6 and not est.unmeasured
    assert math.isclose(est.seconds_cap, by_hand, rel_tol=1e-12)
    assert math.isclose(est.wall(est.seconds_first), by_hand / 2, rel_tol=1e-12)
    assert est.sources == {("Test CPU (2 cores)", "b.log")}
    # the same study on a GPU: nothing was timed there, so no wall time is claimed
    on_gpu = estimate(config, IMPLS, measured, "cuda", slots=1)
    assert on_gpu.timed_cap == 0 and "no wall time" in report(on_gpu)[0]


def test_an_untimed_impl_is_left_out_and_named(tmp_path):
    config = smoke()
    runs = expand_runs(config, IMPLS)
    measured = read_log(write_log(tmp_path / "b.log", runs, impls=["pytorch", "tensorflow"]))
    est = estimate(config, IMPLS, measured, "cpu", slots=1)
    jax_runs = [r for r in runs.values() if r.spec["impl"] == "jax"]
    assert sum(est.unmeasured.values()) == len(jax_runs) == 2
    assert all(name.startswith("jax ") for name in est.unmeasured)
    by_hand = sum(r.spec["steps"] * 2 * MS[r.spec["impl"]] / 1000 + OVERHEAD_S["cpu"]
                  for r in runs.values() if r.spec["impl"] != "jax")
    assert math.isclose(est.seconds_cap, by_hand, rel_tol=1e-12)
    lines = report(est)
    assert "for the 4 timed runs" in lines[0] and "left out, never timed on cpu (2 runs)" in lines[2]


def test_a_changed_network_is_not_matched_with_the_old_networks_time():
    """The DCGAN post's G is twice D's width: its label differs from the equal-width DCGAN's."""
    config = load_config(REPO / "config" / "quick.yaml")
    labels = {r.spec["recipe"]: size_label(r.spec) for r in expand_runs(config, ["tensorflow"]).values()
              if r.spec["model"] == "dcgan"}
    assert labels["dcgan_blog"].endswith("gx2") and "gx" not in labels["dcgan_carpedm20"]


def test_grouped_seeds_count_one_train_job_per_group(tmp_path):
    """Where the study groups seeds (a GPU, seed_groups: auto), the runs of the impls with a
    seed-group engine count one job per group of up to K seeds of an arm; the time stays per seed."""
    from ganbench.impls import Impl
    from ganbench.study_estimate import grouped_impls

    config = smoke() | {"seeds": [0, 1, 2], "seed_group_size": 2}
    runs = expand_runs(config, IMPLS)
    measured = read_log(write_log(tmp_path / "b.log", runs))
    alone = estimate(config, IMPLS, measured, "cpu", slots=1)
    grouped = estimate(config, IMPLS, measured, "cpu", slots=1, grouped_impls=["jax", "pytorch"])
    assert alone.jobs_first == alone.jobs_cap == len(runs) == 18 and alone.group_size == 0
    # jax and pytorch: 2 models x (seeds [0, 1] and [2]); tensorflow: 2 models x 3 seeds
    assert grouped.jobs_first == grouped.jobs_cap == 2 * 2 * 2 + 6
    assert grouped.seconds_cap == alone.seconds_cap
    lines = report(grouped)
    assert "14 train jobs at the first look" in lines[0] and "seeds grouped, up to 2 of an arm per job" in lines[0]
    assert "seeds grouped" not in report(alone)[0]
    # the sequential design: a look's seeds are grouped apart from the next look's
    seq = smoke() | {"seeds": {"looks": [3, 6]}, "seed_group_size": 8}
    est = estimate(seq, IMPLS, measured, "cpu", slots=1, grouped_impls=["pytorch"])
    assert (est.jobs_first, est.jobs_cap) == (2 + 2 * 3 * 2, 2 * 2 + 2 * 6 * 2)
    # which impls are grouped: those with an engine, where the study groups seeds
    impls = {name: Impl(name, name, Path("/x"), ("basic",), Path("/x"), seed_group=None if name == "tensorflow"
                        else "seed_group:SeedGroupEngine") for name in IMPLS}
    auto = config | {"device": "auto"}  # (the smoke study says device: cpu)
    assert grouped_impls(auto, impls, IMPLS, gpus=1) == ["jax", "pytorch"]
    assert grouped_impls(auto, impls, IMPLS, gpus=0) == grouped_impls(config, impls, IMPLS, gpus=1) == []
    assert grouped_impls(auto | {"seed_groups": "off"}, impls, IMPLS, gpus=1) == []
    assert grouped_impls(config | {"seed_groups": "on"}, impls, IMPLS, gpus=0) == ["jax", "pytorch"]
