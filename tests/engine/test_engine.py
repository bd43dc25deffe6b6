"""Runner, store, scheduler limits and the collector's output (checked by the real promtool)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections import defaultdict
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.checks.base import CheckPlugin, NoSettings
from exporter.config import Config, Target
from exporter.daemon.scheduler import Limits, Scheduler
from exporter.engine.context import ProbeContext, Resources
from exporter.engine.runner import classify, run_target
from exporter.engine.store import ResultsStore
from exporter.errors import DependencyError, InvalidResponse
from exporter.http.collector import FaultCollector
from exporter.models import CheckOutcome, CheckResult, CheckStatus, ErrorKind, FaultId, Finding
from sslfault_lab.lab import Lab
from tests.support.labs import run_async


def _plugin(name: str, run: Any, applies: Any = None, faults: frozenset[FaultId] = frozenset({FaultId.CERT_EXPIRED})
            ) -> CheckPlugin[NoSettings, object]:
    """A check declared like the real ones, for runner tests."""
    extra = {"applies": applies} if applies else {}
    return CheckPlugin(name=name, summary="test", run=run, result_type=object, faults=faults, **extra)


def _target(name: str = "t", host: str = "h.example", timeout: float = 1.0, checks: tuple[str, ...] = ("x",)) -> Target:
    return Target(name=name, host=host, port=443, interval=60, timeout=timeout, jitter=0,
                  expiry_warning_days=21, checks=checks)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [(TimeoutError(), ErrorKind.TIMEOUT), (ConnectionResetError(), ErrorKind.NETWORK),
     (DependencyError("x"), ErrorKind.DEPENDENCY), (InvalidResponse("forged"), ErrorKind.PROTOCOL),
     (ValueError("bug"), ErrorKind.INTERNAL)],
)
def test_exceptions_map_to_error_kinds(exc: Exception, kind: ErrorKind) -> None:
    assert classify(exc) is kind


def test_runner_times_out_a_stuck_check_and_keeps_others() -> None:
    async def stuck(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
        await asyncio.sleep(60)
        return CheckOutcome()

    async def quick(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
        return CheckOutcome((Finding(FaultId.CERT_EXPIRED, "old"),))

    async def go() -> dict[str, CheckResult]:
        resources = Resources(Config())
        target = _target(timeout=0.3, checks=("stuck", "quick"))
        try:
            return await run_target(target, resources, {"stuck": _plugin("stuck", stuck), "quick": _plugin("quick", quick)})
        finally:
            await resources.close()

    start = time.monotonic()
    results = run_async(go())
    assert time.monotonic() - start < 2
    assert results["stuck"].status is CheckStatus.ERROR and results["stuck"].error_kind is ErrorKind.TIMEOUT
    assert results["quick"].status is CheckStatus.OK
    assert results["quick"].outcome.findings[0].fault == "cert_expired"


def test_check_not_applying_is_not_run() -> None:
    async def never(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
        raise AssertionError("must not run")

    async def go() -> dict[str, CheckResult]:
        resources = Resources(Config())
        try:
            return await run_target(_target(checks=("never",)), resources, {"never": _plugin("never", never, lambda t, s: False)})
        finally:
            await resources.close()

    assert run_async(go()) == {}


def test_a_fault_the_plugin_does_not_declare_is_an_internal_error() -> None:
    async def sloppy(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
        return CheckOutcome((Finding(FaultId.CERT_REVOKED, "not mine to say"),))

    async def go() -> dict[str, CheckResult]:
        resources = Resources(Config())
        try:
            return await run_target(_target(checks=("sloppy",)), resources, {"sloppy": _plugin("sloppy", sloppy)})
        finally:
            await resources.close()

    result = run_async(go())["sloppy"]
    assert result.status is CheckStatus.ERROR and result.error_kind is ErrorKind.INTERNAL
    assert "cert_revoked" in (result.error or "")


def test_per_host_limit_is_respected() -> None:
    """Six targets on one host, per-host limit 2: never more than 2 in flight for that host."""
    peak: dict[str, int] = defaultdict(int)
    current: dict[str, int] = defaultdict(int)

    async def fake_run(target: Target, resources: Resources) -> dict[str, CheckResult]:
        current[target.host] += 1
        peak[target.host] = max(peak[target.host], current[target.host])
        await asyncio.sleep(0.05)
        current[target.host] -= 1
        return {}

    async def go() -> None:
        store = ResultsStore()
        scheduler = Scheduler(store, run=fake_run)
        config = Config.model_validate({
            "limits": {"max_concurrent_probes": 10, "max_concurrent_per_host": 2},
            "targets": [{"host": "same.example", "port": 8000 + i} for i in range(6)]
            + [{"host": f"other{i}.example"} for i in range(3)],
        })
        scheduler.apply(config)
        await asyncio.gather(*(scheduler.run_once(t) for t in config.resolved_targets()))
        await scheduler.shutdown()
        assert store.all_probed()

    run_async(go())
    assert peak["same.example"] == 2
    assert all(peak[f"other{i}.example"] == 1 for i in range(3))


def test_global_limit_is_respected() -> None:
    limits = Limits(global_limit=3, per_host=100)
    active = 0
    seen = 0

    async def work() -> dict[str, CheckResult]:
        nonlocal active, seen
        active += 1
        seen = max(seen, active)
        await asyncio.sleep(0.02)
        active -= 1
        return {}

    async def go() -> None:
        await asyncio.gather(*(limits.run(f"h{i}", work) for i in range(12)))

    run_async(go())
    assert seen == 3


def test_store_keeps_unchanged_targets_and_drops_removed() -> None:
    store = ResultsStore()
    a, b = _target("a"), _target("b")
    store.set_targets([a, b])
    result = CheckResult("a", "x", CheckStatus.OK, time.time(), 0.1)
    store.record(a, {"x": result})
    store.set_targets([a])
    assert [s.target.name for s in store.states()] == ["a"]
    assert store.get("a").results["x"] is result
    store.record(b, {"x": result})  # a run that finished after its target was removed
    assert store.get("b") is None


def _scrape(store: ResultsStore) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FaultCollector(store))
    return generate_latest(registry).decode()


def test_collector_exports_certificate_metrics_even_when_expired(lab: Lab, lab_config: Config) -> None:
    """The expired and untrusted targets still get notAfter, info and TLS version series."""
    async def go() -> ResultsStore:
        store = ResultsStore()
        targets = [t for t in lab_config.resolved_targets() if t.name in ("expired", "self-signed", "ok", "refused", "expired-intermediate")]
        store.set_targets(targets)
        resources = Resources(lab_config)
        try:
            for target in targets:
                store.record(target, await run_target(target, resources))
        finally:
            await resources.close()
        return store

    text = _scrape(run_async(go()))
    expired_addr = lab.scenarios["expired"].addresses[0]
    assert f'sslfault_cert_not_after_timestamp_seconds{{address="{expired_addr}",target="expired"}}' in text
    assert (f'sslfault_fault{{address="{expired_addr}",fault="cert_expired",severity="critical",target="expired"}} 1.0'
            in text)
    self_signed = lab.scenarios["self-signed"].addresses[0]
    assert (f'sslfault_fault{{address="{self_signed}",fault="cert_untrusted",severity="critical",'
            f'target="self-signed"}} 1.0' in text)
    assert 'sslfault_cert_info{address=' in text and 'target="self-signed"' in text
    assert 'sslfault_faults_active{severity="critical",target="ok"} 0.0' in text
    assert 'sslfault_check_success{check="tls",target="refused"} 0.0' in text
    # A check that reached its verdict costs no per-check series; the target's run has its time and duration.
    assert 'sslfault_check_success{check="tls",target="ok"}' not in text
    assert 'sslfault_last_run_timestamp_seconds{target="ok"}' in text
    assert 'sslfault_run_duration_seconds{target="ok"}' in text
    # The staleness alert compares the last run with the target's own interval: one series per target.
    ok = next(t for t in lab_config.resolved_targets() if t.name == "ok")
    assert f'sslfault_target_interval_seconds{{target="ok"}} {ok.interval:.1f}' in text
    assert 'sslfault_check_runs_total{check="tls",status="ok"} 4.0' in text
    assert 'sslfault_tls_version_info{address=' in text
    # The chain's own expiry series only where an intermediate runs out before the leaf.
    chain_series = [line for line in text.splitlines() if line.startswith("sslfault_chain_not_after_timestamp_seconds{")]
    assert chain_series and all('target="expired-intermediate"' in line for line in chain_series), chain_series
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_fault_changes_are_logged_at_info(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    from sslfault_lab.demo import lab_config_dict

    def config_pointing_at(scenario: str) -> Config:
        data = lab_config_dict(lab)
        source = lab.scenarios[scenario]
        data["targets"] = [{"host": source.host, "port": source.port, "name": "watched"}]
        return Config.model_validate(data)

    async def go() -> None:
        store = ResultsStore()
        scheduler = Scheduler(store)
        for scenario in ("expired", "ok"):
            config = config_pointing_at(scenario)
            scheduler.apply(config)
            await scheduler.run_once(config.resolved_targets()[0])
        await scheduler.shutdown()

    caplog.set_level("DEBUG", logger="exporter.daemon.scheduler")
    run_async(go())
    infos = [(r.getMessage(), getattr(r, "fault", None)) for r in caplog.records if r.levelname == "INFO"]
    assert ("fault appeared", "cert_expired") in infos
    assert ("fault cleared", "cert_expired") in infos
    assert any(r.getMessage() == "check done" and r.levelname == "DEBUG" for r in caplog.records)


def test_json_log_lines_carry_structured_fields() -> None:
    import json
    import logging

    from exporter.logs import JsonFormatter

    record = logging.LogRecord("exporter.daemon.scheduler", logging.INFO, __file__, 1, "fault appeared", (), None)
    record.target, record.fault, record.address = "shop", "cert_expired", "192.0.2.1"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "fault appeared" and line["level"] == "info"
    assert (line["target"], line["fault"], line["address"]) == ("shop", "cert_expired", "192.0.2.1")


def test_probe_log_is_bounded_and_keeps_failures_longer() -> None:
    from exporter.engine.probelog import ProbeLog

    log = ProbeLog(per_target=3, failures_per_target=5)
    failed = {"tls": CheckResult("t", "tls", CheckStatus.OK, time.time(), 0.1,
                                 CheckOutcome((Finding("cert_expired", "old", "192.0.2.1"),)))}
    healthy = {"tls": CheckResult("t", "tls", CheckStatus.OK, time.time(), 0.1)}
    for _ in range(2):
        log.add("t", failed)
    for _ in range(10):
        log.add("t", healthy)
    entries = log.entries("t")
    assert sum(not e.failed for e in entries) == 3  # recent runs: bounded
    assert [e.faults for e in entries if e.failed] == [("cert_expired@192.0.2.1",)] * 2  # failures outlive them
    log.forget(set())
    assert log.entries("t") == []


def test_cached_exposition_equals_the_collector_output(lab: Lab, lab_config: Config) -> None:
    """/metrics' cached rendering must say exactly what the collector says, also after a target changes."""
    from exporter.http.exposition import Exposition

    async def go() -> tuple[ResultsStore, list[Target], Resources]:
        store = ResultsStore()
        targets = [t for t in lab_config.resolved_targets() if t.name in ("expired", "ok", "refused", "multi")]
        store.set_targets(targets)
        resources = Resources(lab_config)
        for target in targets:
            store.record(target, await run_target(target, resources))
        await resources.close()
        return store, targets, resources

    store, targets, _ = run_async(go())
    exposition = Exposition(store)
    assert exposition.render_exporter().decode() == _scrape(store)
    assert exposition.render_exporter().decode() == _scrape(store)  # from the cache
    store.record(targets[0], {})  # one target's results change (here: to nothing)
    store.set_targets([t for t in targets if t is not targets[1]])  # and another goes away
    assert exposition.render_exporter().decode() == _scrape(store)
    # /metrics adds the standard process and Python families after the exporter's own.
    full = exposition.render().decode()
    assert full.startswith(_scrape(store)) and "\nprocess_cpu_seconds_total " in full
