#!/usr/bin/env bash
# Quick start 1: install, then run the exporter against the built-in fault lab.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/sslfault demo "$@"
