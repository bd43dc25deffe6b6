"""--fix: write a normalised copy next to the original, never over any existing file.

The copy is clean PEM (what cryptography writes), leaf first then its issuers,
without the self-signed root, with LF endings. Keys are never copied: a private
key belongs in its own file, and the linter must not export key material.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from exporter.certfiles.lint import Analysis


class FixError(Exception):
    """Nothing sensible to write (no certificate was readable)."""


@dataclass(frozen=True)
class Fixed:
    path: str
    certificates: int  # how many were written (leaf + issuers)
    dropped: int  # certificates in the input that are not on the leaf's path
    had_key: bool  # the input held a private key that was left out on purpose


def fixed_name(original: str, attempt: int = 0) -> Path:
    """cert.pem -> cert.fixed.pem, then cert.fixed.1.pem, cert.fixed.2.pem... if taken."""
    source = Path(original)
    suffix = ".fixed.pem" if attempt == 0 else f".fixed.{attempt}.pem"
    return source.with_name(source.stem + suffix)


def write_fixed(analysis: Analysis, original: str, max_attempts: int = 100) -> Fixed:
    if not analysis.chain:
        raise FixError("no readable certificate to write")
    pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in analysis.chain)
    for attempt in range(max_attempts):
        target = fixed_name(original, attempt)
        try:
            # O_EXCL: an existing file (even one created a moment ago) is never overwritten.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        except OSError as exc:
            raise FixError(f"cannot create {target}: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        had_key = any(parsed.keys for parsed in analysis.files)
        return Fixed(str(target), len(analysis.chain), analysis.dropped, had_key)
    raise FixError(f"{fixed_name(original)} and {max_attempts - 1} numbered names exist already")
