"""A lean stub resolver for A and AAAA over UDP: the one DNS lookup every run of every target makes.

dnspython builds and parses each message through general machinery: a quarter of a TLS probe's CPU in
the benchmark. This encodes the one question and decodes the answer by hand. Whatever it does not
handle (a non-ASCII or oversized name, a truncated answer, an rcode other than NOERROR, NXDOMAIN,
SERVFAIL or REFUSED, a malformed or mismatched message, a resolver that is not plain Do53) gives None,
and the caller asks dnspython instead, so odd servers get dnspython's behaviour.

Retries follow dnspython's Resolver: each server gets `timeout` per try, the whole lookup `lifetime`;
a server that answers SERVFAIL or REFUSED, or cannot be reached, is dropped; timed-out servers are
tried again after a short back-off until the lifetime is spent.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
import time
from dataclasses import dataclass
from typing import Literal

QTYPES = {"A": 1, "AAAA": 28}
_RDLENGTH = {1: 4, 28: 16}
_CNAME, _CLASS_IN = 5, 1
_MAX_CHAIN = 16  # CNAME hops followed inside one answer
_MAX_POINTERS = 32  # compression pointers followed in one name: a loop must not spin
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QR, _TC = 0x8000, 0x0200
_NOERROR, _SERVFAIL, _NXDOMAIN, _REFUSED = 0, 2, 3, 5

Kind = Literal["answer", "nxdomain", "no_answer", "failed", "timeout"]


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    addresses: tuple[str, ...] = ()  # sorted by address value, for "answer"
    detail: str = ""  # why, for "failed" (per server)


class Unhandled(Exception):
    """Not a plain answer: the caller falls back to dnspython."""


def encode_query(qid: int, name: str, qtype: int) -> bytes:
    try:
        raw = name.rstrip(".").encode("ascii")
    except UnicodeEncodeError:
        raise Unhandled("non-ASCII name") from None
    labels = raw.split(b".") if raw else []
    if any(not 0 < len(label) < 64 for label in labels) or len(raw) > 253:
        raise Unhandled("name not encodable as is")
    qname = b"".join(bytes((len(label),)) + label for label in labels) + b"\0"
    # Recursion desired, one question, no EDNS: what dnspython's resolver sends by default.
    return _HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, _CLASS_IN)


def _read_name(msg: bytes, at: int) -> tuple[str, int]:
    """The dotted, lower-cased name at `at`, and the offset after it (in the record, not the pointer)."""
    labels: list[bytes] = []
    end = -1
    for _ in range(_MAX_POINTERS + 128):
        length = msg[at]
        if length == 0:
            return b".".join(labels).decode("ascii", "replace").lower(), (at + 1 if end < 0 else end)
        if length & 0xC0 == 0xC0:
            if end < 0:
                end = at + 2
            at = ((length & 0x3F) << 8) | msg[at + 1]
            continue
        if length & 0xC0:
            raise Unhandled("unknown label type")
        labels.append(msg[at + 1:at + 1 + length])
        at += 1 + length
    raise Unhandled("name too long or a compression loop")


def decode_answer(msg: bytes, qid: int, name: str, qtype: int) -> Outcome | None:
    """The outcome of a reply to our question, or None when `msg` is not that reply (a stray datagram)."""
    if len(msg) < _HEADER.size:
        return None
    rid, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(msg)
    if rid != qid or not flags & _QR:
        return None
    try:
        if qdcount != 1:
            raise Unhandled("not one question")
        qname, at = _read_name(msg, _HEADER.size)
        rtype, rclass = struct.unpack_from("!HH", msg, at)
        wanted = name.rstrip(".").lower()
        if qname != wanted or rtype != qtype or rclass != _CLASS_IN:
            return None  # an answer to some other question
        at += 4
        if flags & _TC:
            raise Unhandled("truncated: needs TCP")
        rcode = flags & 0xF
        if rcode == _NXDOMAIN:
            return Outcome("nxdomain")
        if rcode in (_SERVFAIL, _REFUSED):
            return Outcome("failed", detail="SERVFAIL" if rcode == _SERVFAIL else "REFUSED")
        if rcode != _NOERROR:
            raise Unhandled(f"rcode {rcode}")
        aliases: dict[str, str] = {}
        found: dict[str, list[tuple[int, str]]] = {}
        for _ in range(ancount):
            owner, at = _read_name(msg, at)
            rtype, rclass, _, rdlength = _RR.unpack_from(msg, at)
            at += _RR.size
            rdata = msg[at:at + rdlength]
            if len(rdata) != rdlength:
                raise Unhandled("short record")
            if rclass == _CLASS_IN and rtype == _CNAME:
                aliases[owner] = _read_name(msg, at)[0]
            elif rclass == _CLASS_IN and rtype == qtype:
                if rdlength != _RDLENGTH[qtype]:
                    raise Unhandled("address record of the wrong length")  # dnspython calls it malformed
                family = socket.AF_INET if qtype == QTYPES["A"] else socket.AF_INET6
                found.setdefault(owner, []).append((int.from_bytes(rdata, "big"), socket.inet_ntop(family, rdata)))
            at += rdlength
    except (IndexError, struct.error):
        raise Unhandled("malformed message") from None
    current = wanted
    for _ in range(_MAX_CHAIN):
        if current in found or current not in aliases:
            break
        current = aliases[current]
    else:
        raise Unhandled("CNAME chain too long (a loop?)")
    records = found.get(current)
    if not records:
        return Outcome("no_answer")
    return Outcome("answer", tuple(address for _, address in sorted(set(records))))


async def _ask(server: tuple[str, int], query: bytes, qid: int, name: str, qtype: int, timeout: float) -> Outcome:
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(server)  # a connected socket only takes datagrams from the server asked
        await loop.sock_sendall(sock, query)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    outcome = decode_answer(await loop.sock_recv(sock, 65535), qid, name, qtype)
                    if outcome is not None:
                        return outcome
        except TimeoutError:
            # The answer may have come while this process was busy with other targets: a timeout must
            # measure the server, not the exporter's own load. Whatever is already queued is read.
            while True:
                try:
                    outcome = decode_answer(sock.recv(65535), qid, name, qtype)
                except BlockingIOError:
                    raise TimeoutError from None
                if outcome is not None:
                    return outcome


async def lookup(servers: list[tuple[str, int]], name: str, rdtype: str, timeout: float, lifetime: float) -> Outcome:
    """A or AAAA for `name` from `servers`. Raises Unhandled for what dnspython must answer instead."""
    qtype = QTYPES[rdtype]
    qid = secrets.randbelow(65536)
    query = encode_query(qid, name, qtype)
    deadline = time.monotonic() + lifetime
    left, failures, backoff = list(servers), [], 0.1
    while left:
        for server in list(left):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Outcome("timeout")
            try:
                outcome = await _ask(server, query, qid, name, qtype, min(timeout, remaining))
            except TimeoutError:
                continue  # asked again next round, while the lifetime lasts
            except OSError as exc:  # ICMP port unreachable (nothing listens there), no route
                left.remove(server)
                failures.append(f"{server[0]}@{server[1]}: {exc.strerror or exc}")
                continue
            if outcome.kind == "failed":
                left.remove(server)
                failures.append(f"{server[0]}@{server[1]} answered {outcome.detail}")
                continue
            return outcome
        if left:
            await asyncio.sleep(max(0.0, min(backoff, deadline - time.monotonic())))
            backoff = min(backoff * 2, 2.0)
    return Outcome("failed", detail="; ".join(failures))
