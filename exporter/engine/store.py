"""The latest result per (target, check). Writers swap whole frozen objects; readers never lock."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from prometheus_client.registry import Collector

from exporter.config import Target
from exporter.engine.probelog import ProbeLog
from exporter.models import CheckResult


@dataclass(frozen=True, slots=True)
class TargetState:
    target: Target
    results: Mapping[str, CheckResult] = field(default_factory=lambda: MappingProxyType({}))
    last_run: float | None = None  # unix seconds of the last completed run


@dataclass
class ReloadStatus:
    successful: bool = True
    success_timestamp: float = field(default_factory=time.time)
    last_error: str | None = None


@dataclass
class StateFileStatus:
    """The state file's saves, for the exporter's own metrics (enabled only with --storage.state-file)."""

    enabled: bool = False
    save_failures: int = 0
    last_success: float = 0.0  # unix seconds; 0 until the first successful save


class ResultsStore:
    """A dict of immutable TargetState objects; each update replaces one entry wholesale."""

    def __init__(self) -> None:
        self._targets: dict[str, TargetState] = {}
        self.runs = Counter[tuple[str, str]]()  # (check, status) -> count, for the _total counter
        self.reload = ReloadStatus()
        self.state_file = StateFileStatus()
        self.log = ProbeLog()
        self._groups: dict[str, set[str]] = {}
        # More of the exporter's own metrics (the fleet's shard and discovery families), rendered with them.
        self.exporter_collectors: list[Collector] = []

    def set_targets(self, targets: Iterable[Target], group: str = "network") -> None:
        """Keep results of targets that still exist (unchanged or not), drop removed ones.

        Targets come in groups (network targets, watched files) so each source replaces only its own."""
        self._groups[group] = set()
        fresh: dict[str, TargetState] = {
            name: state for name, state in self._targets.items() if any(name in g for g in self._groups.values())
        }
        for target in targets:
            self._groups[group].add(target.name)
            old = self._targets.get(target.name)
            fresh[target.name] = TargetState(target, old.results, old.last_run) if old else TargetState(target)
        self._targets = fresh
        self.log.forget(set(fresh))

    def record(self, target: Target, results: Mapping[str, CheckResult]) -> None:
        if target.name not in self._targets:
            return  # removed by a reload while it was running
        self._targets[target.name] = TargetState(target, MappingProxyType(dict(results)), time.time())
        self.log.add(target.name, results)
        for result in results.values():
            self.runs[(result.check, str(result.status))] += 1

    def restore(self, target: Target, results: Mapping[str, CheckResult], last_run: float) -> int:
        """Saved results from before a restart, for a target configured now with the same settings.

        Returns 1 if taken. A target that already ran since the start keeps its fresh results."""
        current = self._targets.get(target.name)
        if current is None or current.target != target or current.last_run is not None:
            return 0
        self._targets[target.name] = TargetState(target, MappingProxyType(dict(results)), last_run)
        return 1

    def states(self) -> list[TargetState]:
        return list(self._targets.values())

    def get(self, name: str) -> TargetState | None:
        return self._targets.get(name)

    def all_probed(self) -> bool:
        return all(s.last_run is not None for s in self._targets.values())
