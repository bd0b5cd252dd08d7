"""A results folder that is not writable: a clear error before any job starts."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench.preflight import NotWritable, check_writable

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
           "--configfile", str(REPO / "config" / "smoke.yaml")]
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
