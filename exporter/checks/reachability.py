"""Reachability: TCP connect and TLS handshake on every resolved address."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from exporter.config import Target
from exporter.engine.context import ProbeContext
from exporter.models import CheckOutcome, Finding
from exporter.net.tls import ConnectStatus

_FAULT_BY_STATUS = {
    ConnectStatus.REFUSED: "tcp_connect_refused",
    ConnectStatus.TIMEOUT: "tcp_connect_timeout",
    # No route / unreachable: a REJECT rule or routing problem; for the operator it is a firewall issue.
    ConnectStatus.UNREACHABLE: "tcp_connect_timeout",
    ConnectStatus.HANDSHAKE_FAILED: "tls_handshake_failed",
    ConnectStatus.HANDSHAKE_TIMEOUT: "tls_handshake_failed",
}


@dataclass(frozen=True)
class AddressReach:
    address: str
    status: str  # ConnectStatus value
    connect_seconds: float
    handshake_seconds: float


@dataclass(frozen=True)
class ReachabilityResult:
    addresses: tuple[AddressReach, ...]


async def run(target: Target, ctx: ProbeContext) -> CheckOutcome:
    addresses = await ctx.addresses()
    sni = ctx.default_sni()
    handshakes = await asyncio.gather(*(ctx.handshake(a, sni) for a in addresses))
    findings = []
    for hs in handshakes:
        fault = _FAULT_BY_STATUS.get(hs.status)
        if fault:
            findings.append(Finding(fault, f"{hs.address} port {hs.port}: {hs.error}", hs.address))
    result = ReachabilityResult(
        tuple(AddressReach(h.address, str(h.status), h.connect_seconds, h.handshake_seconds) for h in handshakes)
    )
    return CheckOutcome(tuple(findings), result)
