"""The output contract (impls/README.md, section 4) is checked as soon as an entry exits 0:
missing files, samples of the wrong dtype/shape/count and NaN losses under status ok stop the
train job with a message naming the impl, the file and the fix (not at scoring)."""
from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ganbench import runkit
from ganbench.output_check import OutputError, check_outputs
from ganbench.runkit import outputs

REPO = Path(__file__).resolve().parents[1]
EVAL, SIZE = 64, 28
SPEC = {
    "run_id": "fake-basic-s0", "study": "test", "impl": "fake", "model": "basic", "dataset": "mnist", "seed": 0,
    "prior": "uniform", "z_dim": 8, "d_steps": 1, "g_steps": 1, "fresh_noise": False,
    "g_loss": "nonsaturating", "label_smoothing": 1.0, "freeze_d": True,
    "optim": {"d": {"lr": 2e-4}, "g": {"lr": 2e-4}}, "optim_preset": "dcgan", "batch_size": 16, "steps": 20,
    "image_size": SIZE, "channels": 1, "arch": {"hidden": 8}, "eval_samples": EVAL, "log_every": 10,
    "grid_every": 0, "grid_size": 16, "device": "cpu", "compile": False,
}
TIMING = {k: 0.0 for k in outputs.TIMING_KEYS} | {"device": "cpu", "framework": "numpy",
                                                 "framework_version": "1", "steps_done": 20}


def write_outputs(out: Path, status: str = "ok", images=None, losses=((0.5, 0.7), (0.4, 0.8)), skip=()):
    """A run's five output files as runkit writes them (the parts named in ``skip`` left out)."""
    out.mkdir(parents=True, exist_ok=True)
    if images is None:
        images = np.zeros((EVAL if status == "ok" else 0, SIZE, SIZE, 1), np.uint8)
    if "samples.npz" not in skip:
        np.savez(out / "samples.npz", images=images)
    if "log.csv" not in skip:
        with outputs.LogWriter(out / "log.csv") as log:
            for i, (d, g) in enumerate(losses):
                log.row(10 * (i + 1), d, g, 0.5, 0.5, 1.0)
    if "timing.json" not in skip:
        outputs.write_timing(out / "timing.json", TIMING)
    if "status.json" not in skip:
        outputs.write_status(out / "status.json", status, *((20, "non-finite d_loss") if status != "ok" else ()))
    if "grid.png" not in skip:
        outputs.write_grid(out / "grid.png", np.zeros((16, SIZE, SIZE, 1), np.uint8))
    return out


def problem(out: Path, spec: dict = SPEC) -> str:
    with pytest.raises(OutputError) as err:
        check_outputs(out, runkit.validate_spec(spec), entry=Path("impls/fake/train.py"))
    return str(err.value)


def test_complete_outputs_pass(tmp_path):
    check_outputs(write_outputs(tmp_path / "ok"), runkit.validate_spec(SPEC))
    nan_row = ((0.5, 0.7), (math.nan, 0.8))
    check_outputs(write_outputs(tmp_path / "div", "diverged", losses=nan_row), runkit.validate_spec(SPEC))


def test_nothing_written(tmp_path):
    msg = problem(tmp_path)
    assert "impl 'fake'" in msg and "exited 0" in msg, msg
    assert "samples.npz, log.csv, timing.json, status.json, grid.png" in msg and "missing" in msg, msg
    assert "impls/fake/train.py" in msg and "impls/README.md" in msg, msg
    assert "latency-wait" not in msg


def test_one_file_missing(tmp_path):
    msg = problem(write_outputs(tmp_path, skip=("grid.png",)))
    assert "grid.png is missing" in msg and "samples.npz" not in msg, msg


@pytest.mark.parametrize("images,fragment", [
    (np.zeros((EVAL, SIZE, SIZE, 1), np.float32), "samples.npz: images are float32, must be uint8"),
    (np.zeros((EVAL, SIZE, SIZE), np.uint8), f"samples.npz: images have shape [{EVAL}, 28, 28], must be "
                                             f"[{EVAL}, 28, 28, 1]"),
    (np.zeros((EVAL, 1, SIZE, SIZE), np.uint8), "must be [64, 28, 28, 1] (N, image_size, image_size, channels"),
    (np.zeros((10, SIZE, SIZE, 1), np.uint8), "samples.npz: holds 10 images, must hold eval_samples = 64"),
])
def test_samples_of_the_wrong_dtype_shape_or_count(tmp_path, images, fragment):
    msg = problem(write_outputs(tmp_path, images=images))
    assert fragment in msg, msg
    assert "Fix the impl" in msg and "re-run" in msg, msg


def test_samples_file_unreadable_or_without_images(tmp_path):
    out = write_outputs(tmp_path / "a")
    (out / "samples.npz").write_bytes(b"not a zip")
    assert "samples.npz: cannot be read as an .npz" in problem(out)
    out = write_outputs(tmp_path / "b")
    np.savez(out / "samples.npz", samples=np.zeros((EVAL, SIZE, SIZE, 1), np.uint8))
    assert "samples.npz: has no array 'images' (it holds ['samples'])" in problem(out)


def test_nan_losses_under_status_ok(tmp_path):
    msg = problem(write_outputs(tmp_path, losses=((0.5, 0.7), (math.nan, 0.8))))
    assert "log.csv: d_loss is nan at step 20, but status.json says ok" in msg, msg
    assert "diverged" in msg, msg


def test_diverged_run_must_log_the_divergence_and_write_no_samples(tmp_path):
    msg = problem(write_outputs(tmp_path / "a", "diverged"))
    assert "status.json says diverged at step 20, but every d_loss and g_loss in log.csv is finite" in msg, msg
    msg = problem(write_outputs(tmp_path / "b", "diverged", images=np.zeros((EVAL, SIZE, SIZE, 1), np.uint8),
                                losses=((0.5, math.inf),)))
    assert "samples.npz: holds 64 images, but a diverged run writes none ([0, 28, 28, 1])" in msg, msg


def test_bad_status_log_and_timing(tmp_path):
    out = write_outputs(tmp_path / "a")
    (out / "status.json").write_text('{"status": "finished"}')
    assert "status.json: status 'finished' is not one of ['ok', 'diverged']" in problem(out)
    out = write_outputs(tmp_path / "b")
    (out / "status.json").write_text("{")
    assert "status.json: not valid JSON" in problem(out)
    out = write_outputs(tmp_path / "c")
    (out / "log.csv").write_text("step,loss\n1,0.5\n")
    assert "log.csv: lacks column(s) d_loss, g_loss" in problem(out)
    out = write_outputs(tmp_path / "d")
    (out / "timing.json").write_text("{}")
    assert "timing.json: lacks key(s) device, framework" in problem(out)


# ------------------------------------------------------------------ through launch.py
FAKE_ENTRY = """
import argparse, json, math
from pathlib import Path
import numpy as np
from ganbench.runkit import outputs, load_spec
p = argparse.ArgumentParser()
p.add_argument("--spec"); p.add_argument("--data"); p.add_argument("--out")
a = p.parse_args()
spec, out = load_spec(a.spec), Path(a.out)
MODE = __MODE__
if MODE == "nothing":
    raise SystemExit(0)
s, c, n = spec["image_size"], spec["channels"], spec["eval_samples"]
np.savez(out / "samples.npz", images=np.zeros((n, s, s, c), np.float32 if MODE == "float" else np.uint8))
with outputs.LogWriter(out / "log.csv") as log:
    log.row(10, 0.5, 0.7, 0.5, 0.5, 1.0)
    log.row(20, math.nan if MODE == "nan" else 0.4, 0.8, 0.5, 0.5, 2.0)
outputs.write_timing(out / "timing.json", __TIMING__)
outputs.write_status(out / "status.json", "ok")
outputs.write_grid(out / "grid.png", np.zeros((16, s, s, c), np.uint8))
"""


def launch(tmp_path: Path, mode: str) -> subprocess.CompletedProcess:
    impl = tmp_path / "impls" / "fake"
    impl.mkdir(parents=True)
    (impl / "manifest.yaml").write_text(yaml.safe_dump(
        {"name": "fake", "framework": "numpy", "entry": "train.py", "models": ["basic"]}))
    (impl / "train.py").write_text(FAKE_ENTRY.replace("__MODE__", repr(mode)).replace("__TIMING__", repr(TIMING)))
    out = tmp_path / "runs" / "fake-basic-s0"
    out.mkdir(parents=True)
    (out / "spec.json").write_text(json.dumps(SPEC))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, "-m", "ganbench.launch", "--entry", str(impl / "train.py"),
                           "--spec", str(out / "spec.json"), "--data", str(tmp_path / "unused.npz"),
                           "--out", str(out)], env=env, cwd=str(REPO), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mode,fragments", [
    ("ok", []),
    ("nan", ["log.csv: d_loss is nan at step 20, but status.json says ok"]),
    ("float", ["samples.npz: images are float32, must be uint8"]),
    ("nothing", ["samples.npz, log.csv, timing.json, status.json, grid.png", "missing"]),
])
def test_launch_checks_the_outputs_when_the_entry_exits_0(tmp_path, mode, fragments):
    proc = launch(tmp_path, mode)
    if not fragments:
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "impl 'fake'" in proc.stderr and str(tmp_path / "impls" / "fake" / "train.py") in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


@pytest.mark.parametrize("nan_at", [None, 13])
def test_a_real_impl_passes_the_check(tmp_path, nan_at):
    """The PyTorch impl through launch.py, ok and diverged (GANBENCH_TEST_NAN_AT_STEP): no false alarm."""
    data = tmp_path / "mnist.npz"
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (128, 28, 28, 1), dtype=np.uint8)
    np.savez(data, train_images=imgs, train_labels=np.zeros(128, np.uint8), test_images=imgs[:32],
             test_labels=np.zeros(32, np.uint8))
    out = tmp_path / "run"
    out.mkdir()
    spec = copy.deepcopy(SPEC) | {"impl": "pytorch", "run_id": "pytorch-basic-s0", "probe_size": 16}
    (out / "spec.json").write_text(json.dumps(spec))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    if nan_at:
        env["GANBENCH_TEST_NAN_AT_STEP"] = str(nan_at)
    proc = subprocess.run([sys.executable, "-m", "ganbench.launch", "--entry", str(REPO / "impls/pytorch/train.py"),
                           "--spec", str(out / "spec.json"), "--data", str(data), "--out", str(out), "--threads", "1"],
                          env=env, cwd=str(REPO), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == ("diverged" if nan_at else "ok")
