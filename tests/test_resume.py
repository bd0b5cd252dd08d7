"""Checkpoint/resume and faults (issue 11, items 3 and 4).

* A training process SIGKILLed at a random step after its first checkpoint, then rerun,
  writes byte-identical samples.npz, curve samples and grids and the same log.csv
  (every column but elapsed_s) as an uninterrupted run: both frameworks x both models.
* A changed spec never resumes an old checkpoint.
* The whole ``snakemake`` process group SIGKILLed mid-study, then the same command again:
  the study finishes, no finished run is re-trained, every run's outputs are complete.
* A corrupted mnist.npz or samples.npz: a clear error naming the file and what to do.
* Only the snakemake main process SIGKILLed (issue 19): its orphaned trainer is stopped, the rerun
  never puts a second trainer on the run folder and ends byte-identical to an uninterrupted run;
  stale locks are cleared only when their owner's kernel lock is free (never a live study's).

The kill inside training is the test hook GANBENCH_TEST_KILL_AT_STEP=N: the loop sends
itself SIGKILL right after the chunk holding step N (a real SIGKILL: no clean-up runs).
"""
from __future__ import annotations

import base64
import copy
import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml

from ganbench.impls import discover_impls
from ganbench.gpu_check import synthetic_mnist
from impl_runs import run_entry
from twins_helpers.cases import BASE_SPEC

REPO = Path(__file__).resolve().parents[1]
IMPLS = discover_impls(REPO / "impls")
DECLARED = ("samples.npz", "log.csv", "timing.json", "status.json", "grid.png")  # train rule's outputs

SPECS = {
    # freeze_d false: G's optimizer owns D's variables too; beta1 0.9: TF's moment scale c1 != 1
    "basic": {**BASE_SPEC, "z_dim": 16, "batch_size": 16, "steps": 40, "log_every": 5, "grid_every": 10,
              "grid_size": 16, "eval_samples": 64, "freeze_d": False, "probe_size": 32, "curve_fractions": [0.3],
              "curve_samples": 32, "checkpoint_every": 10, "arch": {"hidden": 32, "output": "sigmoid"},
              "optim": {"d": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
                        "g": {"lr": 0.002, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}}},
    # BN running statistics, fresh noise per step, a normal prior, 2 D steps per iteration
    "dcgan": {**BASE_SPEC, "model": "dcgan", "image_size": 32, "z_dim": 16, "batch_size": 8, "steps": 12,
              "log_every": 3, "grid_every": 6, "grid_size": 4, "eval_samples": 16, "freeze_d": False,
              "fresh_noise": True, "d_steps": 2, "prior": "normal", "probe_size": 8, "curve_fractions": [0.5],
              "curve_samples": 8, "checkpoint_every": 4,
              "arch": {"base_width": 4, "kernel_size": 5, "bn_momentum": 0.1, "bn_eps": 1e-5}},
}
RUNS = [(impl, model) for impl in IMPLS for model in IMPLS[impl].models if model in SPECS]


def make_spec(impl: str, model: str, **kw) -> dict:
    s = copy.deepcopy(SPECS[model])
    s.update(impl=impl, run_id=f"{impl}-{model}-resume", study="resume", **kw)
    return s


def dataset(path: Path) -> Path:
    return synthetic_mnist(path, n=128, n_test=32)


def train(impl: str, spec: dict, data: Path, out: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The impl's entry point, as the train rule runs it (out = <root>/runs/<run_id>)."""
    return run_entry(IMPLS[impl].entry, spec, data, out, env)


def log_rows(path: Path) -> list[list[str]]:
    """log.csv without elapsed_s (a timing column: it continues from the checkpoint's)."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    col = rows[0].index("elapsed_s")
    return [r[:col] + r[col + 1:] for r in rows]


def outputs_of(out: Path) -> dict[str, bytes]:
    files = ["samples.npz", "grid.png", *sorted(str(p.relative_to(out)) for p in out.glob("grid_*.png")),
             *sorted(str(p.relative_to(out)) for p in out.glob("curve/*.npz"))]
    return {f: (out / f).read_bytes() for f in files}


def kill_step(spec: dict, rng: random.Random) -> int:
    """A random step after the first checkpoint that is not itself a checkpoint (work is lost and redone)."""
    ce, steps = spec["checkpoint_every"], spec["steps"]
    return rng.choice([s for s in range(ce + 1, steps) if s % ce])


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """Per (impl, model): an uninterrupted run, and a run killed at a random step then rerun."""
    tmp = tmp_path_factory.mktemp("resume")
    data = dataset(tmp / "mnist.npz")
    rng = random.Random(os.environ.get("GANBENCH_RESUME_SEED") or time.time_ns())

    def one(case):
        try:
            return case, run_case(case)
        except Exception as exc:  # noqa: BLE001 - one impl's failure fails its own test only
            return case, exc

    def run_case(case):
        impl, model = case
        spec = make_spec(impl, model)
        ref_out = tmp / "ref" / "runs" / spec["run_id"]
        ref = train(impl, spec, data, ref_out)
        assert ref.returncode == 0, ref.stderr[-4000:]
        out = tmp / "killed" / "runs" / spec["run_id"]
        at = kill_step(spec, rng)
        killed = train(impl, spec, data, out, env={"GANBENCH_TEST_KILL_AT_STEP": str(at)})
        ckpt = tmp / "killed" / "checkpoints" / spec["run_id"] / "checkpoint.npz"
        left = {"rc": killed.returncode, "checkpoint": ckpt.is_file(), "log": (out / "log.csv").read_text()}
        for name in DECLARED:  # what Snakemake does with a failed job's declared outputs
            (out / name).unlink(missing_ok=True)
        again = train(impl, spec, data, out)
        return dict(at=at, ref_out=ref_out, out=out, killed=left, again=again, ckpt=ckpt)

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, RUNS))


@pytest.mark.parametrize("impl, model", RUNS)
def test_killed_run_resumes_to_identical_outputs(resumed, impl, model):
    r = resumed[(impl, model)]
    if isinstance(r, Exception):
        raise r
    where = f"{impl}/{model} killed after step {r['at']}"
    assert r["killed"]["rc"] == -signal.SIGKILL, f"{where}: the kill hook did not fire"
    assert r["killed"]["checkpoint"], f"{where}: no checkpoint on disk after the kill"
    assert r["again"].returncode == 0, r["again"].stderr[-4000:]
    assert "resuming from the checkpoint at step" in r["again"].stderr, where
    timing = json.loads((r["out"] / "timing.json").read_text())
    # the last checkpoint at or after the kill's chunk start (a checkpoint may close the killed chunk)
    assert 0 < timing["resumed_from_step"] < make_spec(impl, model)["steps"], where
    assert log_rows(r["out"] / "log.csv") == log_rows(r["ref_out"] / "log.csv"), where
    ref, got = outputs_of(r["ref_out"]), outputs_of(r["out"])
    assert sorted(got) == sorted(ref), where
    for name in ref:
        assert got[name] == ref[name], f"{where}: {name} differs from the uninterrupted run"
    assert (r["out"] / "status.json").read_text() == (r["ref_out"] / "status.json").read_text()
    # the checkpoint is gone once the outputs are complete (and its empty parent folder too)
    assert not r["ckpt"].parent.exists() and not r["ckpt"].parent.parent.exists()
    assert not (r["ref_out"].parent.parent / "checkpoints").exists()


def test_changed_spec_discards_the_checkpoint(tmp_path):
    impl = "pytorch" if "pytorch" in IMPLS else next(iter(IMPLS))
    data = dataset(tmp_path / "mnist.npz")
    spec = make_spec(impl, "basic")
    out = tmp_path / "runs" / spec["run_id"]
    killed = train(impl, spec, data, out, env={"GANBENCH_TEST_KILL_AT_STEP": "25"})
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "checkpoints" / spec["run_id"] / "checkpoint.npz").is_file()
    spec["optim"]["d"]["lr"] = 0.0005
    again = train(impl, spec, data, out)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "different spec.json" in again.stderr and "discarded, starting from step 0" in again.stderr
    assert json.loads((out / "timing.json").read_text())["resumed_from_step"] is None
    ref = train(impl, spec, data, tmp_path / "fresh" / "runs" / spec["run_id"])
    assert log_rows(out / "log.csv") == log_rows(tmp_path / "fresh" / "runs" / spec["run_id"] / "log.csv")
    assert ref.returncode == 0 and not (tmp_path / "checkpoints").exists()


def test_corrupt_dataset_is_named_with_what_to_do(tmp_path):
    impl = "pytorch" if "pytorch" in IMPLS else next(iter(IMPLS))
    data = dataset(tmp_path / "mnist.npz")
    data.write_bytes(data.read_bytes()[:5000])  # truncated: an interrupted copy
    proc = train(impl, make_spec(impl, "basic"), data, tmp_path / "runs" / "x")
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert str(data) in proc.stderr and "corrupt or incomplete" in proc.stderr and "delete it and re-run" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_corrupt_samples_is_named_with_what_to_do(tmp_path):
    from ganbench.metrics.evaluate import EvaluationError, load_samples

    samples = tmp_path / "samples.npz"
    np.savez(samples, images=np.zeros((4, 28, 28, 1), np.uint8))
    samples.write_bytes(samples.read_bytes()[:100])
    with pytest.raises(EvaluationError) as exc:
        load_samples(samples, {"image_size": 28}, 4)
    assert str(samples) in str(exc.value) and "delete it and re-run" in str(exc.value)


def test_corrupt_dataset_at_evaluation_is_named_with_what_to_do(tmp_path):
    from ganbench.metrics.evaluate import EvaluationError, load_real_test_images

    data = tmp_path / "mnist.npz"
    np.savez(data, test_images=np.zeros((4, 28, 28, 1), np.uint8))
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(EvaluationError) as exc:
        load_real_test_images(data)
    assert str(data) in str(exc.value) and "delete it and re-run" in str(exc.value)


# ---------------------------------------------------------------- the whole snakemake killed
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def incomplete_marker(workdir: Path, path: str) -> Path:
    return workdir / ".snakemake" / "incomplete" / base64.b64encode(path.encode()).decode()


def finished_runs(workdir: Path, runs: Path) -> dict[str, int]:
    """Runs Snakemake has finished (every declared output, no incomplete marker): name -> samples mtime."""
    finished = {}
    for d in (runs.iterdir() if runs.is_dir() else []):
        rel = f"results/smoke/runs/{d.name}/samples.npz"
        if all((d / n).is_file() for n in DECLARED) and not incomplete_marker(workdir, rel).exists():
            finished[d.name] = (d / "samples.npz").stat().st_mtime_ns
    return finished


def test_snakemake_killed_mid_study_then_rerun(tmp_path):
    config = yaml.safe_load((REPO / ".test" / "config" / "smoke.yaml").read_text())
    config["impls"] = ["pytorch", "tensorflow"]  # two impls show it; a third only adds minutes
    (tmp_path / "smoke.yaml").write_text(yaml.safe_dump(config))
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "2",
           "--configfile", str(tmp_path / "smoke.yaml")]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    runs = tmp_path / "results" / "smoke" / "runs"
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:  # kill once one run is finished and another is training
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            dirs = list(runs.iterdir()) if runs.is_dir() else []
            training = [d for d in dirs if (d / "log.csv").is_file() and not (d / "status.json").is_file()]
            if finished_runs(tmp_path, runs) and training:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the smoke study ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    finished = finished_runs(tmp_path, runs)
    assert finished, "no run had finished when snakemake was killed"
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, f"{again.stdout[-3000:]}\n{again.stderr[-6000:]}"
    assert "stale Snakemake lock" in again.stderr, again.stderr[-3000:]
    for name, mtime in finished.items():
        assert (runs / name / "samples.npz").stat().st_mtime_ns == mtime, f"{name} was re-trained"
    for d in runs.iterdir():  # nothing partial taken as finished: every run complete and readable
        status = json.loads((d / "status.json").read_text())
        spec = json.loads((d / "spec.json").read_text())
        rows = list(csv.DictReader(open(d / "log.csv")))
        assert status["status"] == "ok" and int(rows[-1]["step"]) == spec["steps"], d.name
        with np.load(d / "samples.npz") as npz:
            assert npz["images"].shape[0] == spec["eval_samples"], d.name
        assert (d / "metrics.json").is_file(), d.name
    assert (tmp_path / "reports" / "smoke" / "index.html").is_file()
    assert not (tmp_path / "results" / "smoke" / "checkpoints").exists()


OWNER_SCRIPT = """
import sys, time
from ganbench import stale_lock
meta, study, locks = sys.argv[1], sys.argv[2], sys.argv[3:]
stale_lock.take_ownership(study, meta)
if locks:
    stale_lock.record_locks(locks, meta)
print("ready", flush=True)
time.sleep(600)
"""


def owner_process(meta: Path, study: str, *locks: Path) -> subprocess.Popen:
    """A stand-in for a snakemake main process: takes its owner lock, records ``locks``, lives on."""
    proc = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT, str(meta), study, *map(str, locks)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def snakemake_locks(meta: Path, n: int) -> list[Path]:
    (meta / "locks").mkdir(parents=True, exist_ok=True)
    pair = [meta / "locks" / f"{n}.input.lock", meta / "locks" / f"{n}.output.lock"]
    for p in pair:
        p.write_text(f"results/study{n}/x\n")
    return pair


def test_stale_lock_removed_only_when_its_owner_is_dead(tmp_path):
    """Locks are attributed by a kernel flock each snakemake holds for its life: killing study B
    clears B's locks only, never those of a live study A, nor locks a live snakemake has not yet
    recorded (the window between Snakemake locking and onstart)."""
    from ganbench import stale_lock

    meta = tmp_path / ".snakemake"
    a_locks, b_locks = snakemake_locks(meta, 0), snakemake_locks(meta, 1)
    a = owner_process(meta, "A", *a_locks)  # study A runs on
    b = owner_process(meta, "B", *b_locks)
    try:
        assert stale_lock.clear_stale_locks(meta) is None  # both alive: nothing is touched
        b.kill()  # kill -9 of study B's snakemake
        b.wait()
        msg = stale_lock.clear_stale_locks(meta)
        assert msg and "stale Snakemake lock" in msg and f"pid {b.pid}" in msg, msg
        assert not any(p.exists() for p in b_locks) and all(p.exists() for p in a_locks)
        # a live snakemake between taking its locks and recording them: its locks are unclaimed but kept
        c_locks = snakemake_locks(meta, 2)
        assert stale_lock.clear_stale_locks(meta) is None and all(p.exists() for p in c_locks + a_locks)
        assert stale_lock.live_owners("A", meta) == [a.pid] and stale_lock.live_owners("B", meta) == []
    finally:
        a.kill()
        a.wait()
    # nobody alive: A's recorded locks and the unclaimed ones go
    msg = stale_lock.clear_stale_locks(meta)
    assert msg and not list((meta / "locks").glob("*.lock")), msg
    assert not list((meta / stale_lock.OWNERS).glob("*.lock"))
    # a lock file that replaced a dead owner's recorded one (same name, another file) is not its lock
    d_locks = snakemake_locks(meta, 3)
    d = owner_process(meta, "D", *d_locks)
    d.kill()
    d.wait()
    for p in d_locks:
        p.unlink()
    e = owner_process(meta, "E")  # a live snakemake that has not recorded its locks yet
    try:
        new = snakemake_locks(meta, 3)
        assert stale_lock.clear_stale_locks(meta) is None and all(p.exists() for p in new)
    finally:
        e.kill()
        e.wait()


# ------------------------------------------------ only the snakemake main process killed
def trainers_by_folder(entry: Path) -> dict[str, list[int]]:
    """Live trainer processes of ``entry`` per run folder (cwd + --out), from /proc."""
    found: dict[str, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if len(argv) < 2 or argv[1] != str(entry).encode() or b"--out" not in argv:  # python ENTRY ...
                continue
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie runs nothing
                continue
            out = argv[argv.index(b"--out") + 1].decode()
            folder = os.path.normpath(os.path.join(os.readlink(proc / "cwd"), out))
        except (OSError, ValueError, IndexError):
            continue
        found.setdefault(folder, []).append(int(proc.name))
    return found


@pytest.mark.pipeline
def test_snakemake_main_process_killed_alone_then_rerun(tmp_path):
    """kill -9 of the snakemake main process only (its jobs live on as orphans), then the same
    command again: never two trainers on one run folder, and samples byte-identical to an
    uninterrupted run of the same spec."""
    import threading

    config = yaml.safe_load((REPO / ".test" / "config" / "smoke.yaml").read_text())
    config.update(name="kill", impls=["pytorch"], probe_size=0, curve_fractions=[], eval_samples=100, log_every=100)
    config["recipes"]["dcgan_blog"]["steps"] = {"basic": 2000, "dcgan": 10}
    config["design"]["main"]["models"] = ["basic"]
    config["benchmark"]["enabled"] = False
    (tmp_path / "kill.yaml").write_text(yaml.safe_dump(config))
    run_id = "pytorch-dcgan_blog-basic-s0"
    run = tmp_path / "results" / "kill" / "runs" / run_id
    cmd = [str(SNAKEMAKE), f"results/kill/runs/{run_id}/samples.npz", "-s", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--cores", "2", "--configfile", str(tmp_path / "kill.yaml")]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    entry = IMPLS["pytorch"].entry
    most, stop = {}, threading.Event()

    def watch():  # the most trainers ever seen at once on each run folder
        while not stop.is_set():
            for folder, pids in trainers_by_folder(entry).items():
                most[folder] = max(most.get(folder, 0), len(pids))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ref, leftover = None, {}
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:  # past the first checkpoint (step 500)
            if ref is None and (run / "spec.json").is_file():  # the uninterrupted run, meanwhile
                (tmp_path / "ref" / "runs" / run_id).mkdir(parents=True)
                spec = json.loads((run / "spec.json").read_text())
                ref = ThreadPoolExecutor(1).submit(train, "pytorch", spec, tmp_path / "results" / "data" / "mnist.npz",
                                                   tmp_path / "ref" / "runs" / run_id)
            rows = (run / "log.csv").read_text().splitlines() if (run / "log.csv").is_file() else []
            if len(rows) > 1 and int(rows[-1].split(",")[0]) >= 600:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the study ended before it could be killed:\n{(tmp_path / 'first.log').read_text()[-3000:]}"
        os.kill(proc.pid, signal.SIGKILL)  # the main process alone: its jobs are orphaned, not killed
        proc.wait(timeout=30)
        again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        time.sleep(0.5)
        stop.set()
        watcher.join()
        leftover = {f: p for f, p in trainers_by_folder(entry).items() if f == str(run)}
        for pids in leftover.values():  # none should be left; if so, not for long
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
    assert again.returncode == 0, f"{again.stdout[-3000:]}\n{again.stderr[-6000:]}"
    assert "stale Snakemake lock" in again.stderr, again.stderr[-3000:]
    assert most.get(str(run)) == 1, f"trainers seen at once per run folder: {most}"
    assert ref is not None
    ref_proc = ref.result(timeout=600)
    assert ref_proc.returncode == 0, ref_proc.stderr[-3000:]
    timing = json.loads((run / "timing.json").read_text())
    assert timing["resumed_from_step"] and timing["resumed_from_step"] >= 500, timing
    assert (run / "samples.npz").read_bytes() == (tmp_path / "ref" / "runs" / run_id / "samples.npz").read_bytes()
    assert json.loads((run / "status.json").read_text()) == {"status": "ok"}
    assert not leftover, f"a trainer outlived the study: {leftover}"
