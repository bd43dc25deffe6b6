"""ruff and mypy, configured in pyproject.toml, over the whole repository: CI runs them as part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    done = _run(str(BIN / "ruff"), "check", "exporter", "lab", "tests", "tools", "grafana", "bench")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_finds_nothing() -> None:
    done = _run(sys.executable, "-m", "mypy")  # files and strictness come from pyproject.toml
    assert done.returncode == 0, done.stdout + done.stderr
