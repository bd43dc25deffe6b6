"""/metrics text with each target's lines cached until its results change.

The FaultCollector stays the one source of truth: each target is rendered through it
(on its own), split into families, and kept until the store holds a new TargetState
for it. A scrape then only joins strings, which keeps large fleets cheap to scrape.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest

from exporter.engine.store import ResultsStore, TargetState
from exporter.http.collector import FaultCollector

Families = list[tuple[str, list[str], list[str]]]  # (family, header lines, sample lines)


def split_families(text: str) -> Families:
    """Exposition text -> families in order, each with its HELP/TYPE lines and its samples."""
    families: Families = []
    # "\n" only: splitlines() also breaks at U+2028, U+0085... which label values may hold unescaped.
    for line in text.split("\n"):
        if line.startswith("# HELP "):
            families.append((line.split(" ", 3)[2], [line], []))
        elif line.startswith("#"):
            families[-1][1].append(line)
        elif line:
            families[-1][2].append(line)
    return families


def _render(store: ResultsStore, states: list[TargetState], exporter_metrics: bool) -> Families:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FaultCollector(store, include_exporter_metrics=exporter_metrics, states=states))
    return split_families(generate_latest(registry).decode())


def _standard_registry() -> CollectorRegistry:
    """The standard process_* (CPU, memory, file descriptors) and python_* (GC, version) families."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class Exposition:
    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        # Per family, each target's encoded lines; per target, the state they were rendered from.
        self._by_family: dict[str, dict[str, bytes]] = {}
        self._seen: dict[str, tuple[TargetState, tuple[str, ...]]] = {}
        self._standard = _standard_registry()
        # A thread of its own: scrapes never queue behind checks' work in the default pool (page parsing).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics")

    async def render_async(self) -> bytes:
        """render() off the event loop, in the exposition's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.render)

    async def render_parts_async(self) -> list[bytes]:
        """render_parts() off the event loop, in the exposition's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.render_parts)

    def render_parts(self) -> list[bytes]:
        """What render() joins, in order: a large fleet's /metrics is tens of MB, written out part by
        part instead of copied once more into one buffer."""
        return [*self._exporter_chunks(), generate_latest(self._standard)]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def render(self) -> bytes:
        """Everything /metrics serves: the exporter's families, then the process and Python ones, joined
        once (a large fleet's exposition is megabytes: every extra copy is one more at the peak)."""
        return b"".join(self.render_parts())

    def render_exporter(self) -> bytes:
        """The exporter's own families (what the FaultCollector says), per-target cached."""
        return b"".join(self._exporter_chunks())

    def _exporter_chunks(self) -> list[bytes]:
        with self._lock:  # scrapes run in worker threads; one renders at a time
            skeleton = _render(self.store, [], exporter_metrics=True)  # headers, and the exporter's own samples
            states = self.store.states()
            for state in states:
                name = state.target.name
                seen = self._seen.get(name)
                if seen is not None and seen[0] is state:
                    continue  # unchanged since the last scrape: its chunks are in place
                # Kept as one encoded chunk per family and target: a scrape joins bytes, nothing is
                # re-encoded, and an unchanged fleet costs one identity check per target.
                families = {family: _lines(lines) for family, _, lines in _render(self.store, [state], False) if lines}
                for family in seen[1] if seen is not None else ():
                    if family not in families:
                        self._by_family[family].pop(name, None)
                for family, chunk in families.items():
                    self._by_family.setdefault(family, {})[name] = chunk
                self._seen[name] = (state, tuple(families))
            if len(self._seen) != len(states):  # targets removed since the last scrape
                for name in set(self._seen) - {state.target.name for state in states}:
                    for family in self._seen.pop(name)[1]:
                        self._by_family[family].pop(name, None)
            out: list[bytes] = []
            for family, header, lines in skeleton:
                out += (_lines(header), _lines(lines))
                per_target = self._by_family.get(family)
                if per_target:
                    out.append(b"".join(per_target.values()))
            return out


def _lines(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()
