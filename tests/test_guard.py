"""Bad input, kill or rerun never costs a finished result (issue 19, points 3 and 6).

* A hung trainer is killed at its wall-time limit (``train_timeout_min``), recorded as
  ``status: failed`` with the reason, and the rest of the study goes on; SIGTERM to the launcher,
  or the death of the snakemake that started it, stops the trainer and its children.
* A rebuilt (byte-identical) dataset retrains nothing; an altered one is refused, naming the file
  and the fix.
* Paths reach the shell quoted: a repo copy and an impls_dir under "dir's $(touch PWNED)x" run a
  train job and execute nothing.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

HANG_ENTRY = """
import os, subprocess, sys, time
from pathlib import Path
out = Path(sys.argv[sys.argv.index("--out") + 1])
child = subprocess.Popen(["sleep", "1000"])  # a child of the trainer: the whole group must go
(out / "hang.pids").write_text(f"{os.getpid()} {child.pid}")
while True:
    time.sleep(1)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def hang_impl(folder: Path) -> Path:
    impl = folder / "hang"
    impl.mkdir(parents=True)
    (impl / "manifest.yaml").write_text(yaml.safe_dump(
        {"name": "hang", "framework": "none", "entry": "train.py", "models": ["basic"]}))
    (impl / "train.py").write_text(HANG_ENTRY)
    return impl / "train.py"


def small_config(path: Path, **changes) -> Path:
    """The smoke study cut to BasicGAN runs, no benchmark, no curve: seconds of training per run."""
    config = yaml.safe_load((REPO / ".test" / "config" / "smoke.yaml").read_text())
    config.update(eval_samples=100, curve_fractions=[], probe_size=0, **changes)
    config["design"]["main"]["models"] = ["basic"]
    config["benchmark"]["enabled"] = False
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(workdir: Path, config: Path, *args: str, snakefile: Path = REPO / "Snakefile",
              check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), *args, "-s", str(snakefile), "--directory", str(workdir), "--configfile", str(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""),
                          timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


# ------------------------------------------------------------------ a study with a hung impl
@pytest.fixture(scope="module")
def hung_study(tmp_path_factory):
    """pytorch + a hung impl, BasicGAN, train_timeout_min 0.75: run to the report."""
    tmp = tmp_path_factory.mktemp("hung")
    impls = tmp / "impls"
    hang_impl(impls)
    os.symlink(REPO / "impls" / "pytorch", impls / "pytorch")
    config = small_config(tmp / "c.yaml", name="hung", impls_dir=str(impls), impls=["hang", "pytorch"],
                          train_timeout_min=0.75)
    t0 = time.monotonic()
    proc = snakemake(tmp, config, "--cores", "2", check=False)
    yield tmp, config, proc, time.monotonic() - t0
    for pids in tmp.rglob("hang.pids"):  # were it to outlive its limit
        for pid in map(int, pids.read_text().split()):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.pipeline
def test_hung_trainer_is_killed_at_its_limit_and_the_study_goes_on(hung_study):
    tmp, _, proc, _ = hung_study
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    runs = tmp / "results" / "hung" / "runs"
    status = json.loads((runs / "hang-dcgan_blog-basic-s0" / "status.json").read_text())
    assert status["status"] == "failed", status
    assert "wall-time limit of 0.8 min" in status["reason"] and "train_timeout_min = 0.75" in status["reason"], status
    trainer, child = map(int, (runs / "hang-dcgan_blog-basic-s0" / "hang.pids").read_text().split())
    assert not alive(trainer) and not alive(child), "the hung trainer's process group outlived its limit"
    assert json.loads((runs / "pytorch-dcgan_blog-basic-s0" / "status.json").read_text()) == {"status": "ok"}
    metrics = json.loads((runs / "hang-dcgan_blog-basic-s0" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["metrics"] == {}
    import pandas as pd

    summary = pd.read_csv(tmp / "results" / "hung" / "summary.csv").set_index("run_id")
    assert summary.loc["hang-dcgan_blog-basic-s0", "status"] == "failed"
    assert "wall-time limit" in summary.loc["hang-dcgan_blog-basic-s0", "status_reason"]
    assert summary.loc["pytorch-dcgan_blog-basic-s0", "status"] == "ok"
    assert (tmp / "reports" / "hung" / "index.html").is_file()


@pytest.mark.pipeline
def test_rebuilt_dataset_retrains_nothing(hung_study):
    """Deleting and rebuilding the (checksummed, so identical) dataset, as the corrupt-file message
    advises, reruns no train or evaluate job."""
    tmp, config, proc, _ = hung_study
    assert proc.returncode == 0
    data = tmp / "results" / "data" / "mnist.npz"
    before = data.read_bytes()
    data.unlink()
    dry = snakemake(tmp, config, "-n")  # deleted: nothing finished needs it again
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]
    snakemake(tmp, config, "--cores", "1", "results/data/mnist.npz")  # rebuilt on its own
    assert data.read_bytes() == before
    dry = snakemake(tmp, config, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]
    dry = snakemake(tmp, config, "-n", "--forcerun", "dataset")  # rebuilt within the study's own run
    counts = job_counts(dry.stdout + dry.stderr)
    assert counts.get("dataset") == 1 and set(counts) <= {"dataset", "total"}, counts


def altered(path: Path) -> None:
    """One pixel of the training images changed, the file still a valid npz."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["train_images"][0, 0, 0, 0] ^= 1
    np.savez(path, **arrays)


@pytest.mark.pipeline
def test_altered_dataset_is_refused_naming_file_and_fix(hung_study):
    tmp, config, proc, _ = hung_study
    assert proc.returncode == 0
    data = tmp / "results" / "data" / "mnist.npz"
    altered(data)
    run = tmp / "results" / "hung" / "runs" / "pytorch-dcgan_blog-basic-s0"
    (run / "samples.npz").unlink()  # this run must train again, on the altered file
    proc = snakemake(tmp, config, "--cores", "1", f"results/hung/runs/{run.name}/samples.npz", check=False)
    assert proc.returncode != 0
    log = (tmp / "results" / "hung" / "logs" / "train" / f"{run.name}.log").read_text()
    assert "results/data/mnist.npz: the dataset file was altered" in log, log
    assert "train_images has sha256" in log and "delete results/data/mnist.npz and rebuild it" in log, log
    assert "Traceback" not in log
    # evaluation checks the test split the same way
    check = subprocess.run([sys.executable, "-m", "ganbench.data", "--dataset", "mnist", "--out", str(data),
                            "--verify", "test_images"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr  # only train_images was altered
    with np.load(data) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["test_images"] = arrays["test_images"][:-1]
    np.savez(data, **arrays)
    check = subprocess.run([sys.executable, "-m", "ganbench.data", "--dataset", "mnist", "--out", str(data),
                            "--verify", "test_images"], capture_output=True, text=True)
    assert check.returncode == 1 and f"{data}: the dataset file was altered" in check.stderr, check.stderr


# ------------------------------------------------------------------ the launcher, alone
@pytest.fixture
def reaper(tmp_path):
    """Whatever these tests start is killed at the end, pass or fail (launchers, hung trainers and
    their children, recorded in hang.pids)."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pids in tmp_path.rglob("*hang.pids"):
        for pid in map(int, pids.read_text().split()):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def launch(tmp_path: Path, entry: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    out = tmp_path / "runs" / "x"
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps({"run_id": "x", "steps": 10, "image_size": 28, "channels": 1,
                                               "grid_size": 16, "impl": "hang"}))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "ganbench.launch", "--entry", str(entry), "--spec",
                             str(out / "spec.json"), "--data", str(tmp_path / "unused.npz"), "--out", str(out)],
                            env=env, **popen)


def wait_for(path: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_sigterm_to_the_launcher_stops_the_trainer_and_its_children(tmp_path, reaper):
    entry = hang_impl(tmp_path / "impls")
    proc = launch(tmp_path, entry, stderr=subprocess.PIPE, text=True)
    reaper.append(proc)
    trainer, child = map(int, wait_for(tmp_path / "runs" / "x" / "hang.pids").split())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    time.sleep(0.2)
    assert not alive(trainer) and not alive(child), err


def test_a_trainer_dies_with_the_snakemake_that_started_it(tmp_path, reaper):
    """The launcher of a job whose snakemake was SIGKILLed stops its trainer (a rerun would otherwise
    start a second trainer next to the orphan)."""
    from ganbench import trainer_guard

    entry = hang_impl(tmp_path / "impls")
    fake_snakemake = subprocess.Popen(["sleep", "1000"])
    reaper.append(fake_snakemake)
    token = trainer_guard.process_token(fake_snakemake.pid)
    proc = launch(tmp_path, entry, env={trainer_guard.SNAKEMAKE_ENV: token}, stderr=subprocess.PIPE, text=True)
    reaper.append(proc)
    trainer, child = map(int, wait_for(tmp_path / "runs" / "x" / "hang.pids").split())
    time.sleep(1.0)
    assert proc.poll() is None and alive(trainer)  # the snakemake lives: the trainer runs on
    fake_snakemake.kill()
    fake_snakemake.wait()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "is gone: stopping the trainer" in err, err
    time.sleep(0.2)
    assert not alive(trainer) and not alive(child), err


def test_a_second_launcher_waits_for_the_run_folders_trainer(tmp_path, reaper):
    """Never two trainers on one run folder: a second launcher waits for the first trainer's lock."""
    entry = hang_impl(tmp_path / "impls")
    first = launch(tmp_path, entry, stderr=subprocess.DEVNULL)
    reaper.append(first)
    pids = tmp_path / "runs" / "x" / "hang.pids"
    wait_for(pids)
    pids.rename(tmp_path / "runs" / "first.hang.pids")  # (the reaper still finds it)
    second = launch(tmp_path, entry, stderr=subprocess.PIPE, text=True)
    reaper.append(second)
    time.sleep(2.0)
    assert not (tmp_path / "runs" / "x" / "hang.pids").exists(), "a second trainer started next to the first"
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=60)
    wait_for(tmp_path / "runs" / "x" / "hang.pids")  # now it runs
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=60)
    assert "is held by an earlier trainer" in err, err


def test_derived_wall_time_limit():
    from ganbench import trainer_guard

    floor = trainer_guard.FLOOR_MIN * 60
    assert trainer_guard.derived_limit_s(1000, None, None, None) == floor  # before the first log row
    # a fast run: the floor
    assert trainer_guard.derived_limit_s(1000, 20.0, 100, 1.0) == floor
    # a long run: 4 x (20 s to the first row + 100000 steps x 0.1 s)
    assert trainer_guard.derived_limit_s(100000, 20.0, 1000, 100.0) == pytest.approx(4 * (20 + 10000))
    limit = trainer_guard.WallLimit(100000, None)
    limit.observe(25.0, (100, 10.0))
    limit.observe(200.0, (2000, 180.0))  # the first row's time stays, the rate follows progress
    assert limit.limit_s() == pytest.approx(4 * (25 + 100000 * 0.09))
    assert trainer_guard.WallLimit(10, 2.5).limit_s() == 150.0


# ------------------------------------------------------------------ shell quoting
@pytest.mark.pipeline
def test_paths_reach_the_shell_quoted(tmp_path):
    """A checkout and an impls_dir under paths with a space, a quote and "$(...)": the train job
    works and nothing in the paths is executed."""
    # (No quote in the checkout's path: Snakemake itself passes the Snakefile's path to the
    # subprocess of a `run:` job as a Python repr, double-quoted when it holds a quote.)
    repo = tmp_path / "repo dir $(touch PWNED)x"
    repo.mkdir()
    for name in ("Snakefile", "environment.yml"):
        shutil.copy(REPO / name, repo / name)
    for name in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    impls = tmp_path / "impls dir's $(touch PWNED)x"
    shutil.copytree(REPO / "impls" / "pytorch", impls / "pytorch", ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    config = small_config(work / "c.yaml", name="quoted", impls_dir=str(impls), impls=["pytorch"])
    target = "results/quoted/runs/pytorch-dcgan_blog-basic-s0/samples.npz"
    proc = snakemake(work, config, "--cores", "1", target, snakefile=repo / "Snakefile", check=False)
    pwned = [p for p in tmp_path.rglob("PWNED")]
    assert not pwned, f"a path was executed: {pwned}"
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    run = work / "results" / "quoted" / "runs" / "pytorch-dcgan_blog-basic-s0"
    assert json.loads((run / "status.json").read_text()) == {"status": "ok"}


def test_celeba_dataset_is_checked_against_its_record(tmp_path):
    from ganbench.data import DatasetError, record_path, sha256_of, verify_file

    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (9, 64, 64, 3), dtype=np.uint8),
              "test_images": rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)}
    data = tmp_path / "celeba.npz"
    np.savez(data, **arrays)
    with pytest.raises(DatasetError, match=r"celeba\.json .* is missing or unreadable.*delete .* and rebuild it"):
        verify_file(data, "celeba")
    record_path(data).write_text(json.dumps({"sha256": {k: sha256_of(v) for k, v in arrays.items()}}))
    verify_file(data, "celeba")
    arrays["test_images"][0, 0, 0, 0] ^= 1
    np.savez(data, **arrays)
    verify_file(data, "celeba", ("train_images",))
    with pytest.raises(DatasetError) as exc:
        verify_file(data, "celeba")
    assert f"{data}: the dataset file was altered" in str(exc.value) and "test_images has sha256" in str(exc.value)
    assert "celeba.json" in str(exc.value)
