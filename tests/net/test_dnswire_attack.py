"""Hostile answers to the lean A/AAAA stub that must not give a verdict dnspython would not give."""

from __future__ import annotations

import asyncio
import struct
import time

from exporter.net import dns as netdns
from exporter.net.dns import make_resolver
from tests.net.test_dnswire import _answer, udp_server


def _record(rtype: int, rdata: bytes) -> bytes:
    return b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata


def _through_net_dns(server: tuple[str, int], rdtype: str) -> tuple[netdns.FamilyAnswer, netdns.FamilyAnswer]:
    resolver = make_resolver([server], 1.0)

    async def go() -> tuple[netdns.FamilyAnswer, netdns.FamilyAnswer]:
        return (await netdns._resolve_family(resolver, "h.example", rdtype),
                await netdns._resolve_with_dnspython(resolver, "h.example", rdtype))

    return asyncio.run(go())


def test_an_aaaa_record_of_four_bytes_is_not_an_ipv6_answer() -> None:
    # A broken (or lying) server: an AAAA record whose data is an IPv4 address. dnspython rejects the message;
    # the stub must not report 192.0.2.7 as the name's IPv6 address.
    bad = _record(28, bytes([192, 0, 2, 7]))
    with udp_server(lambda query: [_answer(query, records=bad, count=1)]) as server:
        stub, reference = _through_net_dns(server, "AAAA")
    assert reference.addresses == ()
    assert stub.addresses == (), stub


def test_an_a_record_of_sixteen_bytes_is_not_an_ipv4_answer() -> None:
    bad = _record(1, bytes(15) + b"\x01")
    with udp_server(lambda query: [_answer(query, records=bad, count=1)]) as server:
        stub, reference = _through_net_dns(server, "A")
    assert reference.addresses == ()
    assert stub.addresses == (), stub


def test_falling_back_to_dnspython_keeps_within_the_lifetime() -> None:
    # One silent server, then one whose answer the stub hands over (truncated): dnspython must get what is
    # left of the lifetime, not a fresh one, or the lookup outlives the configured DNS timeout.
    with udp_server(lambda query: []) as silent, \
            udp_server(lambda query: [_answer(query, flags=0x8380)]) as truncating:
        resolver = make_resolver([silent, truncating], 1.0)
        resolver.timeout = 0.6

        async def go() -> float:
            start = time.monotonic()
            await netdns._resolve_family(resolver, "h.example", "A")
            return time.monotonic() - start

        elapsed = asyncio.run(go())
    assert elapsed < 1.3, f"a 1 s DNS lifetime took {elapsed:.2f} s"
