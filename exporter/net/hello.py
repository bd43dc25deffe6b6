"""What a server answers to a TLS 1.2 ClientHello offering chosen cipher suites, read off the wire.

Up to TLS 1.2 the server's first flight (ServerHello, Certificate, ServerKeyExchange,
CertificateRequest, ServerHelloDone) travels in clear, so one connection tells which suite it
picks from an offer, the size of its Diffie-Hellman group, and whether it asks for a client
certificate: things Python's ssl module does not expose, and suites (NULL, anonymous, export)
OpenSSL will not complete a handshake with. The probe never finishes the handshake: it reads
the flight (bounded in bytes and time) and hangs up.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from exporter.net.guard import check_destination
from exporter.net.suites import all_suites

MAX_FLIGHT_BYTES = 128 * 1024  # a certificate chain and a key exchange; real flights are a few KiB
MAX_RECORD = 16384 + 2048
_SIG_ALGS = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808, 0x0401, 0x0501, 0x0601,
             0x0203, 0x0201, 0x0402, 0x0502, 0x0602, 0x0202, 0x0303, 0x0301)
# No ffdhe groups: a server then uses its own DH parameters, which is what the probe wants to measure.
_GROUPS = (0x001D, 0x0017, 0x0018, 0x0019, 0x001E)
GROUP_NAMES = {0x001D: "x25519", 0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1", 0x001E: "x448"}
ALERTS = {10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure", 42: "bad_certificate",
          47: "illegal_parameter", 50: "decode_error", 70: "protocol_version", 71: "insufficient_security",
          80: "internal_error", 86: "inappropriate_fallback", 112: "unrecognized_name"}
VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2"}
Outcome = Literal["accepted", "refused", "closed", "not_tls"]


@dataclass(frozen=True)
class Flight:
    """The server's answer to one ClientHello."""

    outcome: Outcome  # accepted: it chose a suite; refused: it sent an alert; closed: it hung up
    version: str | None = None  # the version the ServerHello chose
    suite: int | None = None
    dh_bits: int | None = None  # size of the DHE prime, for DHE and anonymous DH suites
    group: str | None = None  # the named curve, for ECDHE
    cert_requested: bool = False  # a CertificateRequest was in the flight
    certificates: tuple[bytes, ...] = ()  # DER, as sent
    alert: str | None = None
    complete: bool = False  # the flight ended with ServerHelloDone (so nothing was missed)

    @property
    def suite_name(self) -> str | None:
        if self.suite is None:
            return None
        suite = all_suites().get(self.suite)
        return suite.name if suite else f"0x{self.suite:04X}"


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(suites: Sequence[int], sni: str | None, version: int = 0x0303) -> bytes:
    """One TLS record holding a ClientHello that offers exactly `suites` (plus the renegotiation SCSV)."""
    codes = b"".join(struct.pack("!H", c) for c in suites) + b"\x00\xff"
    exts = b""
    if sni:
        name = sni.encode("idna") if not sni.isascii() else sni.encode()
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        exts += _ext(0x0000, struct.pack("!H", len(entry)) + entry)
    groups = b"".join(struct.pack("!H", g) for g in _GROUPS)
    exts += _ext(0x000A, struct.pack("!H", len(groups)) + groups)
    exts += _ext(0x000B, b"\x01\x00")  # EC point formats: uncompressed
    sigs = b"".join(struct.pack("!H", s) for s in _SIG_ALGS)
    exts += _ext(0x000D, struct.pack("!H", len(sigs)) + sigs)
    exts += _ext(0x0017, b"")  # extended master secret: some servers insist
    body = (struct.pack("!H", version) + os.urandom(32) + b"\x00" + struct.pack("!H", len(codes)) + codes
            + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


class _Reader:
    """Handshake messages from the server's records, bounded in total bytes."""

    def __init__(self, reader: asyncio.StreamReader | _Prefixed) -> None:
        self._reader = reader
        self._buffer = b""
        self._read = 0
        self.alert: int | None = None

    async def _record(self) -> bool:
        """Read one record into the buffer; False on an alert, EOF or a non-handshake record."""
        try:
            header = await self._reader.readexactly(5)
        except asyncio.IncompleteReadError:
            return False
        kind, _, length = struct.unpack("!BHH", header)
        if length > MAX_RECORD or self._read + length > MAX_FLIGHT_BYTES:
            raise ValueError(f"the server's flight is larger than {MAX_FLIGHT_BYTES} bytes")
        try:
            body = await self._reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return False
        self._read += 5 + length
        if kind == 21 and len(body) >= 2:
            self.alert = body[1]
            return False
        if kind != 22:
            return False
        self._buffer += body
        return True

    async def message(self) -> tuple[int, bytes] | None:
        while len(self._buffer) < 4 or len(self._buffer) < 4 + int.from_bytes(self._buffer[1:4], "big"):
            if not await self._record():
                return None
        length = int.from_bytes(self._buffer[1:4], "big")
        kind, body = self._buffer[0], self._buffer[4:4 + length]
        self._buffer = self._buffer[4 + length:]
        return kind, body


def _server_hello(body: bytes) -> tuple[int, int]:
    """(version, suite) of a ServerHello."""
    version = struct.unpack_from("!H", body, 0)[0]
    session_len = body[34]
    suite = struct.unpack_from("!H", body, 35 + session_len)[0]
    return version, suite


def _certificates(body: bytes) -> tuple[bytes, ...]:
    total = int.from_bytes(body[0:3], "big")
    pos, end, out = 3, min(3 + total, len(body)), []
    while pos + 3 <= end:
        length = int.from_bytes(body[pos:pos + 3], "big")
        out.append(body[pos + 3:pos + 3 + length])
        pos += 3 + length
    return tuple(out)


def _key_exchange(body: bytes, kx: str | None) -> tuple[int | None, str | None]:
    """(DH prime bits, curve name) from a ServerKeyExchange."""
    if kx == "dhe":
        length = struct.unpack_from("!H", body, 0)[0]
        return int.from_bytes(body[2:2 + length], "big").bit_length(), None
    if kx == "ecdhe" and body[:1] == b"\x03":
        group = struct.unpack_from("!H", body, 1)[0]
        return None, GROUP_NAMES.get(group, f"group 0x{group:04X}")
    return None, None


async def probe(address: str, port: int, sni: str | None, suites: Sequence[int], timeout: float) -> Flight:
    """Offer `suites` to address:port and read the server's first flight (within `timeout`).

    Connect failures raise (OSError, TimeoutError): they are not an answer about suites."""
    check_destination(address)  # an address, never a name: what is checked is what is connected to
    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    try:
        return await asyncio.wait_for(_exchange(reader, writer, suites, sni), timeout)
    finally:
        writer.transport.abort()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, suites: Sequence[int],
                    sni: str | None) -> Flight:
    writer.write(client_hello(suites, sni))
    await writer.drain()
    try:
        first = await reader.readexactly(1)
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return Flight("closed")
    if first not in (b"\x15", b"\x16"):
        return Flight("not_tls")
    stream = _Reader(_Prefixed(first, reader))
    found: dict[str, object] = {"certificates": (), "cert_requested": False}
    version = suite = None
    kx: str | None = None
    try:
        while (message := await stream.message()) is not None:
            kind, body = message
            if kind == 2:
                version, suite = _server_hello(body)
                info = all_suites().get(suite)
                kx = info.kx if info else None
            elif kind == 11:
                found["certificates"] = _certificates(body)
            elif kind == 12:
                found["dh_bits"], found["group"] = _key_exchange(body, kx)
            elif kind == 13:
                found["cert_requested"] = True
            elif kind == 14 and suite is not None:  # ServerHelloDone after a ServerHello: a whole flight
                return Flight("accepted", VERSIONS.get(version or 0), suite, complete=True, **found)  # type: ignore[arg-type]  # **found holds the optional fields, typed loosely
    except (struct.error, IndexError) as exc:
        raise ValueError(f"malformed server flight: {exc}") from None
    except ConnectionResetError:
        pass
    if suite is not None:
        return Flight("accepted", VERSIONS.get(version or 0), suite, **found)  # type: ignore[arg-type]  # **found holds the optional fields, typed loosely
    if stream.alert is not None:
        return Flight("refused", alert=ALERTS.get(stream.alert, f"alert {stream.alert}"))
    return Flight("closed")


class _Prefixed:
    """A StreamReader with one byte already read put back in front."""

    def __init__(self, prefix: bytes, reader: asyncio.StreamReader) -> None:
        self._prefix = prefix
        self._reader = reader

    async def readexactly(self, n: int) -> bytes:
        if not self._prefix:
            return await self._reader.readexactly(n)
        head, self._prefix = self._prefix[:n], self._prefix[n:]
        return head + (await self._reader.readexactly(n - len(head)) if n > len(head) else b"")
