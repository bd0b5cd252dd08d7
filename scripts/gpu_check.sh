#!/usr/bin/env bash
# The GPU check (ganbench.gpu_check): twins on the device, the step-time benchmark, a short slice
# of the study through Snakemake, one markdown table in the output folder. About 8 minutes.
#
#   scripts/gpu_check.sh [--cpu] [--out DIR] [--minutes M] [--wheels DIR]
#
# --cpu       the same steps at tiny sizes on the CPU (the test suite runs this)
# --wheels D  install what is missing (snakemake, ...) from the wheel files in D, offline
# Python: $PYTHON, else this checkout's .venv, else python3. A machine without this checkout's
# package gets it installed editable (pip install --no-deps -e .), as ./ganbench setup does.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY="python3"; fi
fi
args=()
wheels=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="$2"; shift 2 ;;
    --wheels=*) wheels="${1#--wheels=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
say() { printf '[gpu_check] %s\n' "$*" >&2; }
if [ -n "$wheels" ]; then
  for pkg in snakemake jsonschema pandas scipy jinja2 pyyaml; do
    "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('${pkg/pyyaml/yaml}') is None)" 2>/dev/null ||
      { say "installing $pkg from $wheels"; "$PY" -m pip install --quiet --no-index --find-links "$wheels" "$pkg"; }
  done
fi
if ! "$PY" -c "import ganbench" 2>/dev/null; then
  say "installing this checkout's package into $PY (pip install --no-deps -e $REPO)"
  "$PY" -m pip install --quiet --no-deps --no-build-isolation -e "$REPO"
fi
exec "$PY" -m ganbench.gpu_check "${args[@]}"
