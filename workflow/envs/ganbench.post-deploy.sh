#!/usr/bin/env bash
# Snakemake runs this once in a freshly built --use-conda environment (workflow/envs/ganbench.yaml):
# it installs this checkout's package (pyproject.toml) editable, as ./ganbench setup does for .venv.
# GANBENCH_REPO is set by the Snakefile.
set -euo pipefail
python -m pip install --no-deps -e "${GANBENCH_REPO:?the Snakefile sets GANBENCH_REPO to the checkout}"
