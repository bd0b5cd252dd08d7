"""The entry point of every impl folder: its manifest's engine, run by runkit's driver.

    python -m ganbench.impl_entry --impl impls/<name> --spec S --data D --out O [--checkpoint-dir C]
    python -m ganbench.impl_entry --impl impls/<name> --seed-group --data D --spec S1 --out O1 --spec S2 --out O2 ...

An impl folder needs no train.py: the manifest's ``engine: module:Class`` names the class, and
this module imports it and hands it to :func:`ganbench.runkit.run_entry` (parse, validate the spec,
check the engine against the contract, train, write the outputs). With ``--seed-group``, the
manifest's ``seed_group: module:Class`` trains several seeds of one arm at once
(:func:`ganbench.runkit.run_group_entry`). An impl that keeps a train.py of
its own (``entry:`` in the manifest) is run as that script instead (:func:`entry_command`).

The spec's thread count is exported (``GANBENCH_THREADS``) before the engine module is imported,
so a framework that reads its flags once, at import (XLA), can be configured by the engine module.
"""
import time

T0 = time.perf_counter()  # setup time counts from here (timing.json's setup_s)

import argparse  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

MODULE = "ganbench.impl_entry"


def entry_command(entry: Path) -> list[str]:
    """The command that trains with an impl: ``entry`` is its own script (the manifest's ``entry:``)
    or, for an impl without one, its folder (run through this module)."""
    entry = Path(entry)
    if entry.is_dir():
        return [sys.executable, "-m", MODULE, "--impl", str(entry)]
    return [sys.executable, str(entry)]


def load_member(impl_dir: Path, ref: str = "engine:Engine"):
    """What ``ref`` ("module:name", e.g. the engine class) names in the impl folder ``impl_dir``."""
    module, _, cls = ref.partition(":")
    # An impl folder is a plain folder, not a package: its modules import one another by bare
    # name (`from models import ...`), as Python allows a script's own folder. So the folder goes
    # first on the module search path, as it would for a train.py run as a script.
    folder = str(Path(impl_dir).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return getattr(importlib.import_module(module), cls)


def main(argv: list[str] | None = None, impl_dir: Path | None = None, t0: float | None = None) -> int:
    """Train one run with the impl in ``impl_dir`` (default: ``--impl``); exit status as run_entry's."""
    from ganbench.impls import ContractError, load_manifest
    from ganbench.runkit import run_entry, thread_count

    from ganbench.runkit import run_group_entry

    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    if impl_dir is None:
        pre.add_argument("--impl", type=Path, required=True, help="the impl folder (impls/<name>)")
    pre.add_argument("--seed-group", action="store_true", help="train several seeds of one arm at once")
    known, argv = pre.parse_known_args(argv)
    impl_dir = impl_dir if impl_dir is not None else known.impl
    key = "seed_group" if known.seed_group else "engine"
    try:
        impl = load_manifest(impl_dir)
        if getattr(impl, key) is None:
            raise ContractError(f"impls/{impl.name}: its manifest names no '{key}: module:Class' "
                                f"(impls/README.md); add it, or " + (
                                    "train its seeds one run at a time (config seed_groups: off)" if known.seed_group
                                    else "run the folder's own entry script"))
    except ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def load_engine(spec: dict):  # called once the spec is known to be valid
        threads = thread_count(spec)
        if threads:
            os.environ.setdefault("GANBENCH_THREADS", str(threads))
        return load_member(impl.dir, getattr(impl, key))

    run = run_group_entry if known.seed_group else run_entry
    return run(impl.framework, load_engine, argv, t0=T0 if t0 is None else t0)


if __name__ == "__main__":
    sys.exit(main())
