#!/usr/bin/env bash
# Workflow engine benchmarks: loomwork, Medusa's engine and DBOS in one invocation.
#   bench/run.sh            full run: writes bench/RESULTS.md and bench/results/workflows.json
#   bench/run.sh --quick    smoke run (small N)
# Needs the project's .venv, node >= 20 with npm, and PostgreSQL at 127.0.0.1:5432
# (user postgres); the peers are installed into bench/.out/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "no .venv: create it and install the project first" >&2; exit 1; }
exec .venv/bin/python bench/run_all.py "$@"
