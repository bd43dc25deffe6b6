"""Certificate files on disk (guide S5), linted like `sslfault lint-cert`.

The daemon's file watcher makes one target per watched file (`file:<path>`, the file's
path as its host) and decides when it is due; the runner runs this check on it like any
other, so timing, error kinds and the store are the same as for network checks.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from exporter.certfiles.lint import lint_files
from exporter.checks._metrics import CERT_INFO, CERT_NOT_AFTER, CERT_NOT_BEFORE, CHAIN_NOT_AFTER, leaf_samples
from exporter.checks.base import CheckPlugin, Sample, Settings
from exporter.models import CheckOutcome, FaultId
from exporter.pki.certinfo import CertSummary
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext


class CertFileSettings(Settings):
    """Set by the file watcher from a `cert_files:` entry, not per target in YAML."""

    key_path: str | None = None
    password_file: str | None = None  # PKCS#12 / encrypted key password, read from a file
    password_env: str | None = None  # ... or from an environment variable


@dataclass(frozen=True, slots=True)
class CertFilesResult:
    certificates: tuple[CertSummary, ...]  # leaf first


def _password(settings: CertFileSettings) -> bytes | None:
    if settings.password_env:
        value = os.environ.get(settings.password_env)
        return value.encode() if value is not None else None
    if settings.password_file:
        try:
            return Path(settings.password_file).read_bytes().rstrip(b"\r\n")
        except OSError:
            return None
    return None


async def run(target: Target, settings: CertFileSettings, ctx: ProbeContext) -> CheckOutcome:
    trust = ctx.resources.config.trust
    # File reads and parsing block: a worker thread, so a slow disk never stalls the probes.
    linted = await asyncio.to_thread(
        lint_files, [target.host], key_path=settings.key_path, password=_password(settings),
        ca_file=trust.ca_files, use_system_roots=trust.use_system, now=ctx.now(),
        expiry_warning_days=target.expiry_warning_days,
        # The tls check's setting, under `defaults:`: a file has no target block of its own.
        private_ca_max_lifetime_days=getattr(ctx.resources.config.defaults, "private_ca_max_lifetime_days", None))
    return CheckOutcome(linted.findings, CertFilesResult(linted.certificates))


def _samples(target: Target, result: CertFilesResult) -> list[Sample]:
    if not result.certificates:
        return []
    # A file has no address: the label is empty. Chain expiry: every non-root certificate in it.
    leaf = result.certificates[0]
    chain_end = min(c.not_after for c in result.certificates if not c.self_signed or c is leaf)
    chain = [Sample(CHAIN_NOT_AFTER.name, ("",), chain_end)] if chain_end < leaf.not_after else []
    return [*leaf_samples("", leaf), *chain]


PLUGIN = CheckPlugin[CertFileSettings, CertFilesResult](
    name="cert_files",
    summary="certificate, chain and key files on disk parse, match and build a path (S5), and are not expiring",
    run=run,
    result_type=CertFilesResult,
    faults=frozenset({FaultId.CERT_FILE_INVALID_PEM, FaultId.CERT_FILE_WHITESPACE, FaultId.CERT_FILE_CHAIN_INCOMPLETE,
                      FaultId.CERT_FILE_WRONG_ORDER, FaultId.CERT_FILE_KEY_MISMATCH,
                      # The certificates in the file, judged as the tls and chain checks judge served ones.
                      FaultId.CERT_EXPIRED, FaultId.CERT_EXPIRING_SOON, FaultId.CERT_NOT_YET_VALID,
                      FaultId.CHAIN_CERT_EXPIRED, FaultId.CERT_LIFETIME_EXCEEDS_POLICY, FaultId.CERT_WEAK_CRYPTO,
                      FaultId.CERT_CRYPTO_REJECTED}),
    settings=CertFileSettings,
    metrics=(CERT_NOT_AFTER, CERT_NOT_BEFORE, CERT_INFO, CHAIN_NOT_AFTER),
    samples=_samples,
    kind="file",
)
