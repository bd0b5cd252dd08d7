"""The `ganbench` command line: help, study names, Snakemake's own options passing through."""
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ganbench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, CUDA_VISIBLE_DEVICES="", **(env or {}))
    return subprocess.run([str(REPO / "ganbench"), *args], capture_output=True, text=True, cwd=REPO,
                          env=full_env, timeout=600, stdin=subprocess.DEVNULL)


def test_help_is_ours_and_exits_zero():
    for args in (["--help"], ["-h"], ["help"], ["run", "--help"], ["test", "--help"]):
        proc = ganbench(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout.startswith("usage: ./ganbench COMMAND"), (args, proc.stdout[:200])
        assert "set -euo" not in proc.stdout
        assert "snakemake [-h]" not in proc.stdout  # not Snakemake's help


def test_no_or_unknown_command_prints_usage_and_fails():
    assert ganbench().returncode == 2
    proc = ganbench("bogus")
    assert proc.returncode != 0 and "unknown command 'bogus'" in proc.stderr


def test_unknown_study_names_every_config_and_nothing_else():
    proc = ganbench("run", "nope", "-n")
    assert proc.returncode != 0
    assert "no study 'nope': give one of:" in proc.stderr
    names = proc.stderr.split("give one of:")[1].split("(config/NAME.yaml")[0].split()
    shipped = ({p.stem for p in [*(REPO / "config").glob("*.yaml"), *(REPO / ".test" / "config").glob("*.yaml")]}
               - {"config", "recipes"} | {"study"})
    assert set(names) == shipped
    assert "forced" not in proc.stderr and "snakemake" not in proc.stderr


def test_any_config_name_is_a_study_and_snakemakes_config_passes_through():
    # `--config KEY=VALUE` is Snakemake's (the README's Slurm line); the study is a name or --study
    for args in (["run", "smoke", "-n", "--config", "gpus=0"], ["run", "--study", "smoke", "-n", "--config", "gpus=0"]):
        proc = ganbench(*args)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "study: smoke" in proc.stderr
        assert "--configfile" in proc.stderr and "--config gpus=0" in proc.stderr
        assert "This was a dry-run" in proc.stdout + proc.stderr
        assert "report:" not in proc.stderr  # a dry run made no report
        # and it says how many train jobs and how long (the smoke sizes were never timed: no wall time)
        assert "estimate: 6 train jobs at the first look (6 up to the seed cap), on 2 CPU slot(s)" in proc.stderr \
            or "estimate: 6 train jobs at the first look (6 up to the seed cap), on 1 CPU slot(s)" in proc.stderr, \
            proc.stderr[-2000:]
    # celeba.yaml is a study name too: it gets as far as its own config check (no CelebA folder here)
    proc = ganbench("run", "celeba", "-n")
    assert "no study" not in proc.stderr
    assert "celeba_dir" in proc.stdout + proc.stderr


def test_an_interpreter_that_is_not_used_is_named():
    proc = ganbench("setup", env={"PYTHON": "/usr/bin/python3-does-not-exist"})
    assert proc.returncode == 0
    assert "PYTHON=/usr/bin/python3-does-not-exist" in proc.stderr
