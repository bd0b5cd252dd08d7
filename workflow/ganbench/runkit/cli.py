"""The shared command line of every impl entry point, and process set-up."""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def parse_args(argv=None, description: str = "Train one ganbench run.") -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--spec", required=True, type=Path, help="resolved spec.json of the run")
    p.add_argument("--data", required=True, type=Path, help="dataset npz (results/data/<dataset>.npz)")
    p.add_argument("--out", required=True, type=Path, help="output folder of the run")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="folder of this run's checkpoints (default: results/<study>/checkpoints/<run_id> "
                        "for --out results/<study>/runs/<run_id>; see runkit.checkpoint)")
    return p.parse_args(argv)


def quiet_frameworks() -> None:
    """Environment set before a framework is imported: quiet TF logging on CPU."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def deterministic_requested(device_type: str) -> bool:
    """Deterministic kernels: always on CPU; on GPU only with GANBENCH_DETERMINISTIC=1."""
    if device_type == "cpu":
        return True
    return os.environ.get("GANBENCH_DETERMINISTIC", "0") not in ("", "0", "false", "False")


def run_entry(framework: str, load_engine, argv=None, t0: float | None = None) -> int:
    """The whole entry point of an impl: parse, validate the spec, train, write the outputs.

    ``load_engine()`` imports the framework and returns the engine class; it is
    called only after the spec is known to be valid. Exit status 2 = bad spec, 3 = unreadable dataset file.
    """
    import sys

    from .loop import run_training
    from .data import DataFileError
    from .spec import SpecError, load_spec

    args = parse_args(argv, description=f"Train one ganbench run with {framework}.")
    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    quiet_frameworks()
    try:
        return run_training(spec, args.data, args.out, load_engine(), t0=t0, checkpoint_dir=args.checkpoint_dir)
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
