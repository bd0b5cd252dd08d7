"""Time the evaluator on 10k samples (not a test; prints the figures).

    python -m ganbench.metrics.benchmark [--data results/data/mnist.npz] [--threads 1]

Scores 10k MNIST train images (stand-ins for generated samples) twice: the first
call may build the reference-statistics cache, the second is the steady-state
cost every run pays. Uses a temporary cache folder unless --cache-dir is given.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("results/data/mnist.npz"))
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from ganbench.metrics.evaluate import score_images

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if not data.is_file():
            from ganbench.data import build_dataset

            data = Path(tmp) / "mnist.npz"
            build_dataset("mnist", data)
        with np.load(data) as npz:
            images = npz["train_images"][: args.n]
        cache = args.cache_dir or Path(tmp) / "cache"
        print(f"device {'cuda' if torch.cuda.is_available() else 'cpu'}, torch threads {torch.get_num_threads()}, "
              f"{images.shape[0]} samples")
        for i in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            result = score_images(images, data, cache)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            label = "first (builds the reference cache if absent)" if i == 0 else "warm cache"
            # CPU time is the better figure on a shared machine (wall time includes waiting for cores).
            print(f"run {i + 1}: wall {dt:6.2f} s, cpu {dc:6.2f} s  [{label}]  fid={result['metrics']['fid']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
