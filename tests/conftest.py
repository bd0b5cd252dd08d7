"""Session-wide set-up: every JAX process the tests start shares one compilation cache.

Many tests train the same small JAX programs in separate processes (a run and its resumed
twin, the two runs of a byte-identity check, a smoke study's seeds); with JAX's persistent
compilation cache (``JAX_COMPILATION_CACHE_DIR``) each program compiles once per session
instead of once per process. The cache is a fresh folder per session (CI measures a cold
start) and is removed at the end. A size limit turns on the cache's file lock, so two JAX
processes compiling the same program at once never read a half-written entry. A cache the
caller set is used as it is.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
CACHE_KEY = pytest.StashKey[str]()


def pytest_configure(config):
    if _CACHE_ENV in os.environ:
        return
    path = tempfile.mkdtemp(prefix="ganbench-tests-jax-cache-")
    os.environ[_CACHE_ENV] = path
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # the default caches only >= 1 s
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 << 30))  # bytes; > 0 locks reads and writes
    config.stash[CACHE_KEY] = path


def pytest_unconfigure(config):
    path = config.stash.get(CACHE_KEY, None)
    if path:
        shutil.rmtree(path, ignore_errors=True)



@pytest.fixture(scope="module")
def single_torch_thread():
    """One torch thread for a module that scores in the pytest process: the 2 cores are shared with
    other test runs, and OpenMP with 2 threads on a busy 2-core machine is ~3x slower than 1."""
    import torch  # here, not at the top: only the modules that ask for it load torch in this process

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """The evaluator's reference-statistics cache, one per test module."""
    return tmp_path_factory.mktemp("cache")
