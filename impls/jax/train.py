"""JAX entry point: python impls/jax/train.py --spec S --data D --out O (impls/README.md).

An impl needs no train.py (ganbench.impl_entry runs the manifest's engine); this one is kept so the
train jobs of studies finished before keep their command (Snakemake reruns a job whose command changed).
"""
import time

T0 = time.perf_counter()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from ganbench.impl_entry import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], impl_dir=Path(__file__).resolve().parent, t0=T0))
