"""Where the Inception-v3 FID weights are, without importing torch (the Snakefile asks too).

Looked up in order: an explicit path (``--inception-weights``, the config's
``inception_weights``), ``$GANBENCH_INCEPTION_WEIGHTS``, then torch's hub cache
(``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``, as
``torch.hub.get_dir()`` resolves it) under ``checkpoints/``. The first of the first two that
is set is used (a set path that does not exist is not skipped). Never downloaded.
"""
from __future__ import annotations

import os
from pathlib import Path

INCEPTION_ENV = "GANBENCH_INCEPTION_WEIGHTS"
INCEPTION_HUB_NAMES = ("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth")
# pytorch-fid's release of the file (torch-fidelity publishes the same weights as INCEPTION_HUB_NAMES[1])
INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                 "pt_inception-2015-12-05-6726825d.pth")
INCEPTION_ONLY_DATASETS = ("celeba",)  # scored with Inception-v3 only: its weights are required


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


def where_to_put_weights(path: str | Path | None = None, hub: str | Path | None = None) -> str:
    """The lookup order, what each place holds now, and where to put the file (for error messages)."""
    hub = Path(hub) if hub is not None else torch_hub_dir()
    checkpoints = hub / "checkpoints"
    env = os.environ.get(INCEPTION_ENV)
    return (
        "Looked up in this order (1 or 2, when set, is used without looking further): "
        f"1. the config's inception_weights / --inception-weights ({path or 'not set'}); "
        f"2. ${INCEPTION_ENV} ({env or 'not set'}); "
        f"3. the torch hub cache: {checkpoints / INCEPTION_HUB_NAMES[0]} or {INCEPTION_HUB_NAMES[1]} there "
        f"({'absent' if not any((checkpoints / n).is_file() for n in INCEPTION_HUB_NAMES) else 'present'}). "
        f"Put {INCEPTION_HUB_NAMES[0]} in {checkpoints}/ (or anywhere, and set inception_weights: PATH in "
        f"the config or {INCEPTION_ENV}=PATH); download it once, on a machine with internet access, from "
        f"{INCEPTION_URL}. Nothing is ever downloaded by the study."
    )
