"""Process set-up that must happen before ``import jax`` (XLA reads XLA_FLAGS once, at start-up).

* threads: ``GANBENCH_THREADS`` / the spec's ``threads``; XLA:CPU has no "N threads" knob, so
  1 turns off Eigen's thread pool (``--xla_cpu_multi_thread_eigen=false``) and any other count
  leaves XLA's default (all cores);
* determinism: XLA:CPU is deterministic as it is (fixed reduction order, no autotuning);
  on a GPU, ``GANBENCH_DETERMINISTIC=1`` adds ``--xla_gpu_deterministic_ops=true``;
* precision: float32 everywhere, x64 off (the default); matmuls and convolutions at
  ``highest`` precision (no TF32 on a GPU), set in engine.py through ``jax.config``.
"""
from __future__ import annotations

import os
import sys

_DONE = False


def configure(threads: int | None) -> None:
    global _DONE
    if _DONE:
        return
    if "jax" in sys.modules:  # too late to change XLA's flags; keep what the process has
        _DONE = True
        return
    flags = os.environ.get("XLA_FLAGS", "").split()
    if threads == 1 and not any(f.startswith("--xla_cpu_multi_thread_eigen") for f in flags):
        flags.append("--xla_cpu_multi_thread_eigen=false")
    if os.environ.get("GANBENCH_DETERMINISTIC", "0") not in ("", "0", "false", "False") \
            and not any(f.startswith("--xla_gpu_deterministic_ops") for f in flags):
        flags.append("--xla_gpu_deterministic_ops=true")
    if flags:
        os.environ["XLA_FLAGS"] = " ".join(flags)
    os.environ.setdefault("JAX_ENABLE_X64", "0")
    _DONE = True
