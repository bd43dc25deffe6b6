#!/usr/bin/env bash
# Creates .venv and installs ssl-fault-exporter and its fault lab (lab/) into it (with test extras when given "test"),
# every package at the version constraints.txt pins (the image builds from the same file).
# Re-running is cheap: it reinstalls only when pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
extras=${1:-}
stamp=".venv/.installed${extras:+-$extras}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ lab/pyproject.toml -nt "$stamp" ] ||
   [ constraints.txt -nt "$stamp" ]; then
  echo "installing ssl-fault-exporter${extras:+ with [$extras]} into .venv (log: .venv/install.log)" >&2
  # pip's build warnings are noise on success; the log is printed when something fails.
  if ! { .venv/bin/python -m pip install --quiet --upgrade pip &&
         .venv/bin/python -m pip install --quiet -c constraints.txt -e ./lab -e ".[lab${extras:+,$extras}]"; } \
       > .venv/install.log 2>&1; then
    cat .venv/install.log >&2
    exit 1
  fi
  touch "$stamp"
fi
# Make `sslfault` callable as the README writes it: link it onto the PATH when we may
# (root, or a writable ~/.local/bin); otherwise run .venv/bin/sslfault or `. .venv/bin/activate`.
for dir in /usr/local/bin "$HOME/.local/bin"; do
  if [ -d "$dir" ] && [ -w "$dir" ]; then
    current=$(readlink -f "$dir/sslfault" 2>/dev/null || true)
    if [ ! -e "$dir/sslfault" ] || [ "$current" = "$(readlink -f .venv/bin/sslfault)" ] || [ -L "$dir/sslfault" ]; then
      ln -sfn "$(pwd)/.venv/bin/sslfault" "$dir/sslfault"
    fi
    break
  fi
done
