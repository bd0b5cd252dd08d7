"""Run one training job: lock the run folder, check the dataset, claim a GPU slot, then run the
impl's entry point in its own process group under guard (ganbench/trainer_guard.py: the trainer
holds the run-folder and GPU locks for its life, dies with the launcher or the snakemake that
started it, and is killed at its wall-time limit, the run then recorded as failed).

A seed group (``--seed-group``, rule train_group: several seeds of one arm in one trainer,
ganbench/seed_groups.py) repeats ``--spec`` / ``--out`` / ``--checkpoint-dir`` once per run, in
matching order: every run folder is locked, the dataset checked once, one GPU claimed, and the
impl's group command run; at its wall-time limit every run without complete outputs is recorded
as failed, and after exit 0 every run's outputs are checked."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ganbench import trainer_guard
from ganbench.gpu_slots import ENV, claim_gpu
from ganbench.impl_entry import entry_command



def child_env(cuda_visible: str, threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env[ENV] = str(cuda_visible)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    if threads > 0:
        env["GANBENCH_THREADS"] = str(threads)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    return env


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entry", required=True, type=Path,
                        help="the impl's own entry script, or its folder (ganbench.impl_entry runs its engine)")
    parser.add_argument("--spec", required=True, action="append",
                        help="the run's spec.json (a seed group: once per run)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True, type=Path, action="append",
                        help="the run's output folder (a seed group: once per run, in --spec's order)")
    parser.add_argument("--checkpoint-dir", type=Path, action="append", default=[],
                        help="a seed group: each run's checkpoint folder, in --spec's order")
    parser.add_argument("--seed-group", action="store_true",
                        help="train the runs as one seed group (the impl's seed-group engine)")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs jobs may claim (0 = CPU)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the job (0 = default)")
    parser.add_argument("--verify-data", action="store_true",
                        help="check the dataset's arrays against their checksums first (the pipeline does)")
    args = parser.parse_args(argv)
    if not args.seed_group and (len(args.spec) > 1 or len(args.out) > 1 or args.checkpoint_dir):
        parser.error("several --spec / --out, or --checkpoint-dir, train a seed group: add --seed-group")
    if len(args.out) != len(args.spec):
        parser.error(f"one --out per --spec: got {len(args.spec)} --spec and {len(args.out)} --out")
    if args.checkpoint_dir and len(args.checkpoint_dir) != len(args.spec):
        parser.error(f"one --checkpoint-dir per --spec (or none): got {len(args.spec)} --spec and "
                     f"{len(args.checkpoint_dir)} --checkpoint-dir")
    return args


def trainer_command(args: argparse.Namespace) -> list[str]:
    """The impl's command: one run (as always), or a seed group's runs in order."""
    if not args.seed_group:
        return [*entry_command(args.entry), "--spec", args.spec[0], "--data", args.data, "--out", str(args.out[0])]
    cmd = [*entry_command(args.entry), "--seed-group", "--data", args.data]
    for i, (spec, out) in enumerate(zip(args.spec, args.out)):
        cmd += ["--spec", spec, "--out", str(out)]
        if args.checkpoint_dir:
            cmd += ["--checkpoint-dir", str(args.checkpoint_dir[i])]
    return cmd


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for out in args.out:
        out.mkdir(parents=True, exist_ok=True)
    specs = [trainer_guard.read_spec(path) for path in args.spec]
    spec = specs[0]
    try:
        limit_min = trainer_guard.configured_limit_min()
        # held by the trainer too, until it ends
        run_locks = [trainer_guard.lock_run_folder(out) for out in args.out]
        if args.verify_data:
            from ganbench.data import DatasetError, verify_file

            try:
                verify_file(args.data, spec.get("dataset", "mnist"), ("train_images", "test_images"))
            except DatasetError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 3
    except (trainer_guard.RunFolderBusy, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with claim_gpu(args.gpus) as gpu:
        where = f"GPU {gpu}" if gpu else "CPU"
        impl = args.entry.name if args.entry.is_dir() else args.entry.parent.name
        what = (f"seed group of {len(args.spec)} ({', '.join(args.spec)})" if args.seed_group
                else args.spec[0])
        print(f"[ganbench] {impl}: {what} on {where}", flush=True)
        group = list(zip(args.out, specs)) if args.seed_group else []
        outcome = trainer_guard.run_trainer(
            trainer_command(args), child_env(gpu, args.threads), args.out[0], spec,
            pass_fds=(*run_locks, gpu.fd), limit_min=limit_min,
            snakemake=os.environ.get(trainer_guard.SNAKEMAKE_ENV) or None, group=group)
        if outcome.timed_out:
            return 0  # the launcher wrote the failed runs' outputs itself (status.json says why)
        if outcome.rc == 0:  # exit 0 promises complete outputs: check them now, not at scoring
            from ganbench.output_check import check_after_exit_0

            # every run checked (each names its own problems); the first failure is the exit status
            codes = [check_after_exit_0(out, run_spec, args.entry) for out, run_spec in zip(args.out, specs)]
            return next((rc for rc in codes if rc), 0)
        return outcome.rc


if __name__ == "__main__":
    sys.exit(main())
