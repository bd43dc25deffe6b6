"""One typed view of a target, built from its latest results and each check's declared facts.

The status page, `/api/targets`, `sslfault check` and reports all render this one model;
`as_json()` is its plain, JSON-ready form.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.catalog.faults import Severity
from exporter.checks import PLUGINS
from exporter.checks.base import AddressFacts
from exporter.engine.store import ResultsStore, TargetState
from exporter.models import CheckResult, CheckStatus
from exporter.report import build_report, worst_severity

_SEVERITIES = frozenset(s.value for s in Severity)
NextRun = Callable[[str], float | None]  # target name -> unix seconds of its next scheduled run


def days_until(timestamp: float | None, now: float | None = None) -> float | None:
    """Days from now until `timestamp` (negative when past): the one days-to-expiry computation."""
    return None if timestamp is None else round((timestamp - (now or time.time())) / 86400, 2)


@dataclass(frozen=True)
class TargetView:
    name: str
    host: str
    port: int
    status: str  # worst severity, or "ok" / "pending"
    report: Mapping[str, Any]  # the JSON report (faults worst first, every check's status)
    resolved: tuple[str, ...]  # the addresses the name resolved to
    addresses: tuple[AddressFacts, ...]  # per address, merged from every check's facts
    not_after: float | None  # the soonest leaf notAfter over the addresses
    chain_not_after: float | None  # the soonest notAfter on the built paths
    expiry_warning_days: float
    last_run: float | None
    next_run: float | None
    interval_seconds: float

    @property
    def days_to_expiry(self) -> float | None:
        return days_until(self.not_after)

    @property
    def severity_rank(self) -> int:
        """For sorting: worst first (critical 3 ... ok 0, pending -1)."""
        if self.status in _SEVERITIES:
            return Severity(self.status).rank
        return 0 if self.status == "ok" else -1

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "host": self.host, "port": self.port, "status": self.status,
            "faults": self.report["faults"], "addresses": list(self.resolved), "checks": self.report["checks"],
            "days_to_expiry": self.days_to_expiry, "not_after": self.not_after,
            "chain_not_after": self.chain_not_after, "expiry_warning_days": self.expiry_warning_days,
            "per_address": [dataclasses.asdict(a) for a in self.addresses],
            "last_run": self.last_run, "next_run": self.next_run, "interval_seconds": self.interval_seconds,
        }


def _merge(resolved: tuple[str, ...], facts: list[AddressFacts]) -> tuple[AddressFacts, ...]:
    merged: dict[str, AddressFacts] = {a: AddressFacts(a) for a in resolved}
    for fact in facts:
        current = merged.get(fact.address, AddressFacts(fact.address))
        updates = {f.name: getattr(fact, f.name) for f in dataclasses.fields(fact)
                   if f.name != "address" and getattr(fact, f.name) is not None}
        merged[fact.address] = dataclasses.replace(current, **updates)
    return tuple(merged.values())


def resolved_addresses(results: Mapping[str, CheckResult]) -> tuple[str, ...]:
    """The addresses the name resolved to, from whichever check's facts say so."""
    for name, result in results.items():
        plugin = PLUGINS.get(name)
        if plugin is not None and result.status is CheckStatus.OK:
            resolved = plugin.facts_of(result.outcome.result).resolved
            if resolved is not None:
                return resolved
    return ()


def target_view(state: TargetState, next_run: NextRun | None = None) -> TargetView:
    target, results = state.target, state.results
    resolved = resolved_addresses(results)
    facts: list[AddressFacts] = []
    for name, result in results.items():
        plugin = PLUGINS.get(name)
        if plugin is not None and result.status is CheckStatus.OK:
            facts += plugin.facts_of(result.outcome.result).addresses
    addresses = _merge(resolved, facts)
    report = build_report(target.host, target.port, resolved, results)
    worst = worst_severity(report)
    leaf_dates = [a.leaf_not_after for a in addresses if a.leaf_not_after is not None]
    chain_dates = [a.chain_not_after for a in addresses if a.chain_not_after is not None]
    return TargetView(
        name=target.name, host=target.host, port=target.port,
        status=str(worst) if worst else ("ok" if state.last_run else "pending"),
        report=report, resolved=resolved, addresses=addresses,
        not_after=min(leaf_dates, default=None), chain_not_after=min(chain_dates, default=None),
        expiry_warning_days=target.expiry_warning_days, last_run=state.last_run,
        next_run=next_run(target.name) if next_run else None, interval_seconds=target.interval,
    )


def all_views(store: ResultsStore, next_run: NextRun | None = None) -> list[TargetView]:
    return [target_view(s, next_run) for s in sorted(store.states(), key=lambda s: s.target.name)]


def target_detail(store: ResultsStore, name: str, next_run: NextRun | None = None) -> dict[str, Any] | None:
    """The full JSON of one target: its view, its report, each check's result data and its probe log."""
    state = store.get(name)
    if state is None:
        return None
    view = target_view(state, next_run)
    detail = view.as_json()
    detail["report"] = view.report  # built once, with the view
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
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
