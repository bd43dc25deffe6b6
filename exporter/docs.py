"""Generated documentation: `python -m exporter.docs faults > docs/faults.md`, `... runbooks > docs/runbooks.md`.

Tests fail when the files in docs/ drift from what this prints.
"""

from __future__ import annotations

import sys

from exporter.catalog import faults, runbooks
from exporter.checks import PLUGINS


def checks_of(fault: faults.FaultId) -> str:
    return ", ".join(f"`{p.name}`" for p in PLUGINS.values() if fault in p.faults)


def render(kind: str) -> str:
    if kind == "faults":
        return faults.render_markdown(checks_of)
    if kind == "runbooks":
        return runbooks.render_markdown()
    raise ValueError(f"unknown document {kind!r}: faults or runbooks")


if __name__ == "__main__":
    print(render(sys.argv[1] if len(sys.argv) > 1 else "faults"), end="")
