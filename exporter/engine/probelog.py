"""A bounded log of recent probe runs per target, failures kept longer (like blackbox_exporter's)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.models import CheckResult, CheckStatus


@dataclass(frozen=True, slots=True)
class ProbeLogEntry:
    timestamp: float
    target: str
    duration_seconds: float
    faults: tuple[str, ...]  # "fault_id@address" strings
    errors: tuple[str, ...]  # "check: kind: message"

    @property
    def failed(self) -> bool:
        return bool(self.faults or self.errors)


class ProbeLog:
    def __init__(self, per_target: int = 10, failures_per_target: int = 50, max_targets: int = 100_000) -> None:
        self._recent: dict[str, deque[ProbeLogEntry]] = {}
        self._failures: dict[str, deque[ProbeLogEntry]] = {}
        self._per_target = per_target
        self._failures_per_target = failures_per_target
        self._max_targets = max_targets

    def add(self, target: str, results: Mapping[str, CheckResult]) -> ProbeLogEntry:
        faults = tuple(sorted({f"{f.fault}@{f.address}" if f.address else f.fault
                               for r in results.values() for f in r.outcome.findings}))
        errors = tuple(f"{n}: {r.error_kind}: {r.error}" for n, r in results.items() if r.status is CheckStatus.ERROR)
        duration = max((r.duration_seconds for r in results.values()), default=0.0)
        entry = ProbeLogEntry(time.time(), target, duration, faults, errors)
        if target not in self._recent and len(self._recent) >= self._max_targets:
            return entry
        self._recent.setdefault(target, deque(maxlen=self._per_target)).append(entry)
        if entry.failed:
            self._failures.setdefault(target, deque(maxlen=self._failures_per_target)).append(entry)
        return entry

    def entries(self, target: str) -> list[ProbeLogEntry]:
        """Recent runs and older failures, newest first, without duplicates."""
        merged = {id(e): e for e in (*self._failures.get(target, ()), *self._recent.get(target, ()))}
        return sorted(merged.values(), key=lambda e: e.timestamp, reverse=True)

    def forget(self, keep: set[str]) -> None:
        for table in (self._recent, self._failures):
            for name in set(table) - keep:
                del table[name]
