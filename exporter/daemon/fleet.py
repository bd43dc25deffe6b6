"""The fleet: configured targets plus discovered ones (file_sd, http_sd), cut to this replica's shard,
handed to the scheduler like a reload (unchanged targets keep their results and schedule).

Names stay unique: a configured target wins its name, then discovery sources in config order
(file_sd entries, files in glob order, then http_sd); a later target with a taken name is dropped,
logged and counted. Discovered targets get `defaults` exactly like configured ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from pydantic import ValidationError

from exporter.config import Config, Defaults, FileSdConfig, HttpSdConfig, TargetConfig, resolve_target
from exporter.daemon.scheduler import Scheduler
from exporter.discovery.file_sd import FileSdSource
from exporter.discovery.http_sd import HttpSdSource
from exporter.discovery.sharding import Shard, owner
from exporter.engine.store import ResultsStore
from exporter.target import Target

log = logging.getLogger(__name__)

MECHANISMS = ("file_sd", "http_sd")
Source = FileSdSource | HttpSdSource
# A source's targets as read, the defaults applied to them, the result, and the result by target.
_Resolved = tuple[tuple[TargetConfig, ...], Defaults, list[Target], dict[TargetConfig, Target]]


class Fleet:
    def __init__(self, scheduler: Scheduler, store: ResultsStore, shard: Shard | None = None) -> None:
        self.scheduler = scheduler
        self.store = store
        self.shard = shard or Shard()
        self.config: Config | None = None
        self.targets: list[Target] = []  # the whole fleet, before sharding
        self.owned: list[Target] = []  # this replica's share: what it probes and exports
        self.discovered: Counter[str] = Counter()  # mechanism -> targets in the fleet from it
        self.duplicates: dict[str, str] = {}  # dropped name -> the source that listed it
        self.errors: Counter[str] = Counter()  # mechanism -> failed reads and refreshes
        self._sources: dict[FileSdConfig | HttpSdConfig, Source] = {}
        self._tasks: dict[FileSdConfig | HttpSdConfig, asyncio.Task[None]] = {}
        self._resolved: dict[str, _Resolved] = {}  # by file or URL
        self._configured: tuple[Config, list[Target]] | None = None
        self._owner: dict[str, int] = {}
        self._applied: Config | None = None  # the config of the last scheduler.apply
        store.exporter_collectors.append(FleetCollector(self))

    async def start(self, config: Config) -> None:
        """First read of every source (HTTP ones bounded by their timeout), then the first schedule:
        discovered targets are known before the state file is restored and /-/ready is judged."""
        await self.apply(config, wait_for_http=True)

    async def apply(self, config: Config, wait_for_http: bool = False) -> None:
        """Adopt a (re)loaded config: unchanged sources keep their state and last good targets."""
        self.config = config
        specs: list[FileSdConfig | HttpSdConfig] = [*config.discovery.file_sd, *config.discovery.http_sd]
        sources: dict[FileSdConfig | HttpSdConfig, Source] = {}
        fresh = []
        for spec in specs:
            if spec in sources:
                continue  # the same entry twice: once is enough
            source = self._sources.get(spec)
            if source is None:
                source = FileSdSource(spec) if isinstance(spec, FileSdConfig) else HttpSdSource(spec)
                fresh.append(source)
            sources[spec] = source
        for spec in set(self._sources) - set(sources):
            self._tasks.pop(spec).cancel()
            await self._sources[spec].close()
        self._sources = sources
        # File reads are local and quick: a reload waits for them. A new URL is awaited only at start.
        await asyncio.gather(*(self._refresh(s, compose=False) for s in fresh
                               if wait_for_http or isinstance(s, FileSdSource)))
        loop = asyncio.get_running_loop()
        for source in fresh:
            first = not wait_for_http and isinstance(source, HttpSdSource)
            self._tasks[source.spec] = loop.create_task(self._loop(source, first))
        self.compose()

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        for source in self._sources.values():
            await source.close()

    async def _loop(self, source: Source, first: bool) -> None:
        if first:
            await self._refresh(source)
        while True:
            await asyncio.sleep(source.interval)
            await self._refresh(source)

    async def _refresh(self, source: Source, compose: bool = True) -> None:
        try:
            changed, problems = await source.refresh(time.time())
        except Exception:
            log.exception("target discovery failed", extra={"mechanism": source.mechanism})
            self.errors[source.mechanism] += 1
            return
        for problem in problems:
            self.errors[source.mechanism] += 1
            for error in problem.errors:
                log.error("target discovery failed, keeping the last good targets",
                          extra={"mechanism": source.mechanism, "source": problem.source, "error": error})
        if changed and compose:
            self.compose()

    def _configured_targets(self, config: Config) -> list[Target]:
        if self._configured is None or self._configured[0] is not config:
            self._configured = (config, config.resolved_targets())
        return self._configured[1]

    def _resolve(self, mechanism: str, where: str, targets: tuple[TargetConfig, ...], defaults: Defaults
                 ) -> list[Target]:
        """The source's targets with defaults applied; targets unchanged since the last time keep their
        Target object (cheap, and the scheduler sees them as unchanged)."""
        cached = self._resolved.get(where)
        if cached is not None and cached[0] is targets and cached[1] is defaults:
            return cached[2]
        before = cached[3] if cached is not None and cached[1] is defaults else {}
        out, by_config = [], {}
        for target in targets:
            resolved = before.get(target)
            if resolved is None:
                try:
                    resolved = resolve_target(target, defaults)
                except (ValidationError, ValueError) as exc:
                    self.errors[mechanism] += 1
                    log.error("discovered target is invalid with the current defaults; skipped",
                              extra={"source": where, "host": target.host, "error": str(exc).replace("\n", " ")})
                    continue
            out.append(resolved)
            by_config[target] = resolved
        self._resolved[where] = (targets, defaults, out, by_config)
        return out

    def compose(self) -> None:
        """Rebuild the fleet and this shard's share, and hand the share to the scheduler."""
        config = self.config
        assert config is not None
        fleet = list(self._configured_targets(config))
        names = {t.name for t in fleet}
        discovered: Counter[str] = Counter()
        duplicates: dict[str, str] = {}
        seen_sources = set()
        for source in self._sources.values():
            for where, targets, _, _ in source.sources():
                seen_sources.add(where)
                for target in self._resolve(source.mechanism, where, targets, config.defaults):
                    if target.name in names:
                        duplicates.setdefault(target.name, where)
                        continue
                    names.add(target.name)
                    fleet.append(target)
                    discovered[source.mechanism] += 1
        for where in set(self._resolved) - seen_sources:
            del self._resolved[where]
        for name in sorted(set(duplicates) - set(self.duplicates)):
            log.warning("discovered target's name is already taken (a configured or earlier target wins); dropped",
                        extra={"target": name, "source": duplicates[name]})
        if self.shard.count > 1:
            self._owner = {t.name: self._owner.get(t.name, -1) for t in fleet}
            for name, index in self._owner.items():
                if index < 0:
                    self._owner[name] = owner(name, self.shard.count)
        owned = [t for t in fleet if self.shard.count == 1 or self._owner[t.name] == self.shard.index]
        unchanged = (self._applied is config and len(owned) == len(self.owned)
                     and all(a is b for a, b in zip(owned, self.owned, strict=True)))
        self.targets, self.owned, self.discovered, self.duplicates = fleet, owned, discovered, duplicates
        if not unchanged:  # e.g. a change to other shards' targets: the scheduler's O(fleet) pass is skipped
            self.scheduler.apply(config, owned)
            self._applied = config

    def source_states(self) -> list[tuple[str, str, int, str | None, float | None]]:
        """(mechanism, file or URL, targets, last error, last success) for every source."""
        return [(source.mechanism, where, len(targets), error, last_success)
                for source in list(self._sources.values()) for where, targets, error, last_success in source.sources()]

    def status(self) -> dict[str, Any]:
        """For GET /api/discovery: where targets come from, what failed (no metric label carries paths)."""
        sources = [{"mechanism": mechanism, "source": where, "targets": count, "error": error,
                    "last_success": last_success}
                   for mechanism, where, count, error, last_success in self.source_states()]
        return {"shard": {"index": self.shard.index, "count": self.shard.count},
                "fleet_targets": len(self.targets), "shard_targets": len(self.owned),
                "sources": sources, "duplicates": dict(sorted(self.duplicates.items())[:1000]),
                "errors_total": dict(self.errors)}


class FleetCollector:
    """The fleet's own metrics, rendered with the exporter's (sslfault_shard_*, sslfault_discovery_*)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        fleet = self.fleet
        info = InfoMetricFamily("sslfault_shard", "This replica's shard: index of count (0 of 1: unsharded).",
                                labels=["index", "count"])
        info.add_metric([str(fleet.shard.index), str(fleet.shard.count)], {})
        yield info
        yield GaugeMetricFamily("sslfault_fleet_targets",
                                "Targets known to this replica (configured and discovered), before sharding.",
                                value=len(fleet.targets))
        yield GaugeMetricFamily("sslfault_shard_targets", "Targets this replica owns, probes and exports.",
                                value=len(fleet.owned))
        discovered = GaugeMetricFamily("sslfault_discovery_targets",
                                       "Discovered targets in the fleet, by mechanism.", labels=["mechanism"])
        failing = GaugeMetricFamily("sslfault_discovery_sources_failing",
                                    "Discovery sources (files, URLs) whose last read failed; their last good "
                                    "targets stay.", labels=["mechanism"])
        errors = CounterMetricFamily("sslfault_discovery_errors",
                                     "Failed reads of discovery sources, by mechanism.", labels=["mechanism"])
        bad = Counter(mechanism for mechanism, _, _, error, _ in fleet.source_states() if error)
        for mechanism in MECHANISMS:
            discovered.add_metric([mechanism], fleet.discovered[mechanism])
            failing.add_metric([mechanism], bad[mechanism])
            errors.add_metric([mechanism], fleet.errors[mechanism])
        yield discovered
        yield failing
        yield errors
        yield GaugeMetricFamily("sslfault_discovery_duplicate_targets",
                                "Discovered targets dropped because their name is already taken.",
                                value=len(fleet.duplicates))
