"""One trainer per run folder, none outliving its job, none running for ever (``launch.py``).

* **Run-folder lock.** ``<run folder>/.trainer.lock`` is ``flock``-ed by the launcher before
  the trainer starts, and its descriptor is passed to the trainer (``pass_fds``): the kernel
  frees it only when both are gone, so a second trainer can never start on a folder whose
  first trainer still runs (a rerun after ``kill -9`` of snakemake waits for the orphan).
* **No orphans.** The trainer runs in its own process group with ``PR_SET_PDEATHSIG``
  (SIGKILL when the launcher dies). The launcher watches the snakemake that started the job
  (``GANBENCH_SNAKEMAKE`` = "pid:start time", set by the Snakefile): when that snakemake is
  gone (``kill -9``, OOM), or the launcher gets SIGTERM/SIGINT/SIGHUP, it kills the trainer's
  process group (SIGTERM, then SIGKILL after :data:`GRACE_S`) and exits.
* **Wall-time limit.** ``train_timeout_min`` (env ``GANBENCH_TRAIN_TIMEOUT_MIN``, set by the
  Snakefile) bounds a run; null derives it from the trainer's own progress (:func:`derived_limit_s`).
  At the limit the process group is killed and the run is recorded as ``status: failed`` with the
  reason (:func:`write_failed_outputs`); the job then succeeds so the study goes on. To retry
  it: raise ``train_timeout_min``, delete the run folder and re-run. A seed group (several runs in
  one trainer) is watched through the most recently written log.csv of its runs; at the limit every
  run of it without complete outputs is recorded as failed (:func:`write_failed_group`).
"""
from __future__ import annotations

import csv
import ctypes
import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RUN_LOCK = ".trainer.lock"
SNAKEMAKE_ENV = "GANBENCH_SNAKEMAKE"
TIMEOUT_ENV = "GANBENCH_TRAIN_TIMEOUT_MIN"
FLOOR_MIN = 30.0  # the derived limit is never below this (imports, data, compilation, a slow machine)
MARGIN = 4.0  # derived limit = MARGIN x the run's projected duration
GRACE_S = 5.0  # SIGTERM -> SIGKILL
PR_SET_PDEATHSIG = 1


def log(msg: str) -> None:
    print(f"[ganbench] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ processes
def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime


def process_token(pid: int | None = None) -> str:
    """"pid:start time" naming one process for its whole life (pids are reused, start times not)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{start_time(pid) or ''}"


def token_alive(token: str) -> bool:
    """Whether the process a :func:`process_token` names still runs (True when it cannot be told)."""
    try:
        pid_text, start = token.split(":", 1)
        pid = int(pid_text)
    except ValueError:
        return True
    if not Path("/proc/self/stat").exists():  # no /proc (not Linux): the pid alone
        return pid_exists(pid)
    now = start_time(pid)
    return now is not None and (not start or now == start)


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(proc: subprocess.Popen, grace_s: float = GRACE_S) -> None:
    """SIGTERM the trainer's process group, SIGKILL it after ``grace_s``; reap the trainer."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # stragglers of the group (children of the trainer)
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent(parent: int):
    libc = ctypes.CDLL(None, use_errno=True)

    def setup() -> None:  # runs in the child between fork and exec
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os._exit(1)

    return setup


# ------------------------------------------------------------------ the run-folder lock
class RunFolderBusy(RuntimeError):
    """Another trainer still holds the run folder; the message says which and what to do."""


def lock_run_folder(out: Path, wait_s: float = 120.0, poll_s: float = 0.25) -> int:
    """flock ``out/.trainer.lock`` (waiting up to ``wait_s`` for an earlier trainer to end);
    returns the locked descriptor (close-on-exec: pass it to the trainer explicitly)."""
    path = Path(out) / RUN_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip().replace("\n", ", ") or "unknown"
            if time.monotonic() > deadline:
                os.close(fd)
                raise RunFolderBusy(
                    f"run folder {out} is still in use by another trainer ({holder}) after {wait_s:.0f} s; "
                    "two trainers must never write one run. Stop that process (kill its pid) or let it "
                    "finish, then re-run this command.") from None
            if not told:
                log(f"run folder {out} is held by an earlier trainer ({holder}); waiting for it to end")
                told = True
            time.sleep(poll_s)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"launcher pid {os.getpid()}\n".encode(), 0)
    return fd


# ------------------------------------------------------------------ the wall-time limit
def configured_limit_min(env=os.environ) -> float | None:
    """train_timeout_min as the Snakefile exported it (None = derive it)."""
    text = env.get(TIMEOUT_ENV, "").strip()
    if not text or text.lower() in ("none", "null"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV}={text!r} is not a number of minutes; set train_timeout_min "
                         "in the config to a positive number or null") from None
    if value <= 0:
        raise ValueError(f"{TIMEOUT_ENV}={text!r} must be > 0 minutes (or null to derive it)")
    return value


def derived_limit_s(steps: int, first_row_s: float | None, step: int | None, elapsed_s: float | None,
                    floor_s: float = FLOOR_MIN * 60, margin: float = MARGIN) -> float:
    """The default wall-time limit of a run: ``max(floor, margin x (t_first + steps x s_per_step))``.

    ``t_first`` = wall seconds from the trainer's start until its first log row appeared (imports,
    data, model, compilation, the first chunk); ``s_per_step`` = the trainer's own ``elapsed_s /
    step`` from its latest log.csv row (training time per iteration, checkpoint-resumed runs
    included). Before the first row the floor alone applies.
    """
    if not step or step <= 0 or elapsed_s is None or first_row_s is None:
        return floor_s
    return max(floor_s, margin * (first_row_s + steps * max(elapsed_s, 0.0) / step))


def last_log_row(path: Path, since: float) -> tuple[int, float] | None:
    """(step, elapsed_s) of the last complete row of the trainer's log.csv (None before one,
    or when the file predates ``since``, i.e. is not this trainer's)."""
    try:
        if path.stat().st_mtime < since - 1.0:
            return None
        text = path.read_bytes()
    except OSError:
        return None
    text = text[: text.rfind(b"\n") + 1].decode(errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2 or "step" not in rows[0] or "elapsed_s" not in rows[0]:
        return None
    i, j = rows[0].index("step"), rows[0].index("elapsed_s")
    try:
        return int(rows[-1][i]), float(rows[-1][j])
    except (ValueError, IndexError):
        return None


class WallLimit:
    """The run's limit: ``train_timeout_min`` when set, else :func:`derived_limit_s` as progress comes."""

    def __init__(self, steps: int, limit_min: float | None, floor_min: float = FLOOR_MIN, margin: float = MARGIN):
        self.steps, self.fixed = steps, None if limit_min is None else limit_min * 60
        self.floor_s, self.margin = floor_min * 60, margin
        self.first_row_s: float | None = None
        self.step: int | None = None
        self.elapsed: float | None = None

    def observe(self, wall_s: float, row: tuple[int, float] | None) -> None:
        if row is None:
            return
        if self.first_row_s is None:
            self.first_row_s = wall_s
        self.step, self.elapsed = row

    def limit_s(self) -> float:
        if self.fixed is not None:
            return self.fixed
        return derived_limit_s(self.steps, self.first_row_s, self.step, self.elapsed, self.floor_s, self.margin)

    def describe(self) -> str:
        if self.fixed is not None:
            return f"train_timeout_min = {self.fixed / 60:g}"
        return (f"train_timeout_min = null: {self.margin:g} x the run's projected time from its own "
                f"progress, at least {self.floor_s / 60:g} min")


# ------------------------------------------------------------------ running the trainer
@dataclass
class Outcome:
    rc: int
    timed_out: bool = False
    reason: str = ""


def latest_log_row(outs, since: float) -> tuple[int, float] | None:
    """:func:`last_log_row` of the most recently written log.csv of ``outs`` (a seed group's run
    folders: a group resumed from checkpoints at different steps trains its runs in turn)."""
    newest, row = None, None
    for out in outs:
        path = Path(out) / "log.csv"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if newest is None or mtime > newest:
            found = last_log_row(path, since)
            if found is not None:
                newest, row = mtime, found
    return row


def run_trainer(cmd: list[str], env: dict, out: Path, spec: dict, pass_fds=(), limit_min: float | None = None,
                poll_s: float = 0.5, snakemake: str | None = None, group=()) -> Outcome:
    """Run the trainer under guard (see the module doc); returns its exit status, or a timed-out
    :class:`Outcome` after writing the failure outputs. ``group``: for a seed group, (run folder,
    spec) of every run it trains (``out`` and ``spec`` are then its first run's); at the limit every
    run without complete outputs is recorded as failed (:func:`write_failed_group`)."""
    out = Path(out)
    outs = [Path(o) for o, _ in group] or [out]
    t0 = time.monotonic()
    started = time.time()
    proc = subprocess.Popen(cmd, env=env, pass_fds=tuple(fd for fd in pass_fds if fd is not None),
                            start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))
    lock = out / RUN_LOCK
    try:
        with open(lock, "a") as fh:
            fh.write(f"trainer pid {proc.pid}\n")
    except OSError:
        pass

    def on_signal(signum, _frame):
        log(f"launcher got {signal.Signals(signum).name}: stopping the trainer (pid {proc.pid}) and its children")
        kill_group(proc)
        os._exit(128 + signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    limit = WallLimit(int(spec.get("steps") or 0), limit_min)
    try:
        while True:
            try:
                rc = proc.wait(timeout=poll_s)
                kill_group(proc, grace_s=0.0)  # nothing of the trainer outlives it
                return Outcome(rc)
            except subprocess.TimeoutExpired:
                pass
            if snakemake and not token_alive(snakemake):
                log(f"the snakemake that started this job (pid {snakemake.split(':')[0]}) is gone: stopping "
                    f"the trainer (pid {proc.pid}); a re-run resumes it from its last checkpoint")
                kill_group(proc)
                return Outcome(1)
            wall = time.monotonic() - t0
            limit.observe(wall, latest_log_row(outs, started))
            if wall > limit.limit_s():
                kill_group(proc, grace_s=0.0)
                step = limit.step
                where = (f"its last log row was step {step} of {limit.steps}" if step is not None
                         else f"it had logged none of its {limit.steps} steps")
                reason = (f"killed after {wall / 60:.1f} min: over its wall-time limit of "
                          f"{limit.limit_s() / 60:.1f} min ({limit.describe()}); {where}: a hung or far too "
                          "slow trainer. To retry: raise train_timeout_min (or set it), delete this run folder "
                          "and re-run")
                if group:
                    write_failed_group(group, reason)
                else:
                    log(f"run {spec.get('run_id', out.name)} failed: {reason}")
                    write_failed_outputs(out, spec, reason, step)
                return Outcome(0, timed_out=True, reason=reason)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def write_failed_outputs(out: Path, spec: dict, reason: str, step: int | None) -> None:
    """Every declared output of a run that did not finish: status.json ``failed`` with the reason,
    no samples (``[0, S, S, C]``), a blank grid, log.csv as far as it got, a timing.json."""
    import numpy as np

    from ganbench.runkit import outputs

    size, ch = int(spec["image_size"]), int(spec["channels"])
    outputs.write_samples(out / "samples.npz", np.zeros((0, size, size, ch), np.uint8))
    outputs.write_grid(out / "grid.png", np.zeros((int(spec.get("grid_size", 16)), size, size, ch), np.uint8))
    log_csv = out / "log.csv"
    try:
        text = log_csv.read_bytes()
        text = text[: text.rfind(b"\n") + 1]  # a row cut by the kill is dropped
    except OSError:
        text = b""
    if not text:
        outputs.LogWriter(log_csv).close()
    else:
        outputs.atomic_write(log_csv, lambda fh: fh.write(text))
    outputs.write_timing(out / "timing.json", {
        "device": "", "framework": str(spec.get("impl", "")), "framework_version": "",
        "setup_s": None, "first_step_s": None, "train_s": None, "median_step_ms": None, "images_per_s": None,
        "peak_host_mb": None, "peak_device_mb": None, "steps_done": int(step or 0), "failed": reason,
    })
    outputs.write_json(out / "status.json", {"status": "failed", "step": int(step or 0), "reason": reason})


def write_failed_group(group, reason: str) -> list[Path]:
    """A seed group killed at its limit: :func:`write_failed_outputs` in every run folder of
    ``group`` ((folder, spec) pairs) that lacks complete outputs (a run the group finished keeps
    its own), each at the step its log.csv reached. Returns the folders recorded as failed."""
    from ganbench.output_check import find_problems

    failed = []
    for out, spec in group:
        out = Path(out)
        try:
            complete = not find_problems(out, spec)
        except (KeyError, TypeError, ValueError):  # a spec the check cannot read: not complete
            complete = False
        if complete:
            continue
        row = last_log_row(out / "log.csv", 0.0)  # its own step (a resumed run's log starts before ``since``)
        log(f"run {spec.get('run_id', out.name)} failed: {reason}")
        write_failed_outputs(out, spec, reason, row[0] if row else None)
        failed.append(out)
    return failed


def read_spec(path) -> dict:
    """spec.json as a dict; {} when it cannot be read (the trainer then reports the bad spec)."""
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return spec if isinstance(spec, dict) else {}
