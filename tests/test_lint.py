"""The workflow is idiomatic Snakemake: `snakemake --lint` and `snakefmt --check` are clean, and the
rules' conda environment pins exactly what requirements.txt pins."""
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_snakemake_lint_is_clean():
    proc = subprocess.run([str(BIN / "snakemake"), "--lint", "--configfile", "config/quick.yaml"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Lints for" not in out, out[-3000:]
    assert "Congratulations, your workflow is in a good condition!" in out


def test_snakefmt_check_is_clean():
    files = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "workflow" / "rules").glob("*.smk"))]
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", *files], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        m = re.match(r"\s*-?\s*([A-Za-z0-9_.\-\[\]]+)==([^\s#]+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_rule_environment_pins_what_requirements_pin():
    env = yaml.safe_load((REPO / "workflow" / "envs" / "ganbench.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in env["dependencies"]
    assert not any(str(x).startswith("-r") for x in pip), "Snakemake copies the env file alone: no -r"
    required = _pins((REPO / "requirements.txt").read_text().splitlines())
    assert required and _pins(f"- {x}" for x in pip) == required
    # every rule that runs code names that environment
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        rules = len(re.findall(r"^(?:rule|checkpoint) \w+:", text, re.M))
        assert text.count('conda:\n        "../envs/ganbench.yaml"') == rules, smk.name
