"""Benchmark: probe throughput against the lab, and the cost of one scrape for a large fleet.

Prints numbers; asserts nothing. Run: python bench/bench_probe.py [--targets N] [--fleet N]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry, generate_latest

from exporter.config import Config
from exporter.daemon.scheduler import Limits
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from exporter.engine.store import ResultsStore
from exporter.http.collector import FaultCollector
from exporter.http.exposition import Exposition
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import LabThread

HEALTHY_ISH = ("ok", "ok-rsa", "leaf-only", "expired", "wrong-order", "with-anchor", "sni", "multi")


async def probe_many(config: Config, copies: int) -> tuple[float, ResultsStore]:
    store = ResultsStore()
    base = [t for t in config.resolved_targets() if t.name in HEALTHY_ISH]
    targets = [t.__class__(**{**t.__dict__, "name": f"{t.name}#{i}"}) for i in range(copies) for t in base]
    store.set_targets(targets)
    resources = Resources(config)
    limits = Limits(config.limits.max_concurrent_probes, per_host=1000)
    start = time.perf_counter()

    async def one(target):  # type: ignore[no-untyped-def]
        store.record(target, await limits.run(target.host, lambda: run_target(target, resources)))

    await asyncio.gather(*(one(t) for t in targets))
    elapsed = time.perf_counter() - start
    await resources.close()
    return elapsed, store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=25, help="copies of each lab scenario to probe")
    parser.add_argument("--fleet", type=int, default=10000, help="targets in the synthetic scrape test")
    args = parser.parse_args()
    thread = LabThread()
    lab = thread.start()
    try:
        data = lab_config_dict(lab, timeout="5s")
        data["limits"]["max_concurrent_probes"] = 64
        config = Config.model_validate(data)
        elapsed, store = asyncio.run(probe_many(config, args.copies))
    finally:
        thread.stop()
    n = len(store.states())
    print(f"probe: {n} targets (all checks) in {elapsed:.2f}s = {n / elapsed:.1f} targets/s "
          f"(lab in-process thread, 2 cores shared)")

    # Scale the store up to a fleet by repeating the real results under new names.
    states = store.states()
    fleet = ResultsStore()
    targets = [states[i % n].target.__class__(**{**states[i % n].target.__dict__, "name": f"t{i}"})
               for i in range(args.fleet)]
    fleet.set_targets(targets)
    for i, target in enumerate(targets):
        fleet.record(target, dict(states[i % n].results))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FaultCollector(fleet))
    start = time.perf_counter()
    body = generate_latest(registry)
    plain = time.perf_counter() - start
    exposition = Exposition(fleet)
    start = time.perf_counter()
    exposition.render()
    first = time.perf_counter() - start
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        exposition.render()
        timings.append(time.perf_counter() - start)
    # A realistic later scrape: 5% of the fleet was probed since the last one.
    for target in targets[: args.fleet // 20]:
        fleet.record(target, dict(fleet.get(target.name).results))  # type: ignore[union-attr]
    start = time.perf_counter()
    exposition.render()
    partial = time.perf_counter() - start
    lines = body.count(b"\n")
    print(f"scrape: {args.fleet} targets -> {len(body) / 1e6:.1f} MB, {lines} lines")
    print(f"  collector + generate_latest: {plain * 1000:.0f} ms")
    print(f"  /metrics (cached exposition): first {first * 1000:.0f} ms, unchanged {min(timings) * 1000:.0f} ms, "
          f"5% changed {partial * 1000:.0f} ms")
    print(f"max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
