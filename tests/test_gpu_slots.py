"""GPU slot claiming: distinct ids for concurrent jobs, scheduler ids respected (and locked), one
GPU count for the ganbench script and the Snakefile, the claim handed to the trainer, CPU fallback."""
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganbench.gpu_slots import claim_gpu, resolve_gpu_count, study_gpu_count
from ganbench.launch import child_env

REPO = Path(__file__).resolve().parents[1]


def test_no_gpus_means_cpu(tmp_path):
    with claim_gpu(0, lock_dir=tmp_path, env={}) as gpu:
        assert gpu == ""


def test_single_preset_id_is_respected_and_locked(tmp_path):
    with claim_gpu(4, lock_dir=tmp_path, env={"CUDA_VISIBLE_DEVICES": "3"}) as gpu:
        assert gpu == "3" and gpu.fd is not None
        with pytest.raises(TimeoutError):  # a second claim of the same preset id waits
            with claim_gpu(4, lock_dir=tmp_path, env={"CUDA_VISIBLE_DEVICES": "3"}, poll_s=0.01, timeout_s=0.1):
                pass
    assert [p.name for p in tmp_path.iterdir()] == ["gpu-3.lock"]


def test_empty_preset_means_cpu(tmp_path):
    with claim_gpu(2, lock_dir=tmp_path, env={"CUDA_VISIBLE_DEVICES": ""}) as gpu:
        assert gpu == ""


def test_sequential_claims_in_one_process_get_distinct_ids(tmp_path):
    with claim_gpu(2, lock_dir=tmp_path, env={}) as first:
        with claim_gpu(2, lock_dir=tmp_path, env={}) as second:
            assert {first, second} == {"0", "1"}
    with claim_gpu(2, lock_dir=tmp_path, env={}) as again:
        assert again == "0"  # released on exit


def test_claims_come_from_a_preset_pool(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "5,7"}
    with claim_gpu(8, lock_dir=tmp_path, env=env) as a, claim_gpu(8, lock_dir=tmp_path, env=env) as b:
        assert {a, b} == {"5", "7"}


def test_all_claimed_times_out_with_advice(tmp_path):
    with claim_gpu(1, lock_dir=tmp_path, env={}):
        with pytest.raises(TimeoutError, match=r"all GPUs \['0'\] stayed claimed"):
            with claim_gpu(1, lock_dir=tmp_path, env={}, poll_s=0.01, timeout_s=0.1):
                pass


def _hold(lock_dir, n_gpus, hold_s, queue, env=None):
    with claim_gpu(n_gpus, lock_dir=lock_dir, env=env or {}, poll_s=0.01) as gpu:
        start = time.monotonic()
        queue.put(("start", gpu, start))
        time.sleep(hold_s)
        queue.put(("end", gpu, time.monotonic()))


def _run_claimants(lock_dir, n_gpus, n_procs, hold_s, env=None):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(str(lock_dir), n_gpus, hold_s, queue, env)) for _ in range(n_procs)]
    for p in procs:
        p.start()
    events = [queue.get(timeout=60) for _ in range(2 * n_procs)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return events


def test_two_concurrent_claimants_get_different_gpus(tmp_path):
    events = _run_claimants(tmp_path, n_gpus=2, n_procs=2, hold_s=1.0)
    starts = [e for e in events if e[0] == "start"]
    assert sorted(e[1] for e in starts) == ["0", "1"]


def test_more_claimants_than_gpus_never_share_a_gpu(tmp_path):
    events = _run_claimants(tmp_path, n_gpus=2, n_procs=4, hold_s=0.4)
    intervals = {}
    for kind, gpu, t in events:
        intervals.setdefault(gpu, []).append((kind, t))
    assert set(intervals) <= {"0", "1"}
    for gpu, marks in intervals.items():
        marks.sort(key=lambda m: m[1])
        # on one GPU, holds alternate start/end: never two at once
        assert [m[0] for m in marks] == ["start", "end"] * (len(marks) // 2), (gpu, marks)


def _never_overlap(events):
    intervals = {}
    for kind, gpu, t in events:
        intervals.setdefault(gpu, []).append((kind, t))
    for gpu, marks in intervals.items():
        marks.sort(key=lambda m: m[1])
        assert [m[0] for m in marks] == ["start", "end"] * (len(marks) // 2), (gpu, marks)
    return intervals


def test_two_claims_of_one_preset_id_serialize(tmp_path):
    """CUDA_VISIBLE_DEVICES=0 preset (a user's or a scheduler's choice): two jobs never share GPU 0."""
    events = _run_claimants(tmp_path, n_gpus=2, n_procs=2, hold_s=0.5, env={"CUDA_VISIBLE_DEVICES": "0"})
    assert set(_never_overlap(events)) == {"0"}


def test_gpu_count_resolution():
    assert resolve_gpu_count("auto", "cpu") == 0
    assert resolve_gpu_count(3, "auto", env={}) == 3
    assert resolve_gpu_count("auto", "auto", env={"CUDA_VISIBLE_DEVICES": "0,2"}, visible=None) == 2
    assert resolve_gpu_count("auto", "cuda", env={"CUDA_VISIBLE_DEVICES": ""}) == 0
    assert resolve_gpu_count("auto", "auto", env={"CUDA_VISIBLE_DEVICES": "0"}, visible=2) == 1
    assert resolve_gpu_count(4, "auto", env={"CUDA_VISIBLE_DEVICES": "1,3"}) == 2  # the preset caps
    assert resolve_gpu_count("auto", "auto", env={}, visible=2) == 2


@pytest.fixture
def two_fake_gpus(tmp_path):
    """A fake nvidia-smi listing two GPUs, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: Fake GPU (UUID: GPU-a)'\necho 'GPU 1: Fake GPU (UUID: GPU-b)'\n")
    smi.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                GANBENCH_GPU_LOCK_DIR=str(tmp_path / "locks"))


def script_gpu_count(env) -> str:
    """The ganbench script's own gpu_count function (what it passes as --resources gpu=N)."""
    script = (REPO / "ganbench").read_text()
    func = script[script.index("gpu_count() {"):]
    func = func[: func.index("\n}\n") + 3]
    return subprocess.run(["bash", "-c", f'REPO={str(REPO)!r}; VENV="$REPO/.venv"; {func}\ngpu_count'],
                          env=env, capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def test_one_gpu_count_honours_a_preset_id(two_fake_gpus):
    """Two GPUs visible to nvidia-smi, CUDA_VISIBLE_DEVICES=0 preset: the ganbench script and the
    Snakefile's function both count 1 (the script passed --resources gpu=2 before)."""
    env = dict(two_fake_gpus, CUDA_VISIBLE_DEVICES="0")
    run = [sys.executable, "-m", "ganbench.gpu_slots"]
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip() == "1"
    assert script_gpu_count(env) == "1"
    env.pop("CUDA_VISIBLE_DEVICES")
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip() == "2"
    assert script_gpu_count(env) == "2"


FAKE_ENTRY = """
import json, os, sys
from pathlib import Path
out = Path(sys.argv[sys.argv.index("--out") + 1])
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
(out / "seen.json").write_text(json.dumps({"gpu": os.environ["CUDA_VISIBLE_DEVICES"], "fds": sorted(fds.values())}))
"""


def test_the_trainer_holds_the_gpu_claim(tmp_path, two_fake_gpus):
    """The launcher hands the locked GPU file to the trainer (pass_fds): the claim lives as long as
    the trainer, even a preset id."""
    entry = tmp_path / "train.py"
    entry.write_text(FAKE_ENTRY)
    out = tmp_path / "runs" / "x"
    out.mkdir(parents=True)
    (out / "spec.json").write_text(json.dumps({"run_id": "x", "steps": 10}))
    env = dict(two_fake_gpus, CUDA_VISIBLE_DEVICES="0")
    proc = subprocess.run([sys.executable, "-m", "ganbench.launch", "--entry", str(entry), "--spec", str(out / "spec.json"),
                           "--data", str(tmp_path / "unused.npz"), "--out", str(out), "--gpus", "1"],
                          env=env, capture_output=True, text=True, timeout=120)
    seen = json.loads((out / "seen.json").read_text())
    assert seen["gpu"] == "0", proc.stderr
    assert str(tmp_path / "locks" / "gpu-0.lock") in seen["fds"], seen
    assert str(out / ".trainer.lock") in seen["fds"], seen  # and the run folder's lock


def test_child_env_exports_claim_and_threads():
    env = child_env("1", threads=2)
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    assert env["GANBENCH_THREADS"] == env["OMP_NUM_THREADS"] == "2"
    # the trainer imports the installed package: no search path of its own
    assert env.get("PYTHONPATH") == os.environ.get("PYTHONPATH")


PROBE_ENTRY = """
import argparse, json, os, time
from pathlib import Path
import numpy as np
from ganbench.runkit import load_spec, outputs
p = argparse.ArgumentParser()
p.add_argument("--spec"); p.add_argument("--data"); p.add_argument("--out")
a = p.parse_args()
spec, out = load_spec(a.spec), Path(a.out)
start = time.time()
time.sleep(1.5)
s, c = spec["image_size"], spec["channels"]
outputs.write_samples(out / "samples.npz", np.zeros((spec["eval_samples"], s, s, c), np.uint8))
with outputs.LogWriter(out / "log.csv") as log:
    log.row(spec["steps"], 0.5, 0.7, 0.5, 0.5, 1.0)
outputs.write_timing(out / "timing.json", {"device": "cpu", "framework": "none", "framework_version": "0",
    "setup_s": 0.0, "first_step_s": 0.0, "train_s": 1.0, "median_step_ms": 1.0, "images_per_s": 1.0,
    "peak_host_mb": 1.0, "peak_device_mb": None, "steps_done": spec["steps"]})
outputs.write_status(out / "status.json", "ok")
outputs.write_grid(out / "grid.png", np.zeros((spec["grid_size"], s, s, c), np.uint8))
(out / "probe.json").write_text(json.dumps({"gpu": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "end": time.time()}))
"""


@pytest.mark.pipeline
def test_a_preset_gpu_is_never_shared_by_two_jobs(tmp_path, two_fake_gpus):
    """The issue's case end to end: CUDA_VISIBLE_DEVICES=0 preset, two GPUs visible to nvidia-smi,
    snakemake --resources gpu=2: the resource is capped at 1 and the two trainers run on GPU 0 one
    after the other."""
    import yaml

    impl = tmp_path / "impls" / "probe"
    impl.mkdir(parents=True)
    (impl / "manifest.yaml").write_text(yaml.safe_dump({"name": "probe", "framework": "none", "entry": "train.py",
                                                        "models": ["basic"]}))
    (impl / "train.py").write_text(PROBE_ENTRY)
    config = yaml.safe_load((REPO / ".test" / "config" / "smoke.yaml").read_text())
    config.update(name="gpu", impls_dir=str(tmp_path / "impls"), impls=["probe"], device="auto", gpus="auto",
                  seeds=[0, 1])
    config["design"]["main"]["models"] = ["basic"]
    config["benchmark"]["enabled"] = False
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    runs = [f"results/gpu/runs/probe-dcgan_blog-basic-s{seed}" for seed in (0, 1)]
    env = dict(two_fake_gpus, CUDA_VISIBLE_DEVICES="0")
    proc = subprocess.run([str(Path(sys.executable).with_name("snakemake")), *(f"{r}/samples.npz" for r in runs),
                           "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "4",
                           "--resources", "gpu=2", "--configfile", str(tmp_path / "c.yaml")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert "--resources gpu=2 capped at 1" in proc.stderr, proc.stderr[-3000:]
    probes = sorted((json.loads((tmp_path / r / "probe.json").read_text()) for r in runs), key=lambda p: p["start"])
    assert [p["gpu"] for p in probes] == ["0", "0"]
    assert probes[0]["end"] <= probes[1]["start"], f"two trainers on GPU 0 at once: {probes}"


def test_a_cluster_job_uses_the_count_it_was_submitted_with():
    # Submitting: the login node's GPUs (none) and CUDA_VISIBLE_DEVICES do not cap --config gpus=1.
    submit = dict(local_exec=False, remote_exec=False)
    assert study_gpu_count(1, "auto", env={"CUDA_VISIBLE_DEVICES": ""}, visible=None, **submit) == 1
    assert study_gpu_count(2, "cpu", env={}, **submit) == 0
    assert study_gpu_count("auto", "auto", env={}, visible=None, **submit) == 0
    # Inside the job: the submitter's count, whatever the node's environment says.
    job = dict(local_exec=True, remote_exec=True)
    assert study_gpu_count(1, "auto", env={"GANBENCH_CLUSTER_GPUS": "0", "CUDA_VISIBLE_DEVICES": "0"}, **job) == 0
    assert study_gpu_count(1, "auto", env={"GANBENCH_CLUSTER_GPUS": "1", "CUDA_VISIBLE_DEVICES": ""}, **job) == 1
    # Local runs: this host's GPUs cap the config's number.
    assert study_gpu_count(1, "auto", env={"CUDA_VISIBLE_DEVICES": ""}, local_exec=True, remote_exec=False) == 0
