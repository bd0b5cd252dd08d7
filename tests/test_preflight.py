"""A results folder that is not writable, or a CelebA study without its Inception-v3 weights:
a clear error before any job starts."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench.preflight import MissingEvaluator, NotWritable, check_evaluator, check_writable
from ganbench.metrics.inception_weights import INCEPTION_ENV, INCEPTION_HUB_NAMES

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def make_read_only(folder: Path, request) -> None:
    """chmod 555; as root (who ignores modes) also the immutable flag, where the filesystem has it."""
    folder.chmod(0o555)
    request.addfinalizer(lambda: folder.chmod(0o755))
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root and this filesystem has no immutable flag (chattr +i)")
        request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(folder)], check=True))


def test_missing_and_writable_folders_pass(tmp_path):
    (tmp_path / "results" / "s" / "runs" / "r1").mkdir(parents=True)
    check_writable(["results/s", "results/data", "reports/s"], workdir=tmp_path)
    assert sorted(p.name for p in (tmp_path / "results" / "s").iterdir()) == ["runs"]  # no probe left


def test_read_only_results_folder_is_named(tmp_path, request):
    (tmp_path / "results" / "s").mkdir(parents=True)
    make_read_only(tmp_path / "results" / "s", request)
    with pytest.raises(NotWritable, match=r"results/s, is not writable .*No job was started"):
        check_writable(["results/s"], workdir=tmp_path)


def test_read_only_parent_of_a_missing_folder(tmp_path, request):
    (tmp_path / "results").mkdir()
    make_read_only(tmp_path / "results", request)
    with pytest.raises(NotWritable, match=r"folder that would hold .*results/data, .*results, is not writable"):
        check_writable(["results/data"], workdir=tmp_path)


def test_a_file_where_the_folder_should_be(tmp_path):
    (tmp_path / "results").write_text("")
    with pytest.raises(NotWritable, match="is not a folder"):
        check_writable(["results/s"], workdir=tmp_path)


@pytest.mark.pipeline
def test_snakemake_stops_before_any_job(tmp_path, request):
    results = tmp_path / "results" / "smoke"
    results.mkdir(parents=True)
    make_read_only(results, request)
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1",
           "--configfile", str(REPO / ".test" / "config" / "smoke.yaml")]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    dry = subprocess.run(cmd + ["-n"], capture_output=True, text=True, env=env, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]  # a dry run writes nothing and is not stopped
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"the results folder, {results}, is not writable" in out, out[-3000:]
    assert "No job was started" in out
    assert not (tmp_path / "results" / "data").exists()  # not even the dataset job ran
    assert "Finished jobid" not in out


def test_celeba_without_inception_weights_names_the_lookup_and_the_place(tmp_path, monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    hub = tmp_path / "hub"
    with pytest.raises(MissingEvaluator) as err:
        check_evaluator("celeba", None, hub=hub)
    msg = str(err.value)
    print(msg)
    assert msg.startswith("dataset: celeba is scored with Inception-v3, and its weight file was not found.")
    steps = ["1. the config's inception_weights / --inception-weights (not set)", f"2. ${INCEPTION_ENV} (not set)",
             f"3. the torch hub cache: {hub / 'checkpoints' / INCEPTION_HUB_NAMES[0]}"]
    assert all(s in msg for s in steps) and [msg.index(s) for s in steps] == sorted(msg.index(s) for s in steps)
    assert f"Put {INCEPTION_HUB_NAMES[0]} in {hub / 'checkpoints'}/" in msg
    assert "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" in msg
    assert msg.endswith("No job was started.")
    # A configured path that does not exist is an error even with the file in the hub cache.
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / INCEPTION_HUB_NAMES[0]).write_bytes(b"w")
    check_evaluator("celeba", None, hub=hub)
    with pytest.raises(MissingEvaluator, match=r"inception_weights / --inception-weights \(/nowhere/w.pth\)"):
        check_evaluator("celeba", "/nowhere/w.pth", hub=hub)
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "env.pth"))
    with pytest.raises(MissingEvaluator, match=r"2\. \$GANBENCH_INCEPTION_WEIGHTS \(.*env.pth\)"):
        check_evaluator("celeba", None, hub=hub)
    (tmp_path / "env.pth").write_bytes(b"w")
    check_evaluator("celeba", None, hub=hub)


def test_mnist_studies_need_no_inception_weights(tmp_path, monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    for dataset in ("mnist", "fashion_mnist"):  # their own networks; Inception's numbers are optional extras
        check_evaluator(dataset, None, hub=tmp_path / "hub")
        check_evaluator(dataset, str(tmp_path / "absent.pth"), hub=tmp_path / "hub")


def test_celeba_without_torch_fidelity(tmp_path, monkeypatch):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"w")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch_fidelity" else find_spec(name, *a))
    with pytest.raises(MissingEvaluator, match=r"needs torch-fidelity; it is not installed.*No job was started"):
        check_evaluator("celeba", str(weights))
    check_evaluator("mnist", None)
