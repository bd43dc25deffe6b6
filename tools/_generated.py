"""Write a generated file, or with --check fail when the committed one is out of date."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(output: Path, text: str, argv: list[str], root: Path, summary: str = "") -> int:
    if "--check" in argv:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            print(f"{output.relative_to(root)} is out of date: run python tools/{Path(sys.argv[0]).name}",
                  file=sys.stderr)
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output.relative_to(root)}{f' ({summary})' if summary else ''}")
    return 0
