"""The raw ClientHello probe against a loopback server that answers a canned TLS 1.0 flight: an export
suite with a 512-bit DH group (OpenSSL 3 can serve neither, so no real server here can), and one that
asks for a client certificate; and against servers that hang up or do not speak TLS."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable

import pytest

from exporter.net import hello
from exporter.net.suites import select, why_insecure

EXPORT_DHE = 0x0014  # EXP-EDH-RSA-DES-CBC-SHA


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!I", len(body))[1:] + body


def _flight(suite: int, dh_bits: int, cert_request: bool) -> bytes:
    server_hello = struct.pack("!H", 0x0301) + bytes(32) + b"\x00" + struct.pack("!H", suite) + b"\x00"
    cert = b"\x30\x03\x02\x01\x01"  # not a real certificate: the probe only carries the bytes
    certificates = struct.pack("!I", len(cert) + 3)[1:] + struct.pack("!I", len(cert))[1:] + cert
    prime = b"\xff" * (dh_bits // 8)
    key_exchange = struct.pack("!H", len(prime)) + prime + b"\x00\x01\x02" + b"\x00\x01\x05" + b"\x00\x00"
    messages = (_handshake(2, server_hello) + _handshake(11, certificates) + _handshake(12, key_exchange)
                + (_handshake(13, b"\x01\x01\x00\x00") if cert_request else b"") + _handshake(14, b""))
    # Split over two records, as servers may.
    half = len(messages) // 2
    return b"".join(b"\x16\x03\x01" + struct.pack("!H", len(part)) + part for part in (messages[:half], messages[half:]))


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[bytes], asyncio.Future[int]]]:
    servers: list[asyncio.Server] = []

    async def start(reply: bytes) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(4096)  # the ClientHello
            writer.write(reply)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()


async def test_an_export_suite_and_its_group_size_are_read(serve: Callable[[bytes], asyncio.Future[int]]) -> None:
    port = await serve(_flight(EXPORT_DHE, 512, cert_request=True))
    flight = await hello.probe("127.0.0.1", port, "x.test", select(insecure=True), 2.0)
    assert (flight.outcome, flight.version, flight.suite, flight.dh_bits) == ("accepted", "TLSv1", EXPORT_DHE, 512)
    assert flight.suite_name == "EXP-EDH-RSA-DES-CBC-SHA" and why_insecure(EXPORT_DHE) == "export-grade keys"
    assert flight.cert_requested and flight.complete and flight.certificates == (b"\x30\x03\x02\x01\x01",)
    assert EXPORT_DHE in select(insecure=True) and EXPORT_DHE not in select(insecure=False)


@pytest.mark.parametrize(("reply", "outcome", "alert"), [
    (b"\x15\x03\x03\x00\x02\x02\x28", "refused", "handshake_failure"),
    (b"", "closed", None),
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not_tls", None),
])
async def test_refusals_are_told_apart(serve: Callable[[bytes], asyncio.Future[int]], reply: bytes, outcome: str,
                                       alert: str | None) -> None:
    port = await serve(reply)
    flight = await hello.probe("127.0.0.1", port, None, select(insecure=False), 2.0)
    assert (flight.outcome, flight.alert) == (outcome, alert)


async def test_an_oversized_flight_is_refused(serve: Callable[[bytes], asyncio.Future[int]]) -> None:
    record = b"\x16\x03\x03" + struct.pack("!H", 16384) + b"\x0b" + b"\x00" * 16383
    port = await serve(record * (hello.MAX_FLIGHT_BYTES // 16384 + 2))
    with pytest.raises(ValueError, match="larger than"):
        await hello.probe("127.0.0.1", port, None, select(insecure=False), 2.0)


def test_the_client_hello_offers_exactly_the_suites_given() -> None:
    record = hello.client_hello([0x002F, 0xC02F], "www.example.test")
    assert record[:3] == b"\x16\x03\x01" and record[5] == 1
    body = record[9:]
    suites_len = struct.unpack_from("!H", body, 35)[0]
    assert body[37:37 + suites_len] == b"\x00\x2f\xc0\x2f\x00\xff"  # plus the renegotiation SCSV
    assert b"www.example.test" in record
