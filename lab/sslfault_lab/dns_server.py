"""A small authoritative DNS server for the lab: UDP and TCP on one ip:port, real wire format.

Data is plain text (`{"ok.lab.test": [("A", 60, "127.1.2.10")]}`), parsed with dnspython
when it is set, so a typo fails the test that set it rather than a later query. Names in
rdata are read as absolute ("ns.lab.test" means "ns.lab.test.").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Iterable, Mapping
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)

RecordSpec = tuple[str, int, str]  # (rdtype, ttl, rdata text)
Behaviour = Literal["servfail", "drop", "refused"]
RRsets = dict[int, dns.rrset.RRset]

CLASSIC_UDP_LIMIT = 512  # RFC 1035: without EDNS, UDP answers stop here
MAX_UDP_PAYLOAD = 4096  # never trust a client's EDNS size beyond this
MAX_CNAME_HOPS = 8
TCP_IDLE_TIMEOUT = 10.0


def to_name(name: str | dns.name.Name) -> dns.name.Name:
    """Lower-cased absolute name; "a.b" and "A.B." are the same key."""
    if isinstance(name, dns.name.Name):
        return name.canonicalize()
    return dns.name.from_text(name.lower(), origin=dns.name.root)


def parse_records(name: dns.name.Name, specs: Iterable[RecordSpec]) -> RRsets:
    rrsets: RRsets = {}
    for rdtype_text, ttl, text in specs:
        rdtype = dns.rdatatype.from_text(rdtype_text.upper())
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False)
        rrset = rrsets.setdefault(rdtype, dns.rrset.RRset(name, dns.rdataclass.IN, rdtype))
        rrset.add(rdata, ttl)  # several TTLs in one RRset: the smallest wins, as in a real server
    return rrsets


class DnsServer:
    """Authoritative for `zones`; REFUSED outside them, like a real authoritative server."""

    def __init__(
        self,
        zones: Iterable[str] = (),
        records: Mapping[str, Iterable[RecordSpec]] | None = None,
        behaviours: Mapping[str, Behaviour] | None = None,
        *,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
    ) -> None:
        self._zones: list[dns.name.Name] = []
        self._data: dict[dns.name.Name, RRsets] = {}
        self._behaviours: dict[dns.name.Name, Behaviour] = {}
        self.tcp_idle_timeout = tcp_idle_timeout
        self.host: str | None = None
        self.port: int | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.set_zones(zones)
        self.set_records(records or {})
        for name, behaviour in (behaviours or {}).items():
            self.set_behaviour(name, behaviour)

    # -- data ------------------------------------------------------------------------

    @property
    def zones(self) -> list[str]:
        return [z.to_text(omit_final_dot=True) for z in self._zones]

    def set_zones(self, zones: Iterable[str]) -> None:
        self._zones = [to_name(z) for z in zones]

    def add_zone(self, zone: str) -> None:
        if to_name(zone) not in self._zones:
            self._zones.append(to_name(zone))

    def set_records(self, records: Mapping[str, Iterable[RecordSpec]]) -> None:
        """Replace all records at once."""
        data = {to_name(name): parse_records(to_name(name), specs) for name, specs in records.items()}
        self._data = {name: rrsets for name, rrsets in data.items() if rrsets}

    def update(self, name: str, records: Iterable[RecordSpec]) -> None:
        """Replace one name's records; an empty list removes the name."""
        key = to_name(name)
        rrsets = parse_records(key, records)
        if rrsets:
            self._data[key] = rrsets
        else:
            self._data.pop(key, None)

    def add(self, name: str, records: Iterable[RecordSpec]) -> None:
        """Add records to a name, keeping those it has."""
        key = to_name(name)
        for rdtype, new in parse_records(key, records).items():
            old = self._data.setdefault(key, {}).get(rdtype)
            if old is None:
                self._data[key][rdtype] = new
            else:
                for rdata in new:
                    old.add(rdata, new.ttl)

    def set_behaviour(self, name: str, behaviour: Behaviour | None) -> None:
        """servfail / refused: answer with that rcode; drop: never answer. None: normal."""
        if behaviour is None:
            self._behaviours.pop(to_name(name), None)
        else:
            self._behaviours[to_name(name)] = behaviour

    # -- answering (pure: no I/O) -------------------------------------------------------

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """The response to `query`, or None when it must go unanswered."""
        response = dns.message.make_response(query)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        qname = to_name(question.name)
        behaviour = self._behaviours.get(qname)
        if behaviour == "drop":
            return None
        if behaviour is not None:
            response.set_rcode(dns.rcode.SERVFAIL if behaviour == "servfail" else dns.rcode.REFUSED)
            return response
        zone = self._zone_for(qname)
        if zone is None or question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        self._resolve(response, qname, question.rdtype)
        return response

    def _zone_for(self, name: dns.name.Name) -> dns.name.Name | None:
        matches = [z for z in self._zones if name.is_subdomain(z)]
        return max(matches, key=len, default=None)

    def _has_descendants(self, name: dns.name.Name) -> bool:
        return any(other != name and other.is_subdomain(name) for other in self._data)

    def _resolve(self, response: dns.message.Message, qname: dns.name.Name, qtype: int) -> None:
        name = qname
        for _ in range(MAX_CNAME_HOPS):
            rrsets = self._data.get(name)
            if rrsets is None:
                # An empty non-terminal exists (NOERROR); anything else does not (NXDOMAIN).
                if not self._has_descendants(name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response, name)
                return
            if qtype == dns.rdatatype.ANY:
                response.answer.extend(rrsets.values())
                return
            if qtype in rrsets:
                response.answer.append(rrsets[qtype])
                return
            cname = rrsets.get(dns.rdatatype.CNAME)
            if cname is None:
                self._add_soa(response, name)  # NODATA: the name exists with other types
                return
            response.answer.append(cname)
            target = to_name(cname[0].target)
            if self._zone_for(target) is None:
                return  # out of our zones: the client follows the CNAME itself
            name = target

    def _add_soa(self, response: dns.message.Message, name: dns.name.Name) -> None:
        zone = self._zone_for(name)
        soa = self._data.get(zone, {}).get(dns.rdatatype.SOA) if zone else None
        if soa is not None:
            response.authority.append(soa)

    def _reply(self, wire: bytes, udp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None  # garbage: stay silent, as many servers do
        if query.flags & dns.flags.QR:
            return None
        try:
            response = self.answer(query)
        except Exception:  # a lab bug must show as SERVFAIL, not as a silent timeout
            log.exception("lab dns: cannot answer %s", query.question)
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        if response is None:
            return None
        if not udp:
            return _render(response, query, 65535)
        limit = min(max(query.payload, CLASSIC_UDP_LIMIT), MAX_UDP_PAYLOAD) if query.edns >= 0 else CLASSIC_UDP_LIMIT
        return _render(response, query, limit)

    # -- network ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on UDP and TCP host:port (port 0: one free for both). Returns the port."""
        attempts = 20 if port == 0 else 1
        for attempt in range(attempts):
            try:
                await self._bind(host, port)
                break
            except OSError:
                await self.stop()
                if attempt == attempts - 1:
                    raise
        return self.port  # type: ignore[return-value]  # set by start() before use

    async def _bind(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(host, port), family=socket.AF_INET
        )
        self._udp = transport
        bound_port = transport.get_extra_info("sockname")[1]
        self._tcp = await asyncio.start_server(self._serve_tcp, host, bound_port, family=socket.AF_INET)
        self.host, self.port = host, bound_port

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            while True:  # several queries may share a connection (RFC 7766)
                header = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle_timeout)
                (length,) = struct.unpack("!H", header)
                wire = await asyncio.wait_for(reader.readexactly(length), self.tcp_idle_timeout)
                reply = self._reply(wire, udp=False)
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await asyncio.wait_for(writer.drain(), self.tcp_idle_timeout)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


def _render(response: dns.message.Message, query: dns.message.Message, limit: int) -> bytes:
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        # Too big for this transport: an empty answer with TC tells the client to retry over TCP.
        truncated = dns.message.make_response(query)
        truncated.flags |= dns.flags.TC | (response.flags & dns.flags.AA)
        truncated.set_rcode(response.rcode())
        return truncated.to_wire(max_size=limit)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint gets a DatagramTransport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server._reply(data, udp=True)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("lab dns: udp error %s", exc)
