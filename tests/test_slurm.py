"""The smoke study on a real one-node Slurm, submitted through profiles/slurm.

The cluster (munged, mariadbd + slurmdbd, slurmctld, slurmd from Debian's packages)
lives in a temp dir and is torn down by pid at the end; see slurm_helpers/cluster.py.
Outside CI the test is skipped, with the reason, when the machine cannot run it (not
root, packages missing: `./ganbench test` as root installs them); under CI=true it fails.
"""
import filecmp
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from slurm_helpers.cluster import ClusterUnavailable, SlurmCluster, missing_reason

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SMOKE = REPO / ".test" / "config" / "smoke.yaml"
STUDY = "smoke"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Every rule but the two `localrule`s (spec, resolved_config) runs as a Slurm job.
CLUSTER_RULES = {"dataset", "train", "evaluate", "benchmark", "speed", "aggregate", "report"}


def cannot_run(reason: str):
    msg = f"the Slurm test cannot run here: {reason}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: this must run in CI)")
    pytest.skip(msg)


def smoke_config(workdir: Path) -> Path:
    """The smoke study in one impl: the test is about the cluster plumbing, and every Slurm job
    costs seconds of scheduling on this 2-core machine (the impls are tested elsewhere)."""
    config = yaml.safe_load(SMOKE.read_text())
    config["impls"] = ["tensorflow"]
    path = workdir.parent / f"{workdir.name}-smoke.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(smoke_config(workdir)), *args]


def snakemake(workdir: Path, *args: str, env: dict, timeout: float) -> subprocess.CompletedProcess:
    cmd = snakemake_cmd(workdir, *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture
def cluster(tmp_path):
    reason = missing_reason()
    if reason:
        cannot_run(reason)
    slurm = SlurmCluster(tmp_path / "slurm", gpus=1)  # a GPU gres backed by /dev/null: GPU requests schedule
    try:
        slurm.start()
    except ClusterUnavailable as exc:
        cannot_run(str(exc))
    except RuntimeError as exc:
        cannot_run(f"the one-node cluster did not start: {exc}")
    try:
        yield slurm
    finally:
        pids = [p.pid for _, p in slurm.procs]
        slurm.stop()
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()
                 and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
        assert not alive, f"cluster daemons still running after teardown: {alive}"


@pytest.mark.pipeline
def test_smoke_study_on_slurm_matches_local_run(cluster, tmp_path):
    # The same runs trained locally, alongside (on one core: the cluster's jobs mostly wait
    # for each other and for Snakemake's status checks).
    local = tmp_path / "local"
    local_log = tmp_path / "local.log"
    with open(local_log, "w") as out:
        local_proc = subprocess.Popen(snakemake_cmd(local, "--cores", "1", "--until", "train"), stdout=out,
                                      stderr=subprocess.STDOUT, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    try:
        t0 = time.monotonic()
        env = cluster.env(dict(os.environ, CUDA_VISIBLE_DEVICES=""))
        on_slurm = tmp_path / "on_slurm"
        cores = str(min(os.cpu_count() or 1, 2))
        proc = snakemake(on_slurm, "--workflow-profile", str(REPO / "profiles" / "slurm"), "--cores", cores,
                         "--slurm-init-seconds-before-status-checks", "2", env=env, timeout=540)
        print(f"\nsmoke study on Slurm: {time.monotonic() - t0:.0f} s")
        assert local_proc.wait(timeout=300) == 0, local_log.read_text()[-8000:]
    finally:
        if local_proc.poll() is None:
            local_proc.kill()
            local_proc.wait()
    log = proc.stdout + proc.stderr
    run_uuid = re.search(r"SLURM run ID: (\S+)", log).group(1)

    results = on_slurm / "results" / STUDY
    runs = sorted(p.name for p in (results / "runs").iterdir())
    assert runs, "the smoke study trained nothing"
    assert (on_slurm / "reports" / STUDY / "index.html").stat().st_size > 0

    # Every job of the run as sacct lists it: the plugin names them after its run ID and
    # comments them with rule and wildcards.
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 86400))
    listing = cluster.sacct("-X", "--parsable2", "--noheader", "--name", run_uuid, "--starttime", since,
                            "--format=JobIDRaw,Comment%200,State,ExitCode,Elapsed,AllocCPUS,ReqMem")
    rows = [line.split("|") for line in listing.splitlines() if line.strip()]
    print(f"sacct listing of the smoke study's Slurm jobs (run ID {run_uuid}):")
    print("JobID|Comment|State|ExitCode|Elapsed|AllocCPUS|ReqMem")
    print(listing)
    assert rows, f"sacct lists no job named {run_uuid}"
    assert all(row[2] == "COMPLETED" for row in rows), listing
    rules = {re.match(r"rule_([a-z_]+?)(_wildcards_|$)", row[1]).group(1) for row in rows}
    assert rules == CLUSTER_RULES, rules
    trained = sorted(row[1].removeprefix("rule_train_wildcards_") for row in rows
                     if row[1].startswith("rule_train_wildcards_"))
    assert trained == runs, (trained, runs)

    # Byte-identical samples on Slurm and locally.
    assert sorted(p.name for p in (local / "results" / STUDY / "runs").iterdir()) == runs
    for run in runs:
        a = results / "runs" / run / "samples.npz"
        b = local / "results" / STUDY / "runs" / run / "samples.npz"
        assert filecmp.cmp(a, b, shallow=False), f"{run}: samples.npz on Slurm differs from the local run"

    # The GPU path of the profile: with gpus=1 a training job asks Slurm for one GPU (and
    # cpus_per_gpu CPUs) and runs on the GPU id Slurm gives it (CUDA_VISIBLE_DEVICES, as is).
    # The node's "GPU" is /dev/null, so the impl still computes on the CPU.
    gpu_run = min((r for r in runs if r.startswith("pytorch-")), key=len, default=runs[0])  # a quick one
    on_gpu = on_slurm  # its dataset is reused; the changed spec (device) re-runs spec and train
    proc = snakemake(on_gpu, "--workflow-profile", str(REPO / "profiles" / "slurm"), "--cores", cores,
                     "--slurm-init-seconds-before-status-checks", "2",
                     f"results/{STUDY}/runs/{gpu_run}/samples.npz", "--config", "device=auto", "gpus=1",
                     env=env, timeout=300)
    gpu_uuid = re.search(r"SLURM run ID: (\S+)", proc.stdout + proc.stderr).group(1)
    listing = cluster.sacct("-X", "--parsable2", "--noheader", "--name", gpu_uuid, "--starttime", since,
                            "--format=JobIDRaw,Comment%200,State,AllocTRES%200")
    print(listing)
    train = [line.split("|") for line in listing.splitlines() if f"rule_train_wildcards_{gpu_run}" in line]
    assert len(train) == 1 and train[0][2] == "COMPLETED", listing
    assert "gres/gpu=1" in train[0][3] and "cpu=2" in train[0][3], listing
    train_log = (on_gpu / "results" / STUDY / "logs" / "train" / f"{gpu_run}.log").read_text()
    assert f"{gpu_run}/spec.json on GPU 0" in train_log, train_log[:2000]


def _commented_resource_examples(profile: Path) -> dict[str, str]:
    """The `key: value` examples the profile's comments show for default-resources."""
    examples = {}
    for line in profile.read_text().splitlines():
        m = re.match(r"#\s+(slurm_extra|qos|slurm_partition|slurm_account):\s*(\S.*?)\s*(#.*)?$", line)
        if m:
            examples[m.group(1)] = yaml.safe_load(m.group(2))
    return examples


def test_slurm_profile_examples_pass_the_plugins_own_validator():
    from types import SimpleNamespace

    from snakemake.exceptions import WorkflowError
    from snakemake_executor_plugin_slurm.validation import validate_slurm_extra

    profile = Path(__file__).resolve().parents[1] / "profiles" / "slurm" / "config.yaml"
    examples = _commented_resource_examples(profile)
    assert {"slurm_extra", "qos", "slurm_partition", "slurm_account"} <= set(examples), examples
    # what the profile shows the user passes ...
    validate_slurm_extra(SimpleNamespace(resources=SimpleNamespace(slurm_extra=examples["slurm_extra"])))
    # ... and the validator is a real check: the example this profile used to show is refused
    with pytest.raises(WorkflowError, match="not allowed in the .slurm_extra."):
        validate_slurm_extra(SimpleNamespace(resources=SimpleNamespace(slurm_extra="'--qos=normal --mail-type=FAIL'")))
