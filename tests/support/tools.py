"""External tools the deploy tests run (promtool, hadolint, yamllint...): skip locally, fail in CI.

A developer without, say, hadolint still gets a green run with the reason printed (`-ra`);
CI (`CI` set, as .ci/run and every CI service do) must have them all, so a missing tool there
is a failure, never a silent skip.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def missing(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI must have it: scripts/setup.sh test, scripts/install-system-deps.sh)")
    pytest.skip(reason)


def tool(name: str) -> str:
    """The tool's path: on PATH, next to this Python (the venv's bin/) or in /usr/bin."""
    candidates = [shutil.which(name), str(Path(sys.executable).parent / name), f"/usr/bin/{name}"]
    for path in candidates:
        runs = path and os.access(path, os.X_OK) and subprocess.run(
            [path, "--version"], capture_output=True, check=False).returncode == 0
        if path and runs:
            return path
    missing(f"{name} is not installed")
    raise AssertionError("unreachable")


def module(name: str, install: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"{name} is not installed ({install})")
        raise
