"""DNS: the name resolves (A/AAAA), and only to the addresses the operator expects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.checks.base import CheckPlugin, Facts, Flag, MetricSpec, Sample, Settings
from exporter.config_types import IpAddress
from exporter.models import CheckOutcome, FaultId, Finding
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext


class DnsSettings(Settings):
    # Addresses the name may resolve to; any other is dns_unexpected_address. Empty: any address.
    expected_addresses: tuple[IpAddress, ...] = ()


@dataclass(frozen=True, slots=True)
class DnsResult:
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]


async def run(target: Target, settings: DnsSettings, ctx: ProbeContext) -> CheckOutcome:
    resolution = await ctx.resolution()
    result = DnsResult(ipv4=resolution.a.addresses, ipv6=resolution.aaaa.addresses)
    if not resolution.addresses:
        finding = Finding(FaultId.DNS_RESOLUTION_FAILED, f"{target.host}: {resolution.failure_reason()}")
        return CheckOutcome((finding,), result)
    findings = []
    if settings.expected_addresses:
        expected = set(settings.expected_addresses)
        for address in resolution.addresses + resolution.unprobed:
            if address not in expected:
                findings.append(
                    Finding(
                        FaultId.DNS_UNEXPECTED_ADDRESS,
                        f"{target.host} resolves to {address}, which is not one of the expected addresses "
                        f"({', '.join(settings.expected_addresses)})",
                        address,
                    )
                )
    return CheckOutcome(tuple(findings), result)


DNS_ADDRESSES = MetricSpec("sslfault_dns_addresses", "Addresses the name resolved to (latest scheduled run).",
                           ("family",))


def _samples(target: Target, result: DnsResult) -> list[Sample]:
    return [Sample(DNS_ADDRESSES.name, ("ipv4",), len(result.ipv4)),
            Sample(DNS_ADDRESSES.name, ("ipv6",), len(result.ipv6))]


PLUGIN = CheckPlugin[DnsSettings, DnsResult](
    name="dns",
    summary="the name resolves (A/AAAA), and only to the expected addresses",
    run=run,
    result_type=DnsResult,
    faults=frozenset({FaultId.DNS_RESOLUTION_FAILED, FaultId.DNS_UNEXPECTED_ADDRESS}),
    settings=DnsSettings,
    metrics=(DNS_ADDRESSES,),
    samples=_samples,
    facts=lambda r: Facts(resolved=r.ipv4 + r.ipv6),
    flags=(Flag("--expected-address", "expected_addresses", "an address the name may resolve to (repeatable)",
                metavar="IP", repeat=True),),
)
