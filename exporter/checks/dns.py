"""DNS: the name resolves (A/AAAA), and only to the addresses the operator expects."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.config import Target
from exporter.engine.context import ProbeContext
from exporter.models import CheckOutcome, Finding


@dataclass(frozen=True)
class DnsResult:
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]


async def run(target: Target, ctx: ProbeContext) -> CheckOutcome:
    resolution = await ctx.resolution()
    result = DnsResult(ipv4=resolution.a.addresses, ipv6=resolution.aaaa.addresses)
    if not resolution.addresses:
        finding = Finding("dns_resolution_failed", f"{target.host}: {resolution.failure_reason()}")
        return CheckOutcome((finding,), result)
    findings = []
    if target.expected_addresses:
        expected = set(target.expected_addresses)
        for address in resolution.addresses:
            if address not in expected:
                findings.append(
                    Finding(
                        "dns_unexpected_address",
                        f"{target.host} resolves to {address}, which is not one of the expected addresses "
                        f"({', '.join(target.expected_addresses)})",
                        address,
                    )
                )
    return CheckOutcome(tuple(findings), result)
