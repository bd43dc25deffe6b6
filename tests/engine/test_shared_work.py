"""Work shared across targets and runs: one chain verdict per chain and minute, one no-SNI probe per
address and served certificate. Counted by wrapping the real functions (nothing is faked)."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config import Config
from exporter.engine import context
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from sslfault_lab.lab import Lab
from tests.support.labs import run_async


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    real = getattr(context, name)

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(context, name, spy)
    return calls


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
