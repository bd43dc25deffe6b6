"""Hostile and broken inputs: every one ends in a bounded verdict or an error, never a stall or a false "ok"."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from exporter.checks import chain as chain_check
from exporter.config import Config
from exporter.engine.context import Resources, TTLCache
from exporter.engine.runner import run_first_target
from exporter.net.dns import make_resolver
from exporter.net.http import ProbeResolver
from exporter.net.tls import ConnectStatus, handshake
from sslfault_lab.lab import Lab
from tests.support.labs import config_for, run_async


def test_ttl_cache_bounds_total_weight() -> None:
    cache = TTLCache(max_entries=100, max_weight=10)
    for i in range(5):
        cache.put(f"k{i}", i, ttl=60, weight=4)
    kept = [k for k in (f"k{i}" for i in range(5)) if cache.get(k) is not None]
    assert kept == ["k3", "k4"]  # 8 of 10 bytes: the oldest went first
    cache.put("huge", "x", ttl=60, weight=11)
    assert cache.get("huge") is None and cache.get("k4") == 4


def test_probe_resolver_refuses_private_addresses_for_on_demand_probes(lab: Lab) -> None:
    async def go() -> None:
        host, port = lab.nameserver.split(":")
        resolver = make_resolver([(host, int(port))], 2.0)
        assert await ProbeResolver(resolver).resolve("pki.lab.test", 80)
        with pytest.raises(OSError, match="private or loopback"):
            await ProbeResolver(resolver, deny_private=True).resolve("pki.lab.test", 80)

    run_async(go())


def _tls_server(cert_pem: bytes, key_pem: bytes, tmp: Path) -> tuple[socket.socket, int, threading.Event]:
    """A TLS server on 127.0.0.1 that sends `cert_pem` (any number of certificates) as its chain."""
    (tmp / "chain.pem").write_bytes(cert_pem)
    (tmp / "key.pem").write_bytes(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_cert_chain(tmp / "chain.pem", tmp / "key.pem")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                conn.settimeout(2)
                ctx.wrap_socket(conn, server_side=True).close()
            except (OSError, ssl.SSLError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1], stop


def test_a_200_certificate_chain_is_judged_quickly(lab: Lab, tmp_path: Path) -> None:
    pki = lab.pki
    leaf = pki.issue_leaf(["127.0.0.1"])
    junk = b"".join(pki.self_signed([f"junk{i}.test"]).cert_pem for i in range(200))
    listener, port, stop = _tls_server(leaf.cert_pem + junk + pki.ecc_intermediate.cert_pem,
                                       leaf.key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()), tmp_path)
    try:
        config = Config.model_validate({"trust": {"use_system": False, "ca_files": [lab.root_ca_file]},
                                        "targets": [{"host": "127.0.0.1", "port": port, "checks": ["chain"]}]})
        start = time.monotonic()
        result = run_async(run_first_target(config))["chain"]
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        listener.close()
    assert elapsed < 5, f"took {elapsed:.1f}s"
    faults = {f.fault for f in result.outcome.findings}
    assert "chain_extra_certs" in faults
    assert any(f"only the first {chain_check.MAX_SERVED}" in f.detail for f in result.outcome.findings)


def test_a_stalled_handshake_is_a_timeout_not_a_refusal(lab: Lab) -> None:
    """legacy_tls must not read silence as "refuses TLS 1.0"."""
    scenario = lab.scenarios["stall"]
    hs = run_async(handshake(scenario.addresses[0], scenario.port, scenario.host, connect_timeout=1, handshake_timeout=0.5))
    assert hs.status is ConnectStatus.HANDSHAKE_TIMEOUT
    report = run_async(run_first_target(config_for(lab, "stall", checks=["reachability", "legacy_tls"])))
    assert [f.fault for f in report["reachability"].outcome.findings] == ["tls_handshake_failed"]
    assert report["legacy_tls"].status.value == "error"


def test_resources_refuse_a_new_session_after_close() -> None:
    async def go() -> None:
        resources = Resources(Config())
        _ = resources.session
        await resources.close()
        with pytest.raises(Exception, match="reloaded"):
            _ = resources.session

    run_async(go())


def test_watched_fifo_is_skipped(tmp_path: Path) -> None:
    from exporter.daemon.filewatch import expand

    os.mkfifo(tmp_path / "trap.pem")
    (tmp_path / "real.pem").write_text("not a certificate\n")
    config = Config.model_validate({"cert_files": [{"path": str(tmp_path / "*.pem")}]})
    assert [w.target.name for w in expand(config)] == [f"file:{tmp_path / 'real.pem'}"]


def test_event_loop_keeps_ticking_during_a_hostile_run(lab: Lab) -> None:
    """A stalling target does not stop other work on the loop (heartbeat measured during the run)."""
    async def go() -> float:
        gaps: list[float] = []

        async def heartbeat() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.02)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        beat = asyncio.ensure_future(heartbeat())
        await run_first_target(config_for(lab, "stall", timeout="2s"))
        beat.cancel()
        return max(gaps)

    assert run_async(go()) < 0.5
