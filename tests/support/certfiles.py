"""Shared helpers of the certificate-file linter tests (the `pki` and `leaf` fixtures are in conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporter.certfiles import LintResult, lint_files
from sslfault_lab.pki import LabPKI


def lint_upload(pki: LabPKI, tmp: Path, files: dict[str, bytes], key: bytes | None = None, **kw: Any) -> LintResult:
    """Write the files and lint them as one upload, trusting only the lab root."""
    root = tmp / "lab-root.pem"
    root.write_bytes(pki.root_pem)
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    if key is not None:
        (tmp / "given.key").write_bytes(key)
    kw = {"ca_file": str(root), "use_system_roots": False, "now": pki.now, **kw}
    return lint_files([str(tmp / n) for n in files], key_path=str(tmp / "given.key") if key else None, **kw)


def faults(result: LintResult) -> list[tuple[str, int | None]]:
    return [(f.fault, f.data["line"]) for f in result.findings]


def height(pem: bytes) -> int:
    return len(pem.splitlines())
