"""Reachability: TCP connect and TLS handshake on every resolved address, and whether the server
demands a client certificate (seen in the handshake itself; when the server aborts it for want of
one, in a clear-text TLS 1.2 flight, see net/hello).

A server that demands a client certificate the target does not configure is reported as such,
not as a failed handshake: the handshake fails only for want of the certificate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.aio import all_of
from exporter.checks.base import AddressFacts, CheckPlugin, Facts, NoSettings
from exporter.errors import CannotJudge
from exporter.models import CheckOutcome, ErrorKind, FaultId, Finding
from exporter.net.dns import MAX_ADDRESSES_PER_FAMILY
from exporter.net.tls import ConnectStatus, Handshake
from exporter.target import Target

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


@dataclass(frozen=True, slots=True)
class AddressReach:
    address: str
    status: str  # ConnectStatus value
    connect_seconds: float
    handshake_seconds: float
    client_cert_requested: bool | None = None  # None: unknown (no handshake, no TLS 1.2 answer)


@dataclass(frozen=True, slots=True)
class ReachabilityResult:
    addresses: tuple[AddressReach, ...]


async def run(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
    addresses = await ctx.addresses()
    sni = ctx.default_sni()
    handshakes = await all_of([ctx.handshake(a, sni) for a in addresses])
    requested = await all_of([_cert_requested(ctx, h) for h in handshakes])
    findings = []
    for hs, asked in zip(handshakes, requested, strict=True):
        fault = _FAULT_BY_STATUS.get(hs.status)
        if asked and not target.client_cert:
            findings.append(Finding(FaultId.TLS_CLIENT_CERT_REQUIRED,
                f"{hs.address} port {hs.port} asks for a client certificate in the TLS handshake and the target "
                "configures none (client_cert, client_key): the HTTP-layer checks cannot judge its pages",
                hs.address))
            if hs.status is ConnectStatus.HANDSHAKE_FAILED:
                continue  # refused for want of a certificate: not a broken TLS setup
        if fault:
            findings.append(Finding(fault, f"{hs.address} port {hs.port}: {hs.error}", hs.address))
    result = ReachabilityResult(tuple(AddressReach(h.address, str(h.status), h.connect_seconds, h.handshake_seconds,
                                                   asked) for h, asked in zip(handshakes, requested, strict=True)))
    resolution = await ctx.resolution()
    if resolution.unprobed and not findings:
        # Probing every address of a name with hundreds would let one target swamp the exporter; what was
        # not probed is unknown, so no verdict rather than "all reachable".
        raise CannotJudge(ErrorKind.INCOMPLETE, f"{target.host} has {len(resolution.addresses) + len(resolution.unprobed)} "
                          f"addresses; only the first {MAX_ADDRESSES_PER_FAMILY} per family are probed")
    return CheckOutcome(tuple(findings), result)


async def _cert_requested(ctx: ProbeContext, hs: Handshake) -> bool | None:
    if hs.status not in (ConnectStatus.OK, ConnectStatus.HANDSHAKE_FAILED):
        return None
    return await ctx.cert_requested(hs.address)


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
