"""DNS resolution through the configured resolvers, with typed outcomes: A and AAAA through the lean
stub in net/dnswire, dnspython for everything it does not handle."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from exporter.net import dnswire
from exporter.target import ip_literal

MAX_ADDRESSES_PER_FAMILY = 32


@dataclass(frozen=True)
class FamilyAnswer:
    """The answer for one record type: addresses, or why there are none."""

    rdtype: str  # "A" or "AAAA"
    addresses: tuple[str, ...] = ()  # the first MAX_ADDRESSES_PER_FAMILY, in address order: what is probed
    error: str | None = None  # "nxdomain", "servfail", "timeout", "no_answer", "error"
    message: str | None = None
    beyond_cap: tuple[str, ...] = ()  # the rest of the answer: compared with expected addresses, never probed


@dataclass(frozen=True)
class Resolution:
    host: str
    a: FamilyAnswer
    aaaa: FamilyAnswer

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.a.addresses + self.aaaa.addresses

    @property
    def unprobed(self) -> tuple[str, ...]:
        """Addresses the name has beyond the per-family cap: no check connects to them."""
        return self.a.beyond_cap + self.aaaa.beyond_cap

    def failure_reason(self) -> str:
        """Why nothing resolved, in words, worst reason first."""
        errors = {f.error for f in (self.a, self.aaaa)}
        for reason in ("nxdomain", "servfail", "timeout", "error"):
            if reason in errors:
                message = next(f.message for f in (self.a, self.aaaa) if f.error == reason)
                return message or reason
        return "no A or AAAA records"


def make_resolver(nameservers: list[tuple[str, int]], timeout: float) -> dns.asyncresolver.Resolver:
    """A resolver on the given servers, or the system's when the list is empty."""
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in nameservers]
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 2.0)
    resolver.cache = None  # each probe must see the current data
    return resolver


def _plain_servers(resolver: dns.asyncresolver.Resolver) -> list[tuple[str, int]] | None:
    """The resolver's servers as (address, port) when all are plain DNS over UDP/TCP, else None."""
    servers = []
    for server in resolver.nameservers:
        if isinstance(server, str):
            servers.append((server, resolver.port))
        elif type(server) is dns.nameserver.Do53Nameserver:
            servers.append((server.address, server.port))
        else:
            return None  # DoH, DoT, DoQ: dnspython's
    return servers


async def _resolve_family(resolver: dns.asyncresolver.Resolver, host: str, rdtype: str) -> FamilyAnswer:
    servers = _plain_servers(resolver)
    lifetime = resolver.lifetime or resolver.timeout
    if servers:
        start = time.monotonic()
        try:
            outcome = await dnswire.lookup(servers, host, rdtype, resolver.timeout, lifetime)
        except dnswire.Unhandled:
            # Not a plain answer: dnspython asks again and judges, within what is left of the lifetime (the
            # stub may have waited on a silent server first).
            lifetime = max(lifetime - (time.monotonic() - start), 0.05)
        else:
            return _from_outcome(outcome, host, rdtype)
    return await _resolve_with_dnspython(resolver, host, rdtype, lifetime)


def _from_outcome(outcome: dnswire.Outcome, host: str, rdtype: str) -> FamilyAnswer:
    if outcome.kind == "answer":
        return FamilyAnswer(rdtype, addresses=outcome.addresses[:MAX_ADDRESSES_PER_FAMILY],
                            beyond_cap=outcome.addresses[MAX_ADDRESSES_PER_FAMILY:])
    if outcome.kind == "nxdomain":
        return FamilyAnswer(rdtype, error="nxdomain", message=f"{host} does not exist (NXDOMAIN)")
    if outcome.kind == "no_answer":
        return FamilyAnswer(rdtype, error="no_answer", message=f"no {rdtype} record")
    if outcome.kind == "timeout":
        return FamilyAnswer(rdtype, error="timeout", message=f"DNS query for {host} {rdtype} timed out")
    return FamilyAnswer(rdtype, error="servfail",
                        message=f"resolvers failed for {host}: {(outcome.detail or 'no answer')[:200]}")


async def _resolve_with_dnspython(resolver: dns.asyncresolver.Resolver, host: str, rdtype: str,
                                  lifetime: float | None = None) -> FamilyAnswer:
    try:
        answer = await resolver.resolve(host, rdtype, search=False, lifetime=lifetime)
    except dns.resolver.NXDOMAIN:
        return FamilyAnswer(rdtype, error="nxdomain", message=f"{host} does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer:
        return FamilyAnswer(rdtype, error="no_answer", message=f"no {rdtype} record")
    except dns.resolver.NoNameservers as exc:
        return FamilyAnswer(rdtype, error="servfail", message=f"resolvers failed for {host}: {_short(exc)}")
    except dns.exception.Timeout:
        return FamilyAnswer(rdtype, error="timeout", message=f"DNS query for {host} {rdtype} timed out")
    except dns.exception.DNSException as exc:
        return FamilyAnswer(rdtype, error="error", message=f"DNS error for {host} {rdtype}: {_short(exc)}")
    # A name with hundreds of addresses (or a lying server) must not fan out into hundreds of probes.
    # The answer itself is bounded by the DNS message size (64 KiB), so the rest is kept for comparison only.
    addresses = tuple(sorted({r.address for r in answer}, key=_address_key))
    return FamilyAnswer(rdtype, addresses=addresses[:MAX_ADDRESSES_PER_FAMILY],
                        beyond_cap=addresses[MAX_ADDRESSES_PER_FAMILY:])


async def resolve_addresses(resolver: dns.asyncresolver.Resolver, host: str) -> Resolution:
    """A and AAAA in parallel; an IP literal resolves to itself."""
    ip = ip_literal(host)
    if ip is None:
        a, aaaa = await asyncio.gather(
            _resolve_family(resolver, host, "A"), _resolve_family(resolver, host, "AAAA")
        )
        return Resolution(host, a, aaaa)
    if ip.version == 4:
        return Resolution(host, FamilyAnswer("A", (str(ip),)), FamilyAnswer("AAAA"))
    return Resolution(host, FamilyAnswer("A"), FamilyAnswer("AAAA", (str(ip),)))


def _address_key(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return ip.version, int(ip)


def _short(exc: Exception, limit: int = 200) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
