"""A name with more addresses than the per-family probe cap: the dns check compares all of them, and
reachability says it could not judge instead of "every address reachable"."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter.config import Config
from exporter.engine.runner import run_first_target
from exporter.models import CheckStatus, ErrorKind
from exporter.net.dns import MAX_ADDRESSES_PER_FAMILY
from sslfault_lab.lab import Lab
from tests.support.labs import run_async

COUNT = MAX_ADDRESSES_PER_FAMILY + 2


def _tls_context(tmp: Path, name: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    return context


@pytest.fixture
def many_addresses(tmp_path: Path) -> Iterator[tuple[list[str], int]]:
    """COUNT loopback addresses, each with a TLS server that completes handshakes, on one port."""
    network = f"127.3.{random.randint(0, 255)}"
    addresses = [f"{network}.{i}" for i in range(1, COUNT + 1)]
    with socket.socket() as probe:
        probe.bind((addresses[0], 0))
        port = probe.getsockname()[1]
    context = _tls_context(tmp_path, "many.lab.test")
    loop = asyncio.new_event_loop()
    servers: list[asyncio.AbstractServer] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()

    async def start() -> None:
        for address in addresses:
            servers.append(await asyncio.start_server(handle, address, port, ssl=context))

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield addresses, port
    finally:
        for server in servers:
            loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _config(lab: Lab, name: str, port: int, **target: object) -> Config:
    return Config.model_validate({
        "resolver": {"nameservers": [lab.nameserver], "timeout": "2s"},
        "targets": [{"host": name, "port": port, "timeout": "8s", "checks": ["dns", "reachability"], **target}],
    })


def test_reachability_beyond_the_cap_is_not_judged(lab: Lab, many_addresses: tuple[list[str], int]) -> None:
    addresses, port = many_addresses
    name = f"many-{random.randint(0, 10**6)}.{lab.domain}"
    lab.dns.update(name, [("A", 60, a) for a in addresses])
    results = run_async(run_first_target(_config(lab, name, port)))
    reach = results["reachability"]
    assert reach.status is CheckStatus.ERROR and reach.error_kind is ErrorKind.INCOMPLETE, reach
    assert f"only the first {MAX_ADDRESSES_PER_FAMILY}" in (reach.error or "")
    assert results["dns"].status is CheckStatus.OK


def test_expected_addresses_are_compared_beyond_the_cap(lab: Lab, many_addresses: tuple[list[str], int]) -> None:
    addresses, port = many_addresses
    name = f"many-{random.randint(0, 10**6)}.{lab.domain}"
    lab.dns.update(name, [("A", 60, a) for a in addresses])
    stray = addresses[-1]  # sorted last: past the probe cap
    results = run_async(run_first_target(_config(lab, name, port, expected_addresses=addresses[:-1])))
    dns = results["dns"]
    assert dns.status is CheckStatus.OK
    assert [(f.fault, f.address) for f in dns.outcome.findings] == [("dns_unexpected_address", stray)]
