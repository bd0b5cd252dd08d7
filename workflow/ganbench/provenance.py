"""What produced a report: the git commit, package versions and hardware it states."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


PACKAGES = ("numpy", "pandas", "scipy", "matplotlib", "seaborn", "jinja2", "snakemake", "torch",
            "torchvision", "torchmetrics", "tensorflow", "tensorflow-cpu", "keras")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str:
    """Short commit of the code that made the report (the checkout holding this module,
    else the working directory), flagged when tracked files have uncommitted changes."""
    for where in (Path(__file__).resolve().parent, Path.cwd()):
        commit = _git(["rev-parse", "--short", "HEAD"], where)
        if commit:
            dirty = _git(["--no-optional-locks", "status", "--porcelain", "--untracked-files=no"], where)
            return commit + (" (with uncommitted changes)" if dirty else "")
    return "unknown (no git checkout or git not installed)"


def package_versions() -> list[tuple[str, str]]:
    out = []
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return out


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict:
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "python": platform.python_version()}


def provenance_context(df) -> dict:
    """The report's provenance: packages, hardware, git commit, and from the runs (a summary frame)
    the framework versions, devices and FID feature extractors they used."""
    fw_versions, devices, extractors = [], {}, []
    if len(df):
        for fw, grp in df.groupby("framework"):
            versions = sorted(v for v in set(grp["framework_version"].astype(str)) if v not in ("", "nan"))
            fw_versions.append((fw, ", ".join(versions) or "unknown"))
        devices = df["device"].astype(str).replace({"nan": ""}).value_counts().to_dict()
        extractors = sorted(v for v in set(df["extractor_fid"].astype(str)) if v not in ("", "nan"))
    return {"packages": package_versions(), "framework_versions": fw_versions, "hardware": hardware(),
            "devices": devices, "git": git_commit(), "extractors": extractors}
