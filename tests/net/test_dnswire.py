"""The lean A/AAAA stub (net/dnswire) against a real Knot and hostile UDP servers: it must give what
dnspython gives, and hand anything it does not handle (truncation, odd rcodes, broken messages) back."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exporter.net import dns as netdns
from exporter.net import dnswire
from exporter.net.dns import FamilyAnswer, make_resolver
from tests.support.knot import KNOTD, free_port, knot_config, wait_for_zone

pytestmark = pytest.mark.skipif(KNOTD is None, reason="knotd not installed (Debian package `knot`; "
                                "scripts/install-system-deps.sh installs it as root)")
ADDRESS = "127.77.53.1"
ZONE = "wire.test"
MANY = 60  # A records: the UDP answer exceeds 512 bytes, so the server truncates it


def _zone() -> str:
    lines = [
        "$TTL 60",
        f"@ SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 60",
        f"@ NS ns.{ZONE}.",
        f"ns A {ADDRESS}",
        "one A 192.0.2.1",
        "both A 192.0.2.2",
        "both AAAA 2001:db8::2",
        "v6 AAAA 2001:db8::10",
        "v6 AAAA 2001:db8::9",
        "alias CNAME hop",
        "hop CNAME both",
        "dangling CNAME elsewhere.example.",
        "loop1 CNAME loop2",
        "loop2 CNAME loop1",
        "txtonly TXT hello",
    ]
    lines += [f"many A 198.51.100.{i + 1}" for i in range(MANY)]
    lines += [f"forty A 203.0.113.{i + 1}" for i in range(40)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def knot() -> Iterator[int]:
    assert KNOTD is not None
    port = free_port([ADDRESS])
    workdir = Path(tempfile.mkdtemp(prefix="sslfault-dnswire-"))
    config = knot_config(workdir, ADDRESS, port, {ZONE: _zone()})
    log = workdir / "knotd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([KNOTD, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_zone(ADDRESS, port, ZONE, proc, log)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


def _both(port: int, name: str, rdtype: str) -> tuple[FamilyAnswer, FamilyAnswer, list[str]]:
    """(the stub's answer through net/dns, dnspython's, what the stub alone said)."""
    resolver = make_resolver([(ADDRESS, port)], 2.0)

    async def go() -> tuple[FamilyAnswer, FamilyAnswer, list[str]]:
        said: list[str] = []
        try:
            said.append((await dnswire.lookup([(ADDRESS, port)], name, rdtype, 2.0, 2.0)).kind)
        except dnswire.Unhandled as exc:
            said.append(f"unhandled: {exc}")
        return (await netdns._resolve_family(resolver, name, rdtype),
                await netdns._resolve_with_dnspython(resolver, name, rdtype), said)

    return asyncio.run(go())


@pytest.mark.parametrize(("name", "rdtype", "kind"), [
    ("one", "A", "answer"), ("ONE", "A", "answer"), ("both", "AAAA", "answer"), ("v6", "AAAA", "answer"),
    ("alias", "A", "answer"), ("alias", "AAAA", "answer"), ("forty", "A", "unhandled"),
    ("one", "AAAA", "no_answer"), ("txtonly", "A", "no_answer"), ("dangling", "A", "no_answer"),
    ("loop1", "A", "unhandled"), ("absent", "A", "nxdomain"), ("many", "A", "unhandled"),
])
def test_the_stub_agrees_with_dnspython_on_knot(knot: int, name: str, rdtype: str, kind: str) -> None:
    fast, reference, said = _both(knot, f"{name}.{ZONE}", rdtype)
    assert said[0].startswith(kind), said
    assert fast == reference, (fast, reference)
    if kind == "answer":
        assert fast.addresses and fast.error is None
    if name == "forty":
        assert len(fast.addresses) == netdns.MAX_ADDRESSES_PER_FAMILY and len(fast.beyond_cap) == 8
    if name == "many":  # truncated over UDP (as "forty" is): dnspython asked again over TCP and got every record
        assert len(fast.addresses) + len(fast.beyond_cap) == MANY


# -- hostile servers -------------------------------------------------------------------------------


@contextlib.contextmanager
def udp_server(reply: Callable[[bytes], list[bytes]]) -> Iterator[tuple[str, int]]:
    """A UDP server on loopback answering each query with the datagrams `reply` builds."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.77.53.2", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            for datagram in reply(query):
                sock.sendto(datagram, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()
    finally:
        stop.set()
        thread.join()
        sock.close()


def _answer(query: bytes, *, qid: int | None = None, flags: int = 0x8180, records: bytes = b"", count: int = 0) -> bytes:
    question = query[12:]
    header = struct.pack("!HHHHHH", query[0] << 8 | query[1] if qid is None else qid, flags, 1, count, 0, 0)
    return header + question + records


A_RECORD = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 7])


def _run(server: tuple[str, int], lifetime: float = 1.0) -> dnswire.Outcome:
    return asyncio.run(dnswire.lookup([server], "h.example", "A", lifetime, lifetime))


def test_stray_datagrams_are_ignored_and_the_real_answer_taken() -> None:
    def reply(query: bytes) -> list[bytes]:
        qid = query[0] << 8 | query[1]
        return [b"\x00" * 5, _answer(query, qid=(qid + 1) % 65536, records=A_RECORD, count=1),
                _answer(query, records=A_RECORD, count=1)]

    with udp_server(reply) as server:
        assert _run(server) == dnswire.Outcome("answer", ("192.0.2.7",))


def test_silence_is_a_timeout_within_the_lifetime() -> None:
    with udp_server(lambda query: []) as server:
        assert _run(server, lifetime=0.5).kind == "timeout"


def test_nothing_listening_is_a_failure_not_a_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.77.53.3", 0))
        server = probe.getsockname()
    outcome = _run(server, lifetime=2.0)
    assert outcome.kind == "failed" and "127.77.53.3" in outcome.detail


@pytest.mark.parametrize(("flags", "records", "count", "why"), [
    (0x8380, b"", 0, "truncated"),
    (0x8184, b"", 0, "rcode 4"),
    (0x8180, b"\xc0\x0c\x00", 1, "malformed"),  # a record cut short
    (0x8180, b"\xc0\x1b" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04", 1, "loop"),  # at 27: itself
])
def test_what_the_stub_does_not_handle_goes_to_dnspython(flags: int, records: bytes, count: int, why: str) -> None:
    with udp_server(lambda query: [_answer(query, flags=flags, records=records, count=count)]) as server, \
            pytest.raises(dnswire.Unhandled):
        _run(server)


def test_a_servfail_server_is_dropped_and_the_next_one_answers() -> None:
    with udp_server(lambda query: [_answer(query, flags=0x8182)]) as bad, \
            udp_server(lambda query: [_answer(query, records=A_RECORD, count=1)]) as good:
        outcome = asyncio.run(dnswire.lookup([bad, good], "h.example", "A", 1.0, 1.0))
        assert outcome == dnswire.Outcome("answer", ("192.0.2.7",))
        only_bad = asyncio.run(dnswire.lookup([bad], "h.example", "A", 1.0, 1.0))
        assert only_bad.kind == "failed" and "SERVFAIL" in only_bad.detail
