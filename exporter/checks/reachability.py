"""Reachability: TCP connect and TLS handshake on every resolved address."""

from __future__ import annotations

from typing import TYPE_CHECKING
import asyncio
from dataclasses import dataclass

from exporter.target import Target
from exporter.checks.base import AddressFacts, CheckPlugin, Facts, NoSettings
from exporter.models import CheckOutcome, FaultId, Finding
from exporter.net.tls import ConnectStatus

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

_FAULT_BY_STATUS = {
    ConnectStatus.REFUSED: FaultId.TCP_CONNECT_REFUSED,
    ConnectStatus.TIMEOUT: FaultId.TCP_CONNECT_TIMEOUT,
    # No route / unreachable: a REJECT rule or routing problem; for the operator it is a firewall issue.
    ConnectStatus.UNREACHABLE: FaultId.TCP_CONNECT_TIMEOUT,
    ConnectStatus.HANDSHAKE_FAILED: FaultId.TLS_HANDSHAKE_FAILED,
    ConnectStatus.HANDSHAKE_TIMEOUT: FaultId.TLS_HANDSHAKE_FAILED,
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


async def run(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
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


def _facts(result: ReachabilityResult) -> Facts:
    return Facts(addresses=tuple(AddressFacts(a.address, reachability=a.status, connect_seconds=a.connect_seconds,
                                              handshake_seconds=a.handshake_seconds)
                                 for a in result.addresses))


PLUGIN = CheckPlugin[NoSettings, ReachabilityResult](
    name="reachability",
    summary="TCP connect and TLS handshake on every resolved address",
    run=run,
    result_type=ReachabilityResult,
    faults=frozenset({FaultId.TCP_CONNECT_REFUSED, FaultId.TCP_CONNECT_TIMEOUT, FaultId.TLS_HANDSHAKE_FAILED,
                      FaultId.TLS_CLIENT_CERT_REQUIRED}),
    facts=_facts,
)
