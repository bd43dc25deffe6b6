"""The daemon against a hostile environment: nothing crashes, Prometheus is answered fast, healthy targets
stay fresh, hostile ones never look healthy, nothing private is fetched, nothing secret is shown, and
results survive SIGKILL. One shared run (tests/hostile/scenario.py); each test checks one promise."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.hostile.harness import fault_series, last_runs
from tests.hostile.scenario import HEALTHY_INTERVAL, JITTER, Record
from tests.support.logfmt import parse

pytestmark = pytest.mark.timeout(400)  # the first test sets up the shared run

P99_LIMIT = 1.0
RSS_LIMIT = 400 * 2**20


def test_no_crash_and_every_stop_exits_zero(hostile_run: Record) -> None:
    assert hostile_run.unexpected_exits == []
    assert hostile_run.exit_codes == [0, 0, 0, 0], hostile_run.exit_codes  # restart + three corrupted-state starts


def test_metrics_answered_fast_under_attack(hostile_run: Record) -> None:
    assert hostile_run.scraper is not None
    statuses = [s.status for s in hostile_run.scraper.scrapes]
    assert len(statuses) > 100 and set(statuses) == {200}, sorted(set(statuses))
    figures = hostile_run.scraper.summary()
    assert figures["p99_seconds"] < P99_LIMIT, figures


def test_memory_stays_bounded(hostile_run: Record) -> None:
    assert hostile_run.rss is not None and len(hostile_run.rss.samples) > 50
    rss = [r for _, r in hostile_run.rss.samples]
    assert max(rss) < RSS_LIMIT, f"RSS reached {max(rss) / 2**20:.0f} MiB"
    early, late = rss[: len(rss) // 4], rss[-len(rss) // 4:]
    assert max(late) < max(early) * 1.5 + 32 * 2**20, "RSS keeps growing under the same attacks"


def test_healthy_targets_refreshed_every_interval(hostile_run: Record) -> None:
    gaps = hostile_run.figures["healthy_max_gap_between_runs_seconds"]
    # A missed interval makes a gap of at least two intervals less the jitter (5.7 s); allow run-time slack only.
    late = {t: g for t, g in gaps.items() if g > HEALTHY_INTERVAL + JITTER + 2.0}
    assert not late, f"healthy targets missed their interval ({HEALTHY_INTERVAL:g}s): {late}"
    # Reloads rebuilt the shared resources under runs in flight: no run lost its HTTP session.
    for name in hostile_run.healthy:
        for check, result in hostile_run.details[name]["results"].items():
            assert "closed" not in (result["error"] or "") and "reloaded" not in (result["error"] or ""), (name, check)


# What each attack must leave visible: a fault id, or "error:<check>" for a check that could not judge.
EVIDENCE = {
    # A handshake that never completes is a fault, or (when the machine is slow) a reachability check timing out.
    "h-silent": {"tls_handshake_failed", "error:reachability"},
    "h-stall-mid-handshake": {"tls_handshake_failed", "error:reachability"},
    "h-trickle-handshake": {"tls_handshake_failed", "error:reachability"},
    # 200 KB of certificate: OpenSSL clients refuse it, as the exporter does.
    "h-10000-sans": {"tls_handshake_failed", "error:reachability"},
    "h-trickle-http": {"error:http"}, "h-1mb-header": {"error:http"},
    # Its AIA URL redirects to itself: the chain cannot be completed (or, on a slow machine, the check times out).
    "h-redirect-loop": {"cert_untrusted", "error:chain"},
    "h-200-cert-chain": {"chain_extra_certs"},
    "h-markup-strings": {"error:revocation"},  # OCSP and CRL URLs with newlines and escapes cannot be fetched
    # AIA that is huge, slow or hangs: the fetch is cut and the chain untrusted, or (when the machine is slow)
    # the chain check times out: either way not healthy, and never a stall.
    "h-aia-huge": {"cert_untrusted", "error:chain"}, "h-aia-slow": {"cert_untrusted", "error:chain"},
    "h-aia-hang": {"cert_untrusted", "error:chain"},
    "h-ocsp-hang-crl-huge": {"error:revocation"}, "h-ocsp-slow-crl-bomb": {"error:revocation"},
    "h-dns-250-records": {"tcp_connect_refused"}, "h-dns-cname-loop": {"dns_resolution_failed"},
    "h-dns-servfail": {"dns_resolution_failed"}, "h-dns-timeout": {"dns_resolution_failed"},
    "h-dns-huge-txt": {"dns_validation_record_mismatch", "error:dns_validation"}, "h-file-validation-bomb": {"file_validation_mismatch"},
    # Pages that never end or inflate without end: read up to limits.max_body_bytes, then no verdict.
    "h-endless-body": {"error:mixed_content"}, "h-gzip-bomb": {"error:mixed_content"},
}

def _evidence(summary: dict[str, Any]) -> set[str]:
    faults = {f["id"] for f in summary["faults"]}
    return faults | {f"error:{name}" for name, check in summary["checks"].items() if check["status"] != "ok"}


def test_no_hostile_target_is_shown_healthy(hostile_run: Record) -> None:
    by_name = {s["name"]: s for s in hostile_run.summaries}
    assert set(hostile_run.hostile) == set(EVIDENCE)
    missing = {name: sorted(_evidence(by_name[name])) for name, wanted in EVIDENCE.items()
               if not wanted & _evidence(by_name[name])}
    assert not missing, missing
    for name in EVIDENCE:  # the same on /metrics: a fault, or a check that could not judge
        lines = [x for x in hostile_run.metrics.splitlines() if f'target="{name}"' in x]
        assert any(x.startswith("sslfault_fault{") and "domain_review" not in x for x in lines) or any(
            x.startswith("sslfault_check_success{") and x.endswith(" 0.0") for x in lines), name


def test_dns_server_outage_gives_errors_then_recovers(hostile_run: Record) -> None:
    seen = dict(hostile_run.flap)
    lines = {k: [x for x in v.splitlines() if 'target="flap"' in x and "check" in x]
             for k, v in hostile_run.outputs.items() if k.startswith("metrics at flap")}
    assert seen == {"flap up": False, "flap down": True, "flap back": False}, (seen, lines)


def test_restart_after_sigkill_serves_every_saved_fault_at_once(hostile_run: Record) -> None:
    first = hostile_run.first_scrape
    assert first, "the restarted exporter answered /metrics"
    runs = last_runs(first)
    from_file = {t for t in hostile_run.saved_targets if runs.get(t, 0) < hostile_run.killed_at}
    assert len(from_file) >= 0.8 * len(hostile_run.saved_targets), "the first scrape came from the state file"
    assert hostile_run.saved_targets >= {*hostile_run.healthy, *hostile_run.hostile, "flap"}
    missing = {s for s in hostile_run.saved_series if s[0] in from_file} - fault_series(first)
    assert not missing, missing


def test_corrupted_state_files_never_stop_the_start(hostile_run: Record) -> None:
    assert [(name, up) for name, up, _ in hostile_run.corrupted_starts] == [
        ("truncated", True), ("wrong types", True), ("deep nesting", True)]
    log = hostile_run.outputs["log"]
    assert log.count('msg="state file ignored, starting without saved results"') >= 3


def test_reloads_good_and_broken(hostile_run: Record) -> None:
    kinds = [(kind, status, gauge) for kind, status, _, gauge in hostile_run.reloads]
    assert [k for k, _, _ in kinds] == ["good", "good", "broken", "good", "good"], kinds
    for kind, status, body, gauge in hostile_run.reloads:
        if kind == "good":
            assert status == 200 and gauge.endswith(" 1.0"), (status, body, gauge)
        else:
            assert status == 500 and "is empty" in body and "Traceback" not in body and gauge.endswith(" 0.0"), body


def test_probe_ssrf_corpus_never_connects_inside(hostile_run: Record) -> None:
    assert hostile_run.probes and all(peers == [] for peers in hostile_run.probe_peers.values()), \
        hostile_run.probe_peers
    bad = [(q[:80], status) for q, status, _ in hostile_run.probes if status not in (200, 400, 403, 414, 431)]
    assert not bad, bad
    slow = [(q[:80], seconds) for q, _, seconds in hostile_run.probes if seconds > 15]
    assert not slow, slow
    refused = {q.split("&")[0] for q, status, _ in hostile_run.probes if status == 403}
    for must in ("target=127.0.0.1", "target=%5B%3A%3A1%5D", "target=loopback.hostile.example",
                 "target=mapped.hostile.example", "target=mixed.hostile.example"):
        assert any(r.startswith(must) for r in refused), must


def test_path_traversal_reveals_nothing(hostile_run: Record) -> None:
    for path, status, body in hostile_run.traversal:
        assert status in (400, 404), (path, status)
        assert "root:" not in body and "import " not in body and "BEGIN" not in body, path


def test_wrong_and_missing_credentials_are_refused_everywhere(hostile_run: Record) -> None:
    # 429: refused before bcrypt while the wrong-password flood (run at the same time) fills the queue.
    allowed = {"oversized": {400, 431}, "missing": {401}}
    # Liveness and readiness are open by design (container health checks cannot send credentials).
    open_paths = {"/-/healthy", "/-/ready"}
    wrong = [(m, p, c, s) for m, p, c, s in hostile_run.credentials
             if s not in ({200, 503, 400} if p in open_paths else allowed.get(c, {401, 429}))]
    assert not wrong, wrong
    assert hostile_run.flood and set(hostile_run.flood) <= {401, 429}, sorted(set(hostile_run.flood))


def test_hostile_certificate_strings_are_escaped_and_round_trip(hostile_run: Record) -> None:
    name = "h-markup-strings"
    for key in ("overview", f"page {name}"):
        page = hostile_run.outputs[key]
        assert "<script>alert(1)</script>" not in page and "\x1b" not in page and "<img src=x" not in page, key
    metrics, detail = hostile_run.markup_seen
    subjects = [s.labels["subject"] for family in text_string_to_metric_families(metrics)
                for s in family.samples if s.name == "sslfault_cert_info" and s.labels.get("target") == name]
    shown = [a["leaf"]["subject"] for a in detail["results"]["tls"]["result"]["addresses"]]
    assert subjects and subjects == shown, (subjects, shown)  # /metrics and the JSON view agree, byte for byte
    assert "\x1b[31m\nts=0" in subjects[0] and "\u2028" in subjects[0] and "alert(1)" in subjects[0]


def test_logs_stay_one_line_per_event(hostile_run: Record) -> None:
    events = parse(hostile_run.outputs["log"])  # every line is a whole logfmt event
    assert len(events) > 100
    assert not any(e["ts"].startswith("2020-01-01") for e in events), "a certificate forged a log line"


def test_no_secret_in_any_output(hostile_run: Record) -> None:
    assert hostile_run.secrets and all(len(s) > 12 for s in hostile_run.secrets)
    leaks = [(where, secret[:8]) for where, text in hostile_run.outputs.items() for secret in hostile_run.secrets
             if secret in text]
    assert not leaks, leaks
