"""The progress line of `./ganbench run`: counts from the run folders and an ETA from measured steps."""
import io
import json
import subprocess
import sys
from pathlib import Path

from ganbench import study_progress as sp


def _run(root: Path, name: str, steps: int, shape=("basic", "r", "pytorch"), logged=None, status=None,
         score_s=None) -> None:
    run = root / "runs" / name
    run.mkdir(parents=True)
    model, recipe, impl = shape
    (run / "spec.json").write_text(json.dumps({"steps": steps, "model": model, "recipe": recipe, "impl": impl}))
    if logged is not None:  # [(step, elapsed_s)]
        rows = ["step,d_loss,g_loss,d_real,d_fake,d_probe_train,d_probe_test,elapsed_s"]
        rows += [f"{s},1,1,0.5,0.5,nan,nan,{t}" for s, t in logged]
        (run / "log.csv").write_text("\n".join(rows) + "\n")
    if status is not None:
        (run / "status.json").write_text(json.dumps({"status": status}))
    if score_s is not None:
        (run / "metrics.json").write_text(json.dumps({"seconds": score_s}))


def test_counts_and_eta_from_measured_step_times(tmp_path):
    # a finished, scored run of shape A at 10 ms/step; one A run half way; one B run not started
    _run(tmp_path, "a0", 1000, logged=[(0, 0.0), (1000, 10.0)], status="ok", score_s=4.0)
    _run(tmp_path, "a1", 1000, logged=[(0, 0.0), (500, 5.0)])
    _run(tmp_path, "b0", 2000, shape=("basic", "r2", "pytorch"))
    _run(tmp_path, "f0", 1000, logged=[(0, 0.0)], status="failed", score_s=None)
    snap = sp.snapshot(tmp_path, slots=1)
    assert (snap.planned, snap.trained, snap.failed, snap.scored, snap.running) == (4, 2, 1, 1, ["a1"])
    # remaining: a1 500 steps x 10 ms + b0 2000 steps x 10 ms (no measurement of its shape: the
    # median of its model's) = 25 s of training, + 3 unscored runs x 4 s of scoring = 37 s
    assert abs(snap.eta_s - 37.0) < 1e-9
    assert abs(sp.snapshot(tmp_path, slots=2).eta_s - 18.5) < 1e-9
    text = sp.line(snap, 75)
    assert text == "[ganbench] 1:15 | trained 2/4 (1 failed) | scored 1/4 | training 1 | ETA 0:37"


def test_runs_training_in_a_seed_group_count_as_running(tmp_path):
    """A seed group writes groups/<group>/<run_id>/log.csv until its runs are linked into runs/."""
    _run(tmp_path, "a0", 1000)
    _run(tmp_path, "a1", 1000)
    member = tmp_path / "groups" / "a0+2" / "a0"
    member.mkdir(parents=True)
    member.joinpath("log.csv").write_text("step,d_loss,g_loss,d_real,d_fake,d_probe_train,d_probe_test,elapsed_s\n"
                                          "0,1,1,0.5,0.5,nan,nan,0.0\n400,1,1,0.5,0.5,nan,nan,4.0\n")
    snap = sp.snapshot(tmp_path, slots=1)
    assert snap.running == ["a0"] and snap.trained == 0
    assert abs(snap.eta_s - ((600 + 1000) * 10 / 1000 + 2 * 20.0)) < 1e-9  # 10 ms/step from the group's log


def test_no_eta_from_another_models_step_times(tmp_path):
    # DCGAN steps measured, BasicGAN runs waiting: a BasicGAN step is not a DCGAN step
    _run(tmp_path, "d0", 1500, shape=("dcgan", "c", "tensorflow"), logged=[(0, 0.0), (1200, 420.0)])
    _run(tmp_path, "b0", 50000, shape=("basic", "t", "tensorflow"))
    snap = sp.snapshot(tmp_path)
    assert snap.eta_s is None and "ETA after the first logged steps of basic" in sp.line(snap, 60)
    _run(tmp_path, "b1", 50000, shape=("basic", "t", "tensorflow"), logged=[(0, 0.0), (1000, 2.0)])
    assert abs(sp.snapshot(tmp_path).eta_s - (300 * 350 + 50000 * 2 + 49000 * 2) / 1000 - 3 * 20.0) < 1e-6


def test_lines_before_any_measurement_and_at_the_end(tmp_path):
    assert "planning runs" in sp.line(sp.snapshot(tmp_path), 3)
    _run(tmp_path, "a0", 1000)
    assert "ETA after the first logged steps" in sp.line(sp.snapshot(tmp_path), 3)
    (tmp_path / "runs" / "a0" / "status.json").write_text('{"status": "ok"}')
    (tmp_path / "runs" / "a0" / "metrics.json").write_text('{"seconds": 1}')
    assert "every run scored" in sp.line(sp.snapshot(tmp_path), 3)


def test_watch_prints_on_change_and_stops_with_the_process(tmp_path):
    _run(tmp_path, "a0", 100, logged=[(0, 0.0), (50, 1.0)])
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    out = io.StringIO()
    snap = sp.watch(tmp_path, proc.pid, every=60, poll=0.2, out=out)
    proc.wait()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the first line, then the last one when the process ended (no change between)
    assert all("trained 0/1" in ln and "training 1" in ln for ln in lines)
    assert snap.planned == 1


def test_the_line_names_the_look_of_a_sequential_study(tmp_path):
    _run(tmp_path, "a0", 1000)
    (tmp_path / "config.json").write_text(json.dumps({"seeds": [0, 1, 2]}))
    assert sp.snapshot(tmp_path).look is None  # one look: nothing to say
    (tmp_path / "config.json").write_text(json.dumps({"seeds": {"looks": [3, 6, 10]}}))
    assert "| look 1 of 3 |" in sp.line(sp.snapshot(tmp_path), 3)
    look = tmp_path / "looks" / "1"
    look.mkdir(parents=True)
    (look / "interim.json").write_text(json.dumps({"look": 1, "final": False, "open": ["g_loss"]}))
    assert "| look 2 of 3 |" in sp.line(sp.snapshot(tmp_path), 3)
    (look / "interim.json").write_text(json.dumps({"look": 1, "final": True, "open": []}))
    assert "| look 1 of 3 |" in sp.line(sp.snapshot(tmp_path), 3)  # every claim decided at look 1
