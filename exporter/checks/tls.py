"""TLS: the leaf each address serves: validity, host name, lifetime policy, crypto, no-SNI default.

The CA/B Forum lifetime caps bind publicly trusted CAs only: the leaf is judged against them
when its path (the pki engine's, shared with the chain check) ends at a public root, and
against `private_ca_max_lifetime_days` when it ends at one of the operator's CA files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cryptography import x509
from pydantic import Field

from exporter.aio import all_of
from exporter.checks._metrics import CERT_INFO, CERT_NOT_AFTER, CERT_NOT_BEFORE, leaf_samples
from exporter.checks.base import AddressFacts, CheckPlugin, Facts, MetricSpec, Sample, Settings
from exporter.errors import InvalidResponse
from exporter.models import CheckOutcome, FaultId, Finding
from exporter.net.tls import ConnectStatus, Handshake
from exporter.pki.certinfo import (
    CertSummary,
    crypto_findings_of,
    describe,
    lifetime_finding,
    load_der,
    san_names,
    summary_of,
    validity_findings,
)
from exporter.pki.names import covers
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext


class TlsSettings(Settings):
    # Longest lifetime (days) accepted for leaves of a private CA (a `trust.ca_files` root); unset: no cap.
    private_ca_max_lifetime_days: int | None = Field(default=None, ge=1, le=36500)


@dataclass(frozen=True, slots=True)
class AddressTls:
    address: str
    version: str | None
    cipher: str | None
    leaf: CertSummary
    no_sni_subject: str | None  # what a client without SNI gets; None if not probed or failed


@dataclass(frozen=True, slots=True)
class TlsResult:
    addresses: tuple[AddressTls, ...]


async def run(target: Target, settings: TlsSettings, ctx: ProbeContext) -> CheckOutcome:
    served = await ctx.served_handshakes()
    now = ctx.now()
    # An unparsable leaf is reported by the chain check (cert_untrusted); here there are no facts to give.
    served = [h for h in served if _parses(h.chain_der[0])]
    if not served:
        raise InvalidResponse("no address served a certificate that can be parsed; see the chain check")
    # The no-SNI handshakes start now, alongside the judging, so both fit in the check's timeout.
    if ctx.default_sni() is not None:
        for hs in served:
            asyncio.ensure_future(ctx.default_handshake(hs.address, hs.chain_der[0]))
    judged = await all_of([_judge_address(hs, target, settings, ctx, now) for hs in served])
    findings = [f for address_findings, _ in judged for f in address_findings]
    per_address = [address for _, address in judged]
    return CheckOutcome(tuple(findings), TlsResult(tuple(per_address)))


def _parses(der: bytes) -> bool:
    try:
        load_der(der)
    except ValueError:
        return False
    return True


async def _judge_address(
    hs: Handshake, target: Target, settings: TlsSettings, ctx: ProbeContext, now: dt.datetime
) -> tuple[list[Finding], AddressTls]:
    leaf = load_der(hs.chain_der[0])
    findings = validity_findings(leaf, now, target.expiry_warning_days, hs.address)
    findings += [replace(f, address=hs.address) for f in crypto_findings_of(hs.chain_der[0])]
    findings += await _lifetime(hs, leaf, settings, ctx)
    covered = covers(leaf, target.host)
    if not covered:
        names = ", ".join(san_names(leaf)) or "no subjectAltName at all"
        findings.append(
            Finding(FaultId.CERT_HOSTNAME_MISMATCH, f"{describe(leaf)} covers {names}, not {target.host}", hs.address)
        )
    no_sni_subject = None
    # Only meaningful when SNI clients get a right certificate; otherwise the mismatch above says it all.
    if ctx.default_sni() is not None and covered:
        default = await ctx.default_handshake(hs.address, hs.chain_der[0])
        no_sni_subject, finding = _judge_default(default, target.host)
        if finding:
            findings.append(finding)
    return findings, AddressTls(hs.address, hs.version, hs.cipher, summary_of(hs.chain_der[0]), no_sni_subject)


async def _lifetime(hs: Handshake, leaf: x509.Certificate, settings: TlsSettings, ctx: ProbeContext) -> list[Finding]:
    try:
        verdict = (await ctx.judged_chain(hs)).verdict
    except ValueError:
        return []  # an intermediate cannot be parsed: the chain check says so; no anchor, no rule
    if not verdict.anchored:
        return []  # no path to any root: neither the public rules nor the operator's cap apply
    finding = lifetime_finding(leaf, verdict.public, settings.private_ca_max_lifetime_days, hs.address)
    return [finding] if finding else []


def _judge_default(hs: Handshake, host: str) -> tuple[str | None, Finding | None]:
    """What a client sending no SNI gets (guide S8: IIS bindings without a host name)."""
    if hs.status is not ConnectStatus.OK or not hs.chain_der or not _parses(hs.chain_der[0]):
        detail = f"a client that sends no SNI cannot connect: {hs.error or 'unparsable certificate'}"
        return None, Finding(FaultId.SNI_DEFAULT_CERT_MISMATCH, detail, hs.address)
    leaf = load_der(hs.chain_der[0])
    if covers(leaf, host):
        return leaf.subject.rfc4514_string(), None
    names = ", ".join(san_names(leaf)) or "no subjectAltName"
    detail = f"without SNI the server presents {describe(leaf)} ({names}), which does not cover {host}"
    return leaf.subject.rfc4514_string(), Finding(FaultId.SNI_DEFAULT_CERT_MISMATCH, detail, hs.address)


TLS_VERSION = MetricSpec("sslfault_tls_version", "TLS version negotiated on the address (latest scheduled run).",
                         ("address",), "info")


def _samples(target: Target, result: TlsResult) -> list[Sample]:
    samples: list[Sample] = []
    for a in result.addresses:
        samples += leaf_samples(a.address, a.leaf)
        if a.version:
            samples.append(Sample(TLS_VERSION.name, (a.address,), {"version": a.version}))
    return samples


def _facts(result: TlsResult) -> Facts:
    return Facts(addresses=tuple(
        AddressFacts(a.address, tls_version=a.version, cipher=a.cipher, leaf_subject=a.leaf.subject,
                     leaf_names=a.leaf.names, leaf_key_type=a.leaf.key_type, leaf_not_after=a.leaf.not_after)
        for a in result.addresses))


PLUGIN = CheckPlugin[TlsSettings, TlsResult](
    name="tls",
    summary="the leaf each address serves: validity, host name, lifetime policy, key strength, no-SNI default",
    run=run,
    result_type=TlsResult,
    faults=frozenset({FaultId.CERT_EXPIRED, FaultId.CERT_EXPIRING_SOON, FaultId.CERT_NOT_YET_VALID,
                      FaultId.CERT_HOSTNAME_MISMATCH, FaultId.CERT_LIFETIME_EXCEEDS_POLICY,
                      FaultId.CERT_WEAK_CRYPTO, FaultId.CERT_CRYPTO_REJECTED, FaultId.SNI_DEFAULT_CERT_MISMATCH}),
    settings=TlsSettings,
    defaultable=("private_ca_max_lifetime_days",),
    metrics=(CERT_NOT_AFTER, CERT_NOT_BEFORE, CERT_INFO, TLS_VERSION),
    samples=_samples,
    facts=_facts,
)
