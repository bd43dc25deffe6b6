"""Work shared across targets and runs: one chain verdict per chain and minute, one no-SNI probe and one
set of legacy-TLS probes per address and served certificate, no second connection to learn whether a
client certificate is asked. Counted by wrapping the real functions (nothing is faked)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from exporter.config import Config
from exporter.engine import context
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from sslfault_lab.lab import Lab
from tests.support.labs import run_async


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, ...]]:
    return _spy_module(monkeypatch, context, name)


def test_one_chain_is_judged_once_across_targets(lab: Lab, lab_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    judged = _counting(monkeypatch, "judge_served")
    ok = next(t for t in lab_config.resolved_targets() if t.name == "ok")
    # Three targets behind the same server and chain (as a load balancer's names are).
    targets = [ok.__class__(**{**ok.__dict__, "name": f"ok-{i}", "checks": ("dns", "reachability", "tls", "chain")})
               for i in range(3)]

    async def go() -> list[dict[str, Any]]:
        resources = Resources(lab_config)
        try:
            return [await run_target(t, resources) for t in targets]
        finally:
            await resources.close()

    runs = run_async(go())
    assert all(r["chain"].status.value == "ok" and not r["chain"].outcome.findings for r in runs)
    assert len(judged) == 1, "the same chain in the same minute is judged once"


def test_no_sni_probe_once_per_address_and_certificate(lab: Lab, lab_config: Config,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    shakes = _counting(monkeypatch, "handshake")
    sni = next(t for t in lab_config.resolved_targets() if t.name == "sni")
    target = sni.__class__(**{**sni.__dict__, "checks": ("dns", "reachability", "tls")})

    async def go() -> list[dict[str, Any]]:
        resources = Resources(lab_config)
        try:
            return [await run_target(target, resources) for _ in range(3)]
        finally:
            await resources.close()

    runs = run_async(go())
    # Every run still reports what a client without SNI gets...
    assert all({f.fault for f in r["tls"].outcome.findings} == {"sni_default_cert_mismatch"} for r in runs)
    # ...but only the first run asked the server for it.
    without_sni = [args for args in shakes if args[2] is None]
    assert len(without_sni) == len(sni_addresses := lab.scenarios["sni"].addresses), (without_sni, sni_addresses)


def _spy_module(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    real = getattr(module, name)

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_legacy_tls_probed_once_per_address_and_certificate(lab: Lab, lab_config: Config,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.checks import legacy_tls
    from exporter.net import hello

    hellos = _spy_module(monkeypatch, hello, "probe")
    legacy_shakes = _spy_module(monkeypatch, legacy_tls, "handshake")
    ok = next(t for t in lab_config.resolved_targets() if t.name == "ok")
    targets = [ok.__class__(**{**ok.__dict__, "name": f"ok-{i}", "checks": ("dns", "reachability", "legacy_tls")})
               for i in range(4)]

    async def go() -> list[dict[str, Any]]:
        resources = Resources(lab_config)
        try:
            first = await asyncio.gather(*(run_target(t, resources) for t in targets[:3]))  # at the same time
            return [*first, await run_target(targets[3], resources)]  # and later
        finally:
            await resources.close()

    runs = run_async(go())
    assert all(r["legacy_tls"].status.value == "ok" for r in runs), [r["legacy_tls"] for r in runs]
    assert len({r["legacy_tls"].outcome.result for r in runs}) == 1, "every target gets the same verdict"
    addresses = len(lab.scenarios["ok"].addresses)
    # One probe set per address: TLS 1.0 and 1.1 handshakes, the suite offers (at most six).
    assert len(legacy_shakes) == 2 * addresses, legacy_shakes
    assert 0 < len(hellos) <= 6 * addresses, hellos


def test_a_completed_handshake_tells_whether_a_client_certificate_is_asked(lab: Lab, lab_config: Config,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.net import hello

    hellos = _spy_module(monkeypatch, hello, "probe")
    ok = next(t for t in lab_config.resolved_targets() if t.name == "ok")
    target = ok.__class__(**{**ok.__dict__, "checks": ("dns", "reachability", "tls", "chain")})

    async def go() -> dict[str, Any]:
        resources = Resources(lab_config)
        try:
            return await run_target(target, resources)
        finally:
            await resources.close()

    run = run_async(go())
    assert run["reachability"].status.value == "ok" and not run["reachability"].outcome.findings
    assert {a.client_cert_requested for a in run["reachability"].outcome.result.addresses} == {False}
    assert hellos == [], "no second (clear-text TLS 1.2) connection for a server that completed the handshake"
