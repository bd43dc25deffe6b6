"""The fault lab, checked with independent tools: dnspython queries, stdlib ssl, raw sockets.

If these pass, a fault the exporter reports against the lab is a fault the lab really has.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import ssl
import time
from collections.abc import Iterator

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID

from sslfault_lab.dns_server import DnsServer
from sslfault_lab.lab import Lab, LabThread, Scenario

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    runner = LabThread()
    started = time.monotonic()
    lab = runner.start()
    assert time.monotonic() - started < 2.0, "lab start must stay fast"
    yield lab
    runner.stop()
    assert not os.path.exists(lab.workdir), "the lab removes its workdir"


# -- helpers --------------------------------------------------------------------------------


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1)


def no_verify() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # see the weak-key scenario too
    return ctx


def unverified_chain(ssl_object: ssl.SSLObject) -> list[x509.Certificate]:
    getter = getattr(ssl_object, "get_unverified_chain", None) or ssl_object._sslobj.get_unverified_chain
    ders = [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in getter()]
    return [x509.load_der_x509_certificate(d) for d in ders]


async def fetch_chain(address: str, port: int, sni: str | None) -> list[x509.Certificate]:
    # server_hostname=address: stdlib ssl sends no SNI for an IP literal.
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(address, port, ssl=no_verify(), server_hostname=sni or address), 5
    )
    try:
        return unverified_chain(writer.get_extra_info("ssl_object"))
    finally:
        await close(writer)


def configured_chain(scenario: Scenario) -> list[x509.Certificate]:
    assert scenario.chain_file is not None
    with open(scenario.chain_file, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())


async def query(lab: Lab, name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    return await send(q, lab.dns_address, timeout=2, port=lab.dns_port)


async def http_get(address: str, port: int, host: str, path: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), 2)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    raw = await asyncio.wait_for(reader.read(), 2)
    await close(writer)
    head, body = raw.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def aia_url(cert: x509.Certificate) -> str:
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    urls = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
    return str(urls[0])


# -- the scenario table ------------------------------------------------------------------------


def test_expected_faults_are_catalog_ids(lab: Lab) -> None:
    from exporter.catalog.faults import FaultId

    known = {f.value for f in FaultId}
    for scenario in lab.scenarios.values():
        assert scenario.expected_faults <= known, scenario.name
        assert scenario.host == f"{scenario.name}.lab.test"
    assert not lab.scenarios["ok"].expected_faults and not lab.scenarios["ok-rsa"].expected_faults
    other = lab.scenarios["unexpected-address"]
    assert other.expected_addresses and not set(other.expected_addresses) & set(other.addresses)


def test_certificate_dates_and_keys(lab: Lab) -> None:
    def leaf(name: str) -> x509.Certificate:
        return configured_chain(lab.scenarios[name])[0]

    assert leaf("expired").not_valid_after_utc < NOW - dt.timedelta(days=9)
    assert dt.timedelta(days=4) < leaf("expiring").not_valid_after_utc - NOW < dt.timedelta(days=6)
    assert leaf("not-yet-valid").not_valid_before_utc > NOW + dt.timedelta(days=9)
    long = leaf("long-lifetime")
    assert long.not_valid_after_utc - long.not_valid_before_utc == dt.timedelta(days=300)
    weak = leaf("weak-key").public_key()
    assert isinstance(weak, rsa.RSAPublicKey) and weak.key_size == 1024
    assert configured_chain(lab.scenarios["expired-intermediate"])[1].not_valid_after_utc < NOW


# -- DNS ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_dns_answers_over_udp_and_tcp(lab: Lab) -> None:
    for tcp in (False, True):
        ok = await query(lab, "ok.lab.test", "A", tcp)
        assert ok.rcode() == dns.rcode.NOERROR and ok.flags & dns.flags.AA
        assert [r.address for r in ok.answer[0]] == list(lab.scenarios["ok"].addresses)
    multi = await query(lab, "MULTI.lab.test.", "A")  # case-insensitive
    assert sorted(r.address for r in multi.answer[0]) == sorted(lab.scenarios["multi"].addresses)
    pki = await query(lab, "pki.lab.test", "A")
    assert pki.answer[0][0].address == lab.pki_address

    nx = await query(lab, "unresolvable.lab.test", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].rdtype == dns.rdatatype.SOA
    assert (await query(lab, "servfail.lab.test", "A")).rcode() == dns.rcode.SERVFAIL
    nodata = await query(lab, "ok.lab.test", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority
    assert (await query(lab, "example.com", "A")).rcode() == dns.rcode.REFUSED
    ns = await query(lab, "lab.test", "NS", tcp=True)
    assert ns.answer[0][0].target.to_text() == "ns.lab.test."


@pytest.mark.asyncio
async def test_dns_server_semantics() -> None:
    server = DnsServer(
        zones=["t.test"],
        records={
            "t.test": [("SOA", 60, "ns.t.test. h.t.test. 1 60 60 60 60"), ("NS", 60, "ns.t.test.")],
            "www.t.test": [("A", 60, "127.0.0.5"), ("CAA", 60, '0 issue "letsencrypt.org"')],
            "alias.t.test.": [("CNAME", 60, "www.t.test")],
            "out.t.test": [("CNAME", 60, "elsewhere.example")],
            "deep.empty.t.test": [("AAAA", 60, "::1")],
            "big.t.test": [("TXT", 60, f'"{i:02d}-{"x" * 60}"') for i in range(20)],
        },
        behaviours={"slow.t.test": "drop"},
    )
    port = await server.start("127.0.0.1", 0)
    try:
        async def ask(name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
            send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
            return await send(dns.message.make_query(name, rdtype), "127.0.0.1", timeout=2, port=port)

        alias = await ask("alias.t.test", "A")
        assert [r.rdtype for r in alias.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
        out = await ask("out.t.test", "A")
        assert [r.rdtype for r in out.answer] == [dns.rdatatype.CNAME] and out.rcode() == dns.rcode.NOERROR
        caa = await ask("www.t.test", "CAA", tcp=True)
        assert caa.answer[0][0].value == b"letsencrypt.org"
        empty = await ask("empty.t.test", "A")  # empty non-terminal: exists, no data
        assert empty.rcode() == dns.rcode.NOERROR and not empty.answer

        query = dns.message.make_query("big.t.test", "TXT")
        assert query.edns < 0
        truncated = await dns.asyncquery.udp(query, "127.0.0.1", timeout=2, port=port)
        assert truncated.flags & dns.flags.TC and not truncated.answer
        full, used_tcp = await dns.asyncquery.udp_with_fallback(query, "127.0.0.1", timeout=2, port=port)
        assert used_tcp and len(full.answer[0]) == 20
        with pytest.raises(dns.exception.Timeout):
            await dns.asyncquery.udp(dns.message.make_query("slow.t.test", "A"), "127.0.0.1", timeout=0.3, port=port)

        server.update("www.t.test", [("A", 30, "127.0.0.6")])  # live change
        assert (await ask("www.t.test", "A")).answer[0][0].address == "127.0.0.6"
        server.update("www.t.test", [])
        assert (await ask("www.t.test", "A")).rcode() == dns.rcode.NXDOMAIN
    finally:
        await server.stop()


# -- TLS -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["ok", "leaf-only", "wrong-order", "with-anchor", "extra-certs", "private-ca"])
async def test_served_chain_is_exactly_the_configured_one(lab: Lab, name: str) -> None:
    scenario = lab.scenarios[name]
    served = await fetch_chain(scenario.addresses[0], scenario.port, scenario.host)
    assert served == configured_chain(scenario)


@pytest.mark.asyncio
async def test_sni_and_default_certificate(lab: Lab) -> None:
    scenario = lab.scenarios["sni"]
    with_sni = await fetch_chain(scenario.addresses[0], scenario.port, scenario.host)
    without = await fetch_chain(scenario.addresses[0], scenario.port, None)
    assert with_sni == configured_chain(scenario)
    cn = without[0].subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == "default-site.lab.test"


@pytest.mark.asyncio
async def test_multi_serves_an_expired_leaf_on_the_second_address_only(lab: Lab) -> None:
    scenario = lab.scenarios["multi"]
    first, second = scenario.addresses
    assert scenario.fault_addresses == (second,)
    assert (await fetch_chain(first, scenario.port, scenario.host))[0].not_valid_after_utc > NOW
    assert (await fetch_chain(second, scenario.port, scenario.host))[0].not_valid_after_utc < NOW


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("name", "trusted"),
    [("ok", True), ("ok-rsa", True), ("unexpected-address", True), ("expired", False), ("self-signed", False),
     ("wrong-host", False), ("leaf-only", False), ("expired-intermediate", False), ("not-yet-valid", False)],
)
async def test_stdlib_verification_agrees(lab: Lab, name: str, trusted: bool) -> None:
    """OpenSSL, trusting only the lab root, accepts the healthy hosts and rejects broken ones."""
    scenario = lab.scenarios[name]
    ctx = ssl.create_default_context(cafile=lab.root_ca_file)
    connect = asyncio.open_connection(scenario.addresses[0], scenario.port, ssl=ctx, server_hostname=scenario.host)
    if not trusted:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.wait_for(connect, 5)
        return
    reader, writer = await asyncio.wait_for(connect, 5)
    writer.write(f"GET / HTTP/1.1\r\nHost: {scenario.host}\r\n\r\n".encode())
    response = await asyncio.wait_for(reader.read(), 5)
    await close(writer)
    assert response.startswith(b"HTTP/1.1 200 OK")


@pytest.mark.asyncio
async def test_weak_key_needs_a_lenient_client(lab: Lab) -> None:
    scenario = lab.scenarios["weak-key"]
    leaf = (await fetch_chain(scenario.addresses[0], scenario.port, scenario.host))[0]
    assert leaf.public_key().key_size == 1024


# -- broken transports -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_refused_refuses(lab: Lab) -> None:
    scenario = lab.scenarios["refused"]
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(asyncio.open_connection(scenario.addresses[0], scenario.port), 2)


@pytest.mark.asyncio
async def test_filtered_times_out(lab: Lab) -> None:
    scenario = lab.scenarios["filtered"]
    for _ in range(2):  # and stays filtered after a first attempt
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.open_connection(scenario.addresses[0], scenario.port), 1.0)
        assert 0.9 < time.monotonic() - started < 1.5


@pytest.mark.asyncio
async def test_stall_accepts_but_never_completes_a_handshake(lab: Lab) -> None:
    scenario = lab.scenarios["stall"]
    reader, writer = await asyncio.wait_for(asyncio.open_connection(scenario.addresses[0], scenario.port), 1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.3)
    writer.transport.abort()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            asyncio.open_connection(scenario.addresses[0], scenario.port, ssl=no_verify(), server_hostname=scenario.host),
            0.5,
        )


@pytest.mark.asyncio
async def test_not_tls_fails_the_handshake(lab: Lab) -> None:
    scenario = lab.scenarios["not-tls"]
    with pytest.raises(ssl.SSLError):
        await asyncio.wait_for(
            asyncio.open_connection(scenario.addresses[0], scenario.port, ssl=no_verify(), server_hostname=scenario.host),
            2,
        )


# -- AIA ----------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_aia_url_serves_the_missing_intermediate(lab: Lab) -> None:
    leaf = configured_chain(lab.scenarios["leaf-only"])[0]
    url = aia_url(leaf)
    assert url.startswith(f"http://pki.lab.test:{lab.port}/") and url.endswith(".p7c")
    resolved = await query(lab, "pki.lab.test", "A")
    status, headers, body = await http_get(resolved.answer[0][0].address, lab.port, "pki.lab.test", url.split(str(lab.port), 1)[1])
    assert status == 200 and headers["content-type"] == "application/pkcs7-mime"
    assert pkcs7.load_der_pkcs7_certificates(body) == [lab.pki.ecc_intermediate.cert]
    assert leaf.issuer == lab.pki.ecc_intermediate.cert.subject

    # The two-level chain climbs by AIA alone: issuing CA -> policy CA -> root.
    issuing = configured_chain(lab.scenarios["wrong-order"])[2]
    path = aia_url(issuing).split(str(lab.port), 1)[1]
    status, headers, body = await http_get(lab.pki_address, lab.port, "pki.lab.test", path)
    assert status == 200 and headers["content-type"] == "application/pkix-cert"
    policy = x509.load_der_x509_certificate(body)
    assert policy == lab.pki.policy_ca.cert and aia_url(policy).endswith("/root.crt")
    assert (await http_get(lab.pki_address, lab.port, "pki.lab.test", "/nope.crt"))[0] == 404


# -- isolation ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_two_labs_start_in_parallel_without_collision(lab: Lab) -> None:
    started = time.monotonic()
    first, second = await asyncio.gather(Lab().start(), Lab().start())
    elapsed = time.monotonic() - started
    try:
        assert elapsed < 4.0
        assert len({first.network, second.network, lab.network}) == 3
        for one in (first, second):
            scenario = one.scenarios["ok"]
            assert await fetch_chain(scenario.addresses[0], scenario.port, scenario.host) == configured_chain(scenario)
            assert (await query(one, "ok.lab.test", "A")).answer[0][0].address == scenario.addresses[0]
    finally:
        await asyncio.gather(first.stop(), second.stop())
    assert not os.path.exists(first.workdir) and not os.path.exists(second.workdir)


@pytest.mark.asyncio
async def test_a_busy_address_makes_the_lab_move_to_another_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import sslfault_lab.lab as lab_module
    from sslfault_lab.servers import bind_tcp as real_bind

    failed: list[str] = []

    def bind_once_busy(host: str, port: int) -> socket.socket:
        if port and not failed:  # the first bind on the shared port clashes
            failed.append(host)
            raise OSError(errno.EADDRINUSE, "busy")
        return real_bind(host, port)

    monkeypatch.setattr(lab_module, "bind_tcp", bind_once_busy)
    async with Lab() as one:
        assert failed and not failed[0].startswith(one.network + ".")
        assert (await query(one, "ok.lab.test", "A")).answer[0][0].address == one.scenarios["ok"].addresses[0]
