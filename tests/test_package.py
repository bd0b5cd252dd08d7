"""The framework-neutral code is one installed package (pyproject.toml, installed editable by
./ganbench setup): it imports from this checkout with no search path set, nothing edits the
search path but the impl entry, and an impl folder needs no train.py of its own."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from ganbench.impls import discover_impls
from ganbench.gpu_check import synthetic_mnist
from test_contract import make_spec

REPO = Path(__file__).resolve().parents[1]
# Impl folders are plain folders whose modules import one another by bare name: the one module
# that puts a folder on the search path is the impl entry (ganbench.impl_entry.load_member).
SEARCH_PATH_EDITS = re.compile(r"sys\.path\.(insert|append|extend)|sys\.path\s*=|PYTHONPATH\s*[=:]|\"PYTHONPATH\"\s*:")
ALLOWED = {"workflow/ganbench/impl_entry.py"}


def tracked_sources() -> list[str]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    return [n for n in names if n.endswith((".py", ".smk", ".sh", ".ini", ".toml", ".cfg"))
            or n in ("Snakefile", "ganbench", ".ci/run")]


def test_installed_package_is_this_checkout():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import ganbench, ganbench.metrics.evaluate, ganbench.runkit; print(ganbench.__file__)"
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Path(proc.stdout.strip()).resolve() == REPO / "workflow" / "ganbench" / "__init__.py"


def test_nothing_edits_the_search_path_but_the_impl_entry():
    found = {}
    for name in tracked_sources():
        if name == "tests/test_package.py":
            continue
        text = (REPO / name).read_text(errors="replace")
        hits = [i + 1 for i, line in enumerate(text.splitlines()) if SEARCH_PATH_EDITS.search(line)]
        if hits:
            found[name] = hits
    assert set(found) == ALLOWED, found


def test_an_impl_without_train_py_trains_through_the_launcher(tmp_path):
    """impls/pytorch without its train.py and with no `entry:`: discovery takes the folder as the
    entry, and the launcher trains it through ganbench.impl_entry with complete outputs."""
    folder = tmp_path / "impls" / "engine_only"
    shutil.copytree(REPO / "impls" / "pytorch", folder, ignore=shutil.ignore_patterns("__pycache__", "train.py"))
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    del manifest["entry"]
    manifest["name"] = "engine_only"
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    impl = discover_impls(tmp_path / "impls")["engine_only"]
    assert impl.entry == folder and impl.engine == "engine:Engine"
    out = tmp_path / "run"
    out.mkdir()
    (out / "spec.json").write_text(json.dumps(make_spec("engine_only", "basic")))
    data = synthetic_mnist(tmp_path / "mnist.npz")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", GANBENCH_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "ganbench.launch", "--entry", str(impl.entry), "--spec",
                           str(out / "spec.json"), "--data", str(data), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert json.loads((out / "status.json").read_text())["status"] == "ok"
    assert json.loads((out / "timing.json").read_text())["framework"] == "pytorch"
    assert (out / "samples.npz").is_file() and (out / "grid.png").is_file()


def test_a_manifest_naming_neither_engine_nor_entry_is_refused(tmp_path):
    folder = tmp_path / "impls" / "neither"
    folder.mkdir(parents=True)
    (folder / "manifest.yaml").write_text(yaml.safe_dump({"name": "neither", "framework": "x", "models": ["basic"]}))
    try:
        discover_impls(tmp_path / "impls")
    except ValueError as exc:
        assert "impls/neither" in str(exc) and "neither 'engine: module:Class'" in str(exc), exc
    else:
        raise AssertionError("a manifest with neither engine nor entry was accepted")
