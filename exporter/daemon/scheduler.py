"""Runs every target on its own interval (apscheduler 3), within global and per-host limits."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from exporter.config import Config, Target
from exporter.daemon.workers import WorkerPool
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from exporter.engine.store import ResultsStore
from exporter.models import CheckResult, CheckStatus

# apscheduler warns on every skipped run of a job still running ("maximum number of running instances"):
# a slow target would flood the log; the exporter's own metrics and logs say what is slow.
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
log = logging.getLogger(__name__)

RunTarget = Callable[[Target, Resources], Awaitable[dict[str, CheckResult]]]


class Limits:
    """A global semaphore plus one per host, so one host is never hammered by several targets."""

    def __init__(self, global_limit: int, per_host: int) -> None:
        self.global_slots = asyncio.Semaphore(global_limit)
        self.per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self.per_host))
        self.in_flight: dict[str, int] = defaultdict(int)  # for tests and the status page

    async def run(self, host: str, work: Callable[[], Awaitable[dict[str, CheckResult]]]) -> dict[str, CheckResult]:
        async with self._hosts[host], self.global_slots:
            self.in_flight[host] += 1
            try:
                return await work()
            finally:
                self.in_flight[host] -= 1
                if not self.in_flight[host]:
                    del self.in_flight[host]


class Scheduler:
    def __init__(self, store: ResultsStore, run: RunTarget = run_target) -> None:
        self.store = store
        self._run = run
        self._scheduler = AsyncIOScheduler(timezone=dt.UTC)
        self._targets: dict[str, Target] = {}
        self.resources: Resources | None = None
        self._prepared: Resources | None = None  # built by prepare() for the config a reload is about to apply
        self.limits: Limits | None = None
        self.on_result: Callable[[Target, dict[str, CheckResult], dict[str, CheckResult] | None], None] | None = None
        self.pool: WorkerPool | None = None  # probe worker processes (--runtime.workers), else runs in-process

    def start(self) -> None:
        self._scheduler.start()

    async def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self.pool:
            await self.pool.close()
        if self.resources:
            await self.resources.close()

    def prepare(self, config: Config) -> None:
        """Build what a config needs that can fail (trust roots, resolver) without changing anything, so a
        reload can be refused before discovery or the schedule see the new config; apply() then uses it."""
        current = self.resources
        if current is not None and _resource_settings(current.config) == _resource_settings(config):
            return
        if self._prepared is not None and _resource_settings(self._prepared.config) == _resource_settings(config):
            return
        self._prepared = Resources(config)

    def apply(self, config: Config, targets: list[Target] | None = None) -> None:
        """Adopt a (new) config: unchanged targets keep results and schedule; new ones run at once.

        `targets`: the ones to run instead of the config's (the fleet: discovered too, one shard's share).
        Everything that can fail (reading CA files, building the resolver) happens before anything
        changes, so a config that cannot be applied leaves the running one untouched."""
        wanted = config.resolved_targets() if targets is None else targets
        by_name = {t.name: t for t in wanted}
        old_resources = self.resources
        if old_resources is None or _resource_settings(old_resources.config) != _resource_settings(config):
            prepared, self._prepared = self._prepared, None
            fits = prepared is not None and _resource_settings(prepared.config) == _resource_settings(config)
            self.resources = prepared if prepared is not None and fits else Resources(config)
            self.limits = Limits(config.limits.max_concurrent_probes, config.limits.max_concurrent_per_host)
            if old_resources is not None:
                old_resources.retire()  # closed when the runs still holding it finish
            if self.pool is not None:
                self.pool.configure(config)
        else:
            old_resources.config = config
        for name in set(self._targets) - set(by_name):
            self._scheduler.remove_job(_job_id(name))
        self.store.set_targets(by_name.values())
        for name, target in by_name.items():
            if self._targets.get(name) == target:
                continue
            # A small random delay spreads the first runs so a large fleet does not start in one burst.
            first = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=random.uniform(0, min(1.0, target.jitter)))
            self._scheduler.add_job(
                self.run_once, IntervalTrigger(seconds=target.interval, jitter=target.jitter or None),
                args=[target], id=_job_id(name), replace_existing=True, next_run_time=first,
                max_instances=1, coalesce=True, misfire_grace_time=int(max(1, target.interval)),
            )
        self._targets = by_name

    async def run_once(self, target: Target) -> dict[str, CheckResult]:
        assert self.resources is not None and self.limits is not None

        async def work() -> dict[str, CheckResult]:
            if self.pool is not None:
                return await self.pool.run_target(target)
            # The resources current when the run starts, held until it ends (a reload may retire them).
            async with self.resources.use() as resources:  # type: ignore[union-attr]  # set by apply() before any job runs
                return await self._run(target, resources)

        try:
            results = await self.limits.run(target.host, work)
        except asyncio.CancelledError:
            # Shutdown cancels runs in flight; the job ends quietly instead of logging a traceback.
            return {}
        previous = self.store.get(target.name)
        self.store.record(target, results)
        _log_changes(target, results, dict(previous.results) if previous else None)
        return results

    def next_run(self, name: str) -> dt.datetime | None:
        job = self._scheduler.get_job(_job_id(name))
        return job.next_run_time if job else None

    def next_run_timestamp(self, name: str) -> float | None:
        when = self.next_run(name)
        return when.timestamp() if when else None


def _job_id(name: str) -> str:
    return f"target:{name}"


def _resource_settings(config: Config) -> tuple[object, ...]:
    return (config.resolver, config.trust, config.limits)


def _log_changes(target: Target, results: dict[str, CheckResult], previous: dict[str, CheckResult] | None) -> None:
    """One debug line per check outcome; one info line per fault that appears or clears."""
    def active(res: dict[str, CheckResult] | None) -> set[tuple[str, str | None]]:
        return {(f.fault, f.address) for r in (res or {}).values() for f in r.outcome.findings}

    for name, result in results.items():
        log.debug("check done", extra={"target": target.name, "check": name, "status": str(result.status),
                                       "error": result.error, "duration_seconds": round(result.duration_seconds, 4)})
    now, before = active(results), active(previous)
    # A check that could not judge this time does not clear its earlier faults in the log.
    errored = {n for n, r in results.items() if r.status is CheckStatus.ERROR}
    for fault, address in sorted(now - before, key=str):
        log.info("fault appeared", extra={"target": target.name, "fault": fault, "address": address})
    for fault, address in sorted(before - now, key=str):
        owner = next((n for n, r in (previous or {}).items() if any(f.fault == fault for f in r.outcome.findings)), None)
        if owner not in errored:
            log.info("fault cleared", extra={"target": target.name, "fault": fault, "address": address})
