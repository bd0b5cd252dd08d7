"""Where the Inception-v3 FID weights are, without importing torch (the Snakefile asks too).

Looked up in order: an explicit path, ``$GANBENCH_INCEPTION_WEIGHTS``, then torch's hub
cache (``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``,
as ``torch.hub.get_dir()`` resolves it) under ``checkpoints/``. Never downloaded.
"""
from __future__ import annotations

import os
from pathlib import Path

INCEPTION_ENV = "GANBENCH_INCEPTION_WEIGHTS"
INCEPTION_HUB_NAMES = ("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth")


def torch_hub_dir() -> Path:
    """The folder ``torch.hub.get_dir()`` returns, computed the same way."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]).expanduser() / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "torch" / "hub"


def find_inception_weights(path: str | Path | None = None, hub: str | Path | None = None) -> tuple[Path | None, str]:
    """(weights path, '') when usable, else (None, reason saying where to put the file)."""
    if path:
        p = Path(path).expanduser()
        return (p, "") if p.is_file() else (None, f"Inception weights {p} do not exist")
    env = os.environ.get(INCEPTION_ENV)
    if env:
        p = Path(env).expanduser()
        return (p, "") if p.is_file() else (None, f"{INCEPTION_ENV}={env} does not exist")
    hub = Path(hub) if hub is not None else torch_hub_dir()
    for name in INCEPTION_HUB_NAMES:
        if (hub / "checkpoints" / name).is_file():
            return hub / "checkpoints" / name, ""
    return None, (
        f"no Inception-v3 weights: pass --inception-weights PATH, set {INCEPTION_ENV}, or place "
        f"{INCEPTION_HUB_NAMES[0]} in {hub / 'checkpoints'} (never downloaded)"
    )
