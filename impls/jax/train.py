"""JAX entry point: python impls/jax/train.py --spec S --data D --out O (impls/README.md)."""
import time

T0 = time.perf_counter()

import sys  # noqa: E402

from ganbench import runkit  # noqa: E402


def load_engine():
    # XLA reads its flags once, when jax is first imported: set the thread count first
    # (the spec's `threads` key or GANBENCH_THREADS), then import jax (and only jax).
    import xla_env

    xla_env.configure(runkit.thread_count(runkit.load_spec(runkit.parse_args(sys.argv[1:]).spec)))
    from engine import Engine  # imports jax (never torch or tensorflow)

    return Engine


if __name__ == "__main__":
    sys.exit(runkit.run_entry("JAX", load_engine, t0=T0))
