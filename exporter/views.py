"""JSON views of the store for the status page, /api and /probe (plain dicts, JSON-ready)."""

from __future__ import annotations

import time
from typing import Any

from exporter.checks.tls import TlsResult
from exporter.models import CheckStatus
from exporter.report import addresses_of, build_report, worst_severity
from exporter.daemon.scheduler import Scheduler
from exporter.engine.store import ResultsStore, TargetState


def target_report(state: TargetState) -> dict[str, Any]:
    return build_report(state.target.host, state.target.port, addresses_of(state.results), state.results)


def days_to_expiry(state: TargetState, now: float | None = None) -> float | None:
    """The soonest leaf expiry over the target's addresses, in days (negative when expired)."""
    not_after = _earliest_not_after(state)
    return None if not_after is None else round((not_after - (now or time.time())) / 86400, 2)


def target_summary(state: TargetState, scheduler: Scheduler | None) -> dict[str, Any]:
    report = target_report(state)
    worst = worst_severity(report)
    next_run = scheduler.next_run(state.target.name) if scheduler else None
    return {
        "name": state.target.name,
        "host": state.target.host,
        "port": state.target.port,
        "status": str(worst) if worst else ("ok" if state.last_run else "pending"),
        "faults": report["faults"],
        "addresses": report["addresses"],
        "checks": report["checks"],
        "days_to_expiry": days_to_expiry(state),
        "not_after": _earliest_not_after(state),
        "last_run": state.last_run,
        "next_run": next_run.timestamp() if next_run else None,
        "interval_seconds": state.target.interval,
    }


def _earliest_not_after(state: TargetState) -> float | None:
    result = state.results.get("tls")
    if result is None or result.status is not CheckStatus.OK or not isinstance(result.outcome.result, TlsResult):
        return None
    return min((a.leaf.not_after for a in result.outcome.result.addresses), default=None)


def all_targets(store: ResultsStore, scheduler: Scheduler | None) -> list[dict[str, Any]]:
    return [target_summary(s, scheduler) for s in sorted(store.states(), key=lambda s: s.target.name)]


def target_detail(store: ResultsStore, scheduler: Scheduler | None, name: str) -> dict[str, Any] | None:
    state = store.get(name)
    if state is None:
        return None
    detail = target_summary(state, scheduler)
    detail["report"] = target_report(state)
    detail["results"] = {
        n: {"status": str(r.status), "error_kind": str(r.error_kind) if r.error_kind else None, "error": r.error,
            "started_at": r.started_at, "duration_seconds": r.duration_seconds,
            "result": _plain(r.outcome.result)}
        for n, r in state.results.items()
    }
    detail["log"] = [
        {"timestamp": e.timestamp, "duration_seconds": e.duration_seconds, "faults": list(e.faults),
         "errors": list(e.errors)}
        for e in store.log.entries(name)
    ]
    return detail


def _plain(value: Any) -> Any:
    """Frozen dataclasses -> dicts, tuples -> lists, for JSON."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
