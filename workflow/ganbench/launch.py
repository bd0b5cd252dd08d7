"""Run one training job: lock the run folder, check the dataset, claim a GPU slot, then run the
impl's entry point in its own process group under guard (ganbench/trainer_guard.py: the trainer
holds the run-folder and GPU locks for its life, dies with the launcher or the snakemake that
started it, and is killed at its wall-time limit, the run then recorded as failed)."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entry", required=True, type=Path,
                        help="the impl's own entry script, or its folder (ganbench.impl_entry runs its engine)")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--gpus", type=int, default=0, help="GPUs jobs may claim (0 = CPU)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the job (0 = default)")
    parser.add_argument("--verify-data", action="store_true",
                        help="check the dataset's arrays against their checksums first (the pipeline does)")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    spec = trainer_guard.read_spec(args.spec)
    try:
        limit_min = trainer_guard.configured_limit_min()
        run_lock = trainer_guard.lock_run_folder(args.out)  # held by the trainer too, until it ends
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
        print(f"[ganbench] {impl}: {args.spec} on {where}", flush=True)
        cmd = [*entry_command(args.entry), "--spec", args.spec, "--data", args.data, "--out", str(args.out)]
        outcome = trainer_guard.run_trainer(
            cmd, child_env(gpu, args.threads), args.out, spec, pass_fds=(run_lock, gpu.fd),
            limit_min=limit_min, snakemake=os.environ.get(trainer_guard.SNAKEMAKE_ENV) or None)
        if outcome.timed_out:
            return 0  # the launcher wrote the failed run's outputs itself (status.json says why)
        if outcome.rc == 0:  # exit 0 promises complete outputs: check them now, not at scoring
            from ganbench.output_check import check_after_exit_0

            return check_after_exit_0(args.out, spec, args.entry)
        return outcome.rc


if __name__ == "__main__":
    sys.exit(main())
