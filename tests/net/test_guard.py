"""The private-address guard holds on the address actually connected to: IP literals, IPv4-mapped IPv6,
every redirect hop, and the URLs a hostile certificate names. Real listeners prove nothing connected."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from exporter.config import Config
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from exporter.net import guard
from exporter.net.dns import make_resolver
from exporter.net.guard import (
    ForbiddenAddress,
    check_destination,
    deny_private,
    is_private,
)
from exporter.net.http import fetch, make_session
from exporter.net.tls import ConnectStatus, handshake
from sslfault_lab.pki import LabPKI
from tests.support.labs import run_async
from tests.support.listeners import CountingListener

PRIVATE = ["127.0.70.66", "::1", "::ffff:127.0.70.66", "::ffff:7f00:4642", "0.0.0.0", "::", "10.1.2.3",
           "169.254.169.254", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fe80::1", "fe80::1%lo", "fd00::1",
           "64:ff9b::7f00:1", "64:ff9b::a00:1", "2002:7f00:1::1", "::127.0.0.1", "224.0.0.1", "255.255.255.255",
           "not-an-address"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:81c::200e"]


@pytest.mark.parametrize("address", PRIVATE)
def test_private_forms_are_private(address: str) -> None:
    assert is_private(address)
    check_destination(address)  # no policy: allowed
    with deny_private(), pytest.raises(ForbiddenAddress):
        check_destination(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert not is_private(address)
    with deny_private():
        check_destination(address)


def test_ip_literal_urls_are_never_connected_to() -> None:
    """The guard lived in the resolver, which aiohttp skips for IP literals: these were all fetched."""
    with CountingListener("127.0.70.66") as v4, CountingListener("::1") as v6:
        urls = [f"{v4.url}/ca.crt", f"{v6.url}/ocsp", f"http://[::ffff:127.0.70.66]:{v4.port}/crl",
                f"http://127.0.70.66.:{v4.port}/", f"http://localhost:{v4.port}/"]

        async def go() -> list[str]:
            session = make_session(make_resolver([("127.0.0.1", 9)], 1.0), deny_private=True)
            errors = []
            try:
                for url in urls:
                    with pytest.raises(Exception) as caught:
                        await fetch(session, url, timeout=2, max_bytes=1024)
                    errors.append(str(caught.value))
            finally:
                await session.close()
            return errors

        errors = run_async(go())
        assert v4.peers == [] and v6.peers == [], (v4.peers, v6.peers)
    assert all("private" in e for e in errors[:3]), errors


def _public_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let 127.0.0.1 stand for a public host the probe was allowed to reach (tests have no public host)."""
    real = guard.is_private
    monkeypatch.setattr(guard, "is_private", lambda address: address != "127.0.0.1" and real(address))


def test_every_redirect_hop_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first hop that is allowed redirects to a literal private address: the second hop is refused."""
    with CountingListener("127.0.70.67") as inner:
        location = f"{inner.url}/metadata"
        with CountingListener("127.0.0.1", reply=lambda _h: (
                f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n").encode()) as outer:

            async def go() -> None:
                session = make_session(make_resolver([("127.0.0.1", 9)], 1.0))
                try:
                    with deny_private(), pytest.raises(Exception, match="private"):
                        await fetch(session, f"{outer.url}/", timeout=2, max_bytes=1024, allow_redirects=True)
                finally:
                    await session.close()

            _public_loopback(monkeypatch)
            run_async(go())
            assert outer.peers == ["127.0.0.1"]
        assert inner.peers == []


def test_tls_handshakes_are_checked_too() -> None:
    with CountingListener("127.0.70.68") as listener:
        async def go() -> ConnectStatus:
            with deny_private():
                hs = await handshake(listener.host, listener.port, None, connect_timeout=1, handshake_timeout=1)
            assert "private" in (hs.error or "")
            return hs.status

        assert run_async(go()) is ConnectStatus.UNREACHABLE
        assert listener.peers == []


def _tls_listener(pki: LabPKI, names: list[str], ocsp: str, crl: str, tmp: Path) -> tuple[socket.socket, int, threading.Event]:
    leaf = pki.issue_leaf(names, ocsp_url=ocsp, crl_url=crl)  # AIA caIssuers: the PKI's base URL
    (tmp / "chain.pem").write_bytes(leaf.cert_pem)  # leaf only: the chain check must fetch AIA
    (tmp / "key.pem").write_bytes(leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "chain.pem", tmp / "key.pem")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                conn.settimeout(2)
                tls = ctx.wrap_socket(conn, server_side=True)
                tls.recv(4096)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                tls.close()
            except (OSError, ssl.SSLError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1], stop


def test_a_hostile_certificate_cannot_steer_an_on_demand_probe_inside(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """AIA, OCSP and CRL URLs with private IP literals: the checks run, nothing private is fetched."""
    with CountingListener("127.0.70.69") as v4, CountingListener("::1") as v6:
        pki = LabPKI(f"{v6.url}/ca")
        listener, port, stop = _tls_listener(pki, ["127.0.0.1"], f"{v4.url}/ocsp",
                                             f"http://[::ffff:127.0.70.69]:{v4.port}/crl", tmp_path)
        (tmp_path / "root.pem").write_bytes(pki.root_pem)
        config = Config.model_validate({
            "resolver": {"nameservers": ["127.0.0.1:9"], "timeout": "1s"},
            "trust": {"use_system": False, "ca_files": [str(tmp_path / "root.pem")]},
            "targets": [{"host": "127.0.0.1", "port": port, "timeout": "4s",
                         "checks": ["reachability", "tls", "chain", "revocation", "http"]}]})

        async def go() -> dict[str, object]:
            resources = Resources(config, deny_private_fetches=True)
            try:
                # The target itself (127.0.0.1) stands for a public host the probe was allowed to reach.
                _public_loopback(monkeypatch)
                with deny_private():
                    return dict(await run_target(config.resolved_targets()[0], resources))
            finally:
                await resources.close()

        try:
            results = run_async(go())
        finally:
            stop.set()
            listener.close()
        assert v4.peers == [] and v6.peers == [], (v4.peers, v6.peers)
    assert results["reachability"].status.value == "ok"
    assert {r.status.value for r in results.values()} <= {"ok", "error"}



def test_a_resolver_is_reachable_for_dns_only() -> None:
    """The configured resolvers are exempt for DNS queries to their port, never for other connections: a
    certificate URL naming the resolver's host (often the docker bridge or the node) reaches nothing."""
    with CountingListener("127.0.70.70") as web:
        async def go() -> None:
            session = make_session(make_resolver([("127.0.70.70", 53)], 1.0))
            try:
                with deny_private(allowed_dns=[("127.0.70.70", 53)]):
                    guard.check_destination("127.0.70.70", dns_port=53)  # the resolver itself: allowed
                    with pytest.raises(ForbiddenAddress):
                        guard.check_destination("127.0.70.70", dns_port=5353)  # another port: refused
                    with pytest.raises(Exception, match="private"):
                        await fetch(session, f"{web.url}/admin", timeout=2, max_bytes=1024)
            finally:
                await session.close()

        run_async(go())
        assert web.peers == []
