"""The benchmark's own parts: reading an exposition, summarising a py-spy profile, judging the goals,
and the one command end to end on a small fleet (real nginx, Knot, blackbox_exporter, exporter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from fleet import missing_tools  # noqa: E402
from goals import goal_rows  # noqa: E402
from measure import Round, read_exposition  # noqa: E402
from spy import summarize  # noqa: E402

EXPOSITION = b"""# HELP sslfault_fault 1 for each active fault
# TYPE sslfault_fault gauge
sslfault_fault{address="",fault="hsts_missing",severity="warning",target="b.test"} 1.0
# HELP sslfault_last_run_timestamp_seconds When the target's latest run started
# TYPE sslfault_last_run_timestamp_seconds gauge
sslfault_last_run_timestamp_seconds{target="a.test"} 1.7e9
sslfault_last_run_timestamp_seconds{target="b.test"} 1.7e9
# HELP sslfault_check_success 0 for each check that could not judge
# TYPE sslfault_check_success gauge
sslfault_check_success{check="tls",target="b.test"} 0.0
sslfault_cert_info{address="127.0.0.1",subject="CN=x",target="a.test"} 1.0
sslfault_faults_active{severity="critical",target="not-yet.test"} 0.0
sslfault_check_runs_total{check="dns",status="ok"} 2.0
"""


def test_exposition_gives_series_per_target_faults_and_failed_checks() -> None:
    round_ = Round(targets=2, scraped=True)
    read_exposition(EXPOSITION, round_)
    assert round_.final_series == 6  # the exporter's own counter has no target label
    assert round_.series_per_target == 2.5  # median of a.test (2) and b.test (3); not-yet.test was not probed
    assert round_.faults == {"hsts_missing": 1}
    assert round_.check_errors == {"tls": 1}


def test_profile_summary_shares_and_buckets(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "Handle._run (asyncio/events.py:80);do_handshake (ssl.py:975) 60\n"
        "Handle._run (asyncio/events.py:80);render (/x/exporter/http/exposition.py:50) 30\n"
        "Handle._run (asyncio/events.py:80);wait_for (asyncio/tasks.py:442) 10\n")
    summary = summarize(raw)
    assert summary["samples"] == 100
    assert summary["buckets"] == {"TLS handshakes": 60.0, "exposition render (/metrics)": 30.0,
                                  "asyncio task machinery": 10.0}
    assert summary["self"][0] == ("do_handshake (ssl.py)", 60.0)
    assert summary["inclusive"][0] == ("do_handshake (ssl.py)", 60.0)  # entry frames are not listed


def _round(targets: int, seconds: float, **kw: Any) -> dict[str, Any]:
    base = {"targets": targets, "scraped": True, "done": targets, "seconds": seconds, "cut": False,
            "peak_rss_mb": 200.0, "scrape_p99_ms": 100.0, "cpu_ms_per_target": 10.0, "series_per_target": 12.0,
            "faults": {}, "check_errors": {}}
    return {**base, **kw}


def test_goals_say_met_and_not_met() -> None:
    results = {
        "throughput": [{"exporter": {"throughput": 1300.0, "cpu_ms_per_target": 1.0},
                        "blackbox": {"throughput": 1000.0, "cpu_ms_per_target": 1.3}}],
        "rounds": [_round(1000, 10.0), _round(10000, 100.0, scrape_p99_ms=800.0),
                   _round(50000, 300.0, done=25000, cut=True)],  # projected 600 s: 6x the 10k round
    }
    verdicts = {row["measure"]: row["verdict"] for row in goal_rows(results)}
    assert verdicts["throughput vs blackbox"] == "met"
    assert verdicts["CPU per target vs blackbox"] == "met"
    assert verdicts["10k round, scraped"] == "met"
    assert verdicts["10k /metrics p99"] == "NOT MET"
    assert verdicts["50k round vs 10k"] == "NOT MET"
    assert verdicts["growth 1k -> 10k"] == "met"
    assert verdicts["false faults / failed checks (all targets healthy)"] == "met"


@pytest.mark.e2e
@pytest.mark.skipif(bool(missing_tools()) or os.geteuid() != 0,
                    reason="needs root and nginx, knot, prometheus-blackbox-exporter (scripts/install-system-deps.sh)")
def test_one_command_runs_both_exporters_on_a_healthy_fleet(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--sizes", "30", "--throughput-targets", "30",
                           "--json", str(out)], capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "exporter/blackbox throughput" in proc.stdout
    results = json.loads(out.read_text())
    pair = results["throughput"][0]
    assert pair["blackbox"]["failed"] == 0 and pair["blackbox"]["throughput"] > 0
    assert pair["exporter"]["done"] == 30 and not pair["exporter"]["check_errors"]
    (round_,) = results["rounds"]
    assert round_["done"] == 30 and not round_["cut"]
    assert round_["faults"] == {} and round_["check_errors"] == {}  # the fleet is healthy: no fault is ours
    assert round_["series_per_target"] > 0 and round_["scrapes"] >= 1
    assert {row["measure"] for row in results["goals"]} >= {"throughput vs blackbox", "series per healthy target"}
