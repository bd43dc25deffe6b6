"""Ask a zone's own name servers directly, the way a CA's validator does.

`find_zone_servers` finds the closest enclosing zone (the first name, from the given
one upwards, that owns an NS RRset, as the recursive resolver sees it) and the
addresses of its name servers. `query_direct` sends one non-recursive query to one
server (UDP, TCP when truncated) with a bounded timeout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from exporter.net.dns import resolve_addresses
from exporter.net.guard import check_destination

MAX_NAME_SERVERS = 8  # a hostile zone could list hundreds; a CA asks a few


class ZoneNotFound(dns.exception.DNSException):
    """No enclosing zone with NS records could be found (the resolver failed or lied)."""


@dataclass(frozen=True)
class NameServer:
    name: str
    addresses: tuple[str, ...]
    error: str | None = None  # why it has no address


@dataclass(frozen=True)
class ZoneServers:
    zone: str
    servers: tuple[NameServer, ...]
    omitted: int = 0  # name servers beyond MAX_NAME_SERVERS, not asked

    def describe(self) -> str:
        """'ns1.example.net (192.0.2.1), ns2.example.net (unresolvable: ...)' for details."""
        parts = []
        for ns in self.servers:
            where = ", ".join(ns.addresses) if ns.addresses else f"no address: {ns.error}"
            parts.append(f"{ns.name} ({where})")
        return ", ".join(parts)


@dataclass(frozen=True)
class ServerAnswer:
    """What one server said: a response, or why there is none."""

    server: str  # the name server's name, or the resolver's address for recursive servers
    address: str
    response: dns.message.Message | None
    error: str | None = None


async def find_zone_servers(resolver: dns.asyncresolver.Resolver, name: str) -> ZoneServers:
    """NS of the closest enclosing zone of `name`, with each server's addresses."""
    candidate = dns.name.from_text(name)
    while True:
        ns_names = await _ns_at(resolver, candidate)
        if ns_names:
            break
        if candidate == dns.name.root or len(candidate) <= 2:
            raise ZoneNotFound(f"no zone with NS records encloses {name}")  # type: ignore[no-untyped-call]  # dnspython's exception __init__ is untyped
        candidate = candidate.parent()
    names = sorted(ns_names)[:MAX_NAME_SERVERS]
    resolutions = await asyncio.gather(*(resolve_addresses(resolver, n) for n in names))
    servers = tuple(
        NameServer(n, r.addresses, None if r.addresses else r.failure_reason()) for n, r in zip(names, resolutions, strict=True)
    )
    return ZoneServers(candidate.to_text(omit_final_dot=True), servers, max(0, len(ns_names) - MAX_NAME_SERVERS))


async def _ns_at(resolver: dns.asyncresolver.Resolver, name: dns.name.Name) -> list[str]:
    """The NS names owned by exactly `name` (not through a CNAME), or [] when it is not a zone apex."""
    try:
        answer = await resolver.resolve(name, "NS", search=False, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    rrset = answer.rrset
    if rrset is None or rrset.name != name:
        return []
    return [rd.target.to_text(omit_final_dot=True).lower() for rd in rrset]


async def query_direct(
    address: str, port: int, qname: str, rdtype: str, timeout: float, *, recursive: bool = False
) -> dns.message.Message:
    """One query to one server, UDP first and TCP when the answer is truncated."""
    check_destination(address, dns_port=port)  # a hostile zone's NS records may name private addresses
    query = dns.message.make_query(qname, dns.rdatatype.from_text(rdtype))
    if not recursive:
        query.flags &= ~dns.flags.RD
    # The whole exchange (UDP, then maybe TCP) stays within `timeout`.
    response, _ = await asyncio.wait_for(
        dns.asyncquery.udp_with_fallback(query, address, timeout=timeout, port=port), timeout
    )
    return response


async def ask_servers(
    targets: list[tuple[str, str, int]], qname: str, rdtype: str, timeout: float, *, recursive: bool = False
) -> list[ServerAnswer]:
    """Query every (label, address, port) concurrently; failures become answers with an error."""

    async def one(label: str, address: str, port: int) -> ServerAnswer:
        try:
            response = await query_direct(address, port, qname, rdtype, timeout, recursive=recursive)
        except (TimeoutError, dns.exception.Timeout):
            return ServerAnswer(label, address, None, "timeout")
        except (OSError, dns.exception.DNSException, EOFError) as exc:
            return ServerAnswer(label, address, None, f"{type(exc).__name__}: {exc}"[:200])
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return ServerAnswer(label, address, response, dns.rcode.to_text(rcode))
        if not recursive and not response.flags & dns.flags.AA:
            return ServerAnswer(label, address, response, "not authoritative for the zone (lame delegation)")
        return ServerAnswer(label, address, response)

    return list(await asyncio.gather(*(one(*t) for t in targets)))


def authoritative_targets(zone: ZoneServers, port: int) -> list[tuple[str, str, int]]:
    return [(ns.name, address, port) for ns in zone.servers for address in ns.addresses]
