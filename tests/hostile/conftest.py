"""The hostile suite runs the daemon once (about a minute and a half) and every test asserts on that run."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator

import pytest

from sslfault_lab.lab import Lab
from tests.hostile.harness import freshness
from tests.hostile.scenario import Record, run


@pytest.fixture(scope="package")
def hostile_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Record]:
    record = run(lab, tmp_path_factory.mktemp("hostile"))
    if record.scraper and record.rss:
        rss = [r for _, r in record.rss.samples]
        gaps = freshness(record.scraper.scrapes, record.healthy, record.measure_from)
        record.figures = {
            "scrape": record.scraper.summary(),
            "rss_mib": {"min": round(min(rss) / 2**20, 1), "max": round(max(rss) / 2**20, 1),
                        "samples": len(rss)} if rss else {},
            "healthy_max_gap_between_runs_seconds": {t: round(g, 2) for t, g in gaps.items()},
            "healthy_interval_seconds": 3.0,
        }
    (record.workdir / "figures.json").write_text(json.dumps(record.figures, indent=2))
    (record.workdir / "all-runs.log").write_text(record.outputs.get("log", ""))  # for a failing run's post-mortem
    (record.workdir / "summaries.json").write_text(json.dumps(record.summaries, indent=1))
    if record.scraper:
        (record.workdir / "timeline.json").write_text(json.dumps(
            {"events": record.events, "scrapes": [(s.at, s.seconds, s.status) for s in record.scraper.scrapes],
             "rss": record.rss.samples if record.rss else [],
             "healthy_runs": {t: sorted({s.runs[t] for s in record.scraper.scrapes if t in s.runs})
                              for t in record.healthy}}))
    (record.workdir / "attacks.json").write_text(json.dumps(
        {"probes": record.probes, "peers": record.probe_peers, "traversal": [(p, s) for p, s, _ in record.traversal],
         "credentials": record.credentials, "flood": record.flood, "reloads": record.reloads}, indent=1))
    print("\nhostile suite figures:", json.dumps(record.figures), file=sys.stderr)
    yield record
    gc.collect()  # anything the run left for the collector is reported here, not in a later test
