#!/usr/bin/env bash
# Quick start 2: install what the tests need (Debian packages when root), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
scripts/install-system-deps.sh
# The venv's bin/ first: the tests run the linters it installs (hadolint, yamllint, kubernetes-validate).
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
