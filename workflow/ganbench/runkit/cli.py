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


def parse_group_args(argv=None) -> argparse.Namespace:
    """The seed-group command line: ``--spec``/``--out`` (and ``--checkpoint-dir``) once per run, in order."""
    p = argparse.ArgumentParser(description="Train the seeds of one arm as one seed group (runkit.seed_group).")
    p.add_argument("--spec", required=True, type=Path, action="append", help="a member run's spec.json (repeat)")
    p.add_argument("--data", required=True, type=Path, help="dataset npz (results/data/<dataset>.npz)")
    p.add_argument("--out", required=True, type=Path, action="append", help="its output folder (repeat, same order)")
    p.add_argument("--checkpoint-dir", type=Path, action="append", default=None,
                   help="its checkpoint folder (repeat, same order; default as for a single run)")
    return p.parse_args(argv)


def quiet_frameworks() -> None:
    """Environment set before a framework is imported: quiet TF logging on CPU."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def resolve_device(requested: str, gpu_available: bool, framework: str) -> str:
    """The device a run uses, "cpu" or "cuda", from ``spec.device`` (auto | cpu | cuda) and whether
    the framework sees a GPU; "cuda" with none seen is an error that says what to install."""
    if requested == "cpu":
        return "cpu"
    if requested == "cuda" and not gpu_available:
        raise RuntimeError(f"spec.device is 'cuda' but {framework} sees no GPU (install its CUDA build: "
                           f"README, GPU section)")
    return "cuda" if gpu_available else "cpu"


def deterministic_requested(device_type: str) -> bool:
    """Deterministic kernels: always on CPU; on GPU only with GANBENCH_DETERMINISTIC=1."""
    if device_type == "cpu":
        return True
    return os.environ.get("GANBENCH_DETERMINISTIC", "0") not in ("", "0", "false", "False")


def run_group_entry(framework: str, load_group_engine, argv=None, t0: float | None = None) -> int:
    """:func:`run_entry` for a seed group: every member's spec validated, then runkit.seed_group trains them
    with the class ``load_group_engine(spec)`` returns. Exit status 2 = bad spec or group, 3 = unreadable dataset."""
    import sys

    from .data import DataFileError
    from .seed_group import SeedGroupError, check_group, run_group
    from .spec import SpecError, load_spec

    args = parse_group_args(argv)
    try:
        specs = [load_spec(p) for p in args.spec]
        check_group(specs, args.out)
    except (SpecError, SeedGroupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    quiet_frameworks()
    try:
        return run_group(specs, args.data, args.out, load_group_engine(specs[0]), t0=t0,
                         checkpoint_dirs=args.checkpoint_dir)
    except SeedGroupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3


def run_entry(framework: str, load_engine, argv=None, t0: float | None = None) -> int:
    """The whole entry point of an impl: parse, validate the spec, train, write the outputs.

    ``load_engine(spec)`` imports the framework and returns the engine class; it is
    called only after the spec is known to be valid. Exit status 2 = bad spec, 3 = unreadable dataset file.
    """
    import sys

    from .loop import run_training
    from .data import DataFileError
    from .engine_contract import check_engine_class
    from .faults import with_faults
    from .spec import SpecError, load_spec

    args = parse_args(argv, description=f"Train one ganbench run with {framework}.")
    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    quiet_frameworks()
    try:
        engine_cls = load_engine(spec)
        check_engine_class(engine_cls, f"{framework} engine {engine_cls.__module__}.{engine_cls.__qualname__}")
        return run_training(spec, args.data, args.out, with_faults(engine_cls), t0=t0,
                            checkpoint_dir=args.checkpoint_dir)
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
