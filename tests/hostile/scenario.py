"""One run of the real daemon against the hostile environment, recording what the tests assert.

Timeline (seconds from the exporter's start): warm-up; then, with /metrics scraped five times a second
and RSS sampled, the /probe SSRF corpus, path traversal, every endpoint with wrong and missing
credentials, a wrong-password flood, reloads every 8 s (one of them broken), the hostile DNS server
stopped and restarted; then SIGKILL and a restart from the state file; then starts from corrupted
state files. Each process is stopped with SIGTERM and must exit 0."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab
from tests.hostile import attacks
from tests.hostile.harness import (
    PASSWORD,
    USER,
    RssSampler,
    Scraper,
    fault_series,
    request,
)
from tests.support.hostile_lab import ZONE, HostileLab, LoopThread
from tests.support.processes import free_port, start_exporter, stop_process

HEALTHY = ("ok", "ok-rsa", "leaf-only", "expired", "wrong-host", "self-signed", "wrong-order", "extra-certs",
           "refused", "multi")
HEALTHY_INTERVAL = 3.0
HOSTILE_INTERVAL = 5.0
JITTER = 0.3
PHASE_A = 45.0


@dataclass
class Record:
    workdir: Path
    base: str = ""
    healthy: list[str] = field(default_factory=list)
    hostile: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    scraper: Scraper | None = None
    rss: RssSampler | None = None
    measure_from: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)  # what the exporter said, for the secret scan
    details: dict[str, Any] = field(default_factory=dict)  # /api/targets/<name> at the end of phase A
    summaries: list[dict[str, Any]] = field(default_factory=list)
    metrics: str = ""
    probes: list[tuple[str, int, float]] = field(default_factory=list)
    probe_peers: dict[str, list[str]] = field(default_factory=dict)
    traversal: list[tuple[str, int, str]] = field(default_factory=list)
    credentials: list[tuple[str, str, str, int]] = field(default_factory=list)
    flood: list[int] = field(default_factory=list)
    reloads: list[tuple[str, int, str, str]] = field(default_factory=list)  # (kind, status, body, gauge after)
    flap: list[tuple[str, bool]] = field(default_factory=list)  # (phase, the flap target's DNS shows an error)
    saved_series: set[tuple[str, str]] = field(default_factory=set)
    saved_targets: set[str] = field(default_factory=set)
    killed_at: float = 0.0
    first_scrape: str = ""
    corrupted_starts: list[tuple[str, bool, int]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)  # (unix seconds, what the timeline did)
    markup_seen: tuple[str, dict[str, Any]] = ("", {})  # /metrics and the JSON view once its TLS check passed
    figures: dict[str, Any] = field(default_factory=dict)


def exporter_config(lab: Lab, hostile: HostileLab, resolver_timeout: str = "2s") -> dict[str, Any]:
    base = lab_config_dict(lab, interval=f"{HOSTILE_INTERVAL:g}s", timeout="3s")
    healthy = [dict(t, interval=f"{HEALTHY_INTERVAL:g}s") for t in base["targets"] if t["name"] in HEALTHY]
    return {
        "defaults": {"interval": f"{HOSTILE_INTERVAL:g}s", "timeout": "3s", "jitter": f"{JITTER:g}s"},
        "resolver": {"nameservers": [lab.nameserver, hostile.nameserver()], "timeout": resolver_timeout,
                     "authoritative_port": lab.dns_port},
        "trust": {"use_system": False, "ca_files": [lab.root_ca_file, str(hostile.workdir / "hostile-root.pem")]},
        "limits": {"max_concurrent_probes": 32},
        "probe": {"allow_hosts": ["*"], "max_concurrent": 4},
        "targets": healthy + [dict(hostile.flap, interval=f"{HEALTHY_INTERVAL:g}s")] + hostile.targets,
        "cert_files": hostile.cert_files,
    }


def run(lab: Lab, workdir: Path) -> Record:
    servers = LoopThread()
    hostile = servers.call(lambda: HostileLab(lab, workdir).start())
    record = Record(workdir)
    try:
        _run(lab, hostile, servers, record)
    finally:
        servers.call(hostile.stop)
        servers.stop()
    return record


def _spawn(record: Record, config: dict[str, Any], port: int, *extra: str) -> subprocess.Popen[bytes]:
    _keep_log(record)  # each process writes sslfault.log afresh
    proc, base = start_exporter(config, record.workdir, port=port, extra_args=(
        "--web.config.file", str(record.workdir / "web.yml"), "--storage.state-file", str(record.workdir / "state.json"),
        "--storage.state-save-interval", "3s", *extra))
    record.base = base
    return proc


def _keep_log(record: Record) -> None:
    log = record.workdir / "sslfault.log"
    if log.exists():
        record.outputs["log"] = record.outputs.get("log", "") + log.read_text(errors="replace")
        log.unlink()


def _wait_up(record: Record, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            record.unexpected_exits.append(f"{what}: exited {proc.returncode} while starting")
            return ""
        status, text, _ = request(f"{record.base}/metrics", timeout=5)
        if status == 200:
            return text
        time.sleep(0.02)
    raise AssertionError(f"{what}: /metrics never answered")


def _terminate(record: Record, proc: subprocess.Popen[bytes], what: str) -> None:
    if proc.poll() is not None:
        record.unexpected_exits.append(f"{what}: exited {proc.returncode} before SIGTERM")
        return
    proc.send_signal(signal.SIGTERM)
    try:
        record.exit_codes.append(proc.wait(timeout=20))
    finally:
        stop_process(proc)


def _run(lab: Lab, hostile: HostileLab, servers: LoopThread, record: Record) -> None:
    workdir = record.workdir
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    (workdir / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {USER: hashed}}))
    record.secrets = [*hostile.secrets, hashed, PASSWORD]
    config = exporter_config(lab, hostile)
    record.healthy = list(HEALTHY)  # "flap" is not: its DNS server is stopped for a while
    record.hostile = [t["name"] for t in hostile.targets]
    port = free_port()
    proc = _spawn(record, config, port)
    try:
        _wait_up(record, proc, "first start")
        time.sleep(HOSTILE_INTERVAL + 1)  # every target has run once
        record.scraper = Scraper(record.base).start()
        record.rss = RssSampler(proc.pid).start()
        record.measure_from = time.time()
        _phase_a(lab, hostile, servers, record, proc, config)
        record.scraper.stop()
        record.rss.stop()
        record.metrics = request(f"{record.base}/metrics")[1]
        _collect_views(record)
        # SIGKILL once a save has followed the latest runs, then a restart must serve the saved faults at once.
        time.sleep(3.5)
        saved = json.loads((workdir / "state.json").read_text())
        record.saved_targets = {t["target"]["name"] for t in saved["targets"]}
        record.saved_series = {(t["target"]["name"], f["fault"]) for t in saved["targets"]
                               for r in t["results"].values() for f in r["outcome"]["findings"]}
        proc.kill()
        proc.wait(10)
        record.killed_at = time.time()
    finally:
        stop_process(proc)
    proc = _spawn(record, config, port)
    try:
        record.first_scrape = _wait_up(record, proc, "restart after SIGKILL")
        time.sleep(3)
        record.outputs["metrics after restart"] = request(f"{record.base}/metrics")[1]
    finally:
        _terminate(record, proc, "restart after SIGKILL")
    _corrupted_starts(record, config, port)
    _keep_log(record)
    record.outputs["state file"] = (workdir / "state.json").read_text(errors="replace")


def _phase_a(lab: Lab, hostile: HostileLab, servers: LoopThread, record: Record, proc: subprocess.Popen[bytes],
             config: dict[str, Any]) -> None:
    start = time.monotonic()
    # Attacks on the exporter itself run in the background, so the timeline below keeps its times.
    background = ThreadPoolExecutor(4)
    events = [(1.0, "attacks"), (8.0, "reload"), (10.0, "flap up"), (11.0, "dns stop"), (16.0, "reload"),
              (20.0, "reload broken"), (23.0, "flap down"), (24.0, "dns start"), (28.0, "reload"), (35.0, "flap back"),
              (38.0, "reload")]
    toggle = False
    attacks_done: list[Any] = []
    for at, event in events:
        time.sleep(max(0.0, start + at - time.monotonic()))
        if proc.poll() is not None:
            record.unexpected_exits.append(f"exited {proc.returncode} during phase A ({event})")
            return
        record.events.append((time.time(), event))
        if event == "attacks":
            attacks_done = [background.submit(_probe_corpus, record), background.submit(_traversal, record),
                            background.submit(_credentials, record), background.submit(_flood, record)]
        elif event.startswith("flap"):
            text = request(f"{record.base}/metrics")[1]
            record.outputs[f"metrics at {event}"] = text
            # A resolution that fails shows as the fault, or (when it outlasts the check) as a check in error.
            record.flap.append((event, ("flap", "dns_resolution_failed") in fault_series(text)
                                or 'sslfault_check_success{check="dns",target="flap"} 0.0' in text))
        elif event == "dns stop":
            servers.call(hostile.stop_dns)
        elif event == "dns start":
            servers.call(hostile.start_dns)
        elif event == "reload":
            toggle = not toggle  # a resolver change rebuilds the shared resources under runs in flight
            new = exporter_config(lab, hostile, resolver_timeout="2.5s" if toggle else "2s")
            (record.workdir / "sslfault.yaml").write_text(yaml.safe_dump(new))
            _reload(record, "good")
        elif event == "reload broken":
            (record.workdir / "empty-ca.pem").write_bytes(b"")
            broken = dict(config, trust={"use_system": False, "ca_files": [str(record.workdir / "empty-ca.pem")]})
            (record.workdir / "sslfault.yaml").write_text(yaml.safe_dump(broken))
            _reload(record, "broken")
    time.sleep(max(0.0, start + PHASE_A - time.monotonic()))
    for done in attacks_done:
        done.result(timeout=60)
    background.shutdown()


def _probe_corpus(record: Record) -> None:
    record.probes, record.probe_peers = attacks.probe_corpus(record.base, ZONE)


def _traversal(record: Record) -> None:
    record.traversal = attacks.traversal(record.base)


def _credentials(record: Record) -> None:
    record.credentials = attacks.credentials(record.base)


def _flood(record: Record) -> None:
    time.sleep(6)
    with ThreadPoolExecutor(30) as pool:
        record.flood = list(pool.map(lambda i: request(f"{record.base}/metrics", auth=_basic(USER, f"wrong{i}"))[0],
                                     range(30)))


def _basic(user: str, password: str) -> str:
    from tests.hostile.harness import auth_header

    return auth_header(user, password)


def _reload(record: Record, kind: str) -> None:
    status, body, _ = request(f"{record.base}/-/reload", method="POST")
    gauge = next((line for line in request(f"{record.base}/metrics")[1].splitlines()
                  if line.startswith("sslfault_config_last_reload_successful ")), "")
    record.reloads.append((kind, status, body, gauge))


def _collect_views(record: Record) -> None:
    status, body, _ = request(f"{record.base}/api/targets")
    assert status == 200, body
    record.outputs["api"] = body
    record.summaries = json.loads(body)["targets"]
    for summary in record.summaries:
        name = summary["name"]
        quoted = urllib_quote(name)
        _, detail, _ = request(f"{record.base}/api/targets/{quoted}")
        record.details[name] = json.loads(detail) if detail.startswith("{") else {}
        record.outputs[f"api {name}"] = detail
        record.outputs[f"page {name}"] = request(f"{record.base}/targets/{quoted}")[1]
    record.outputs["overview"] = request(f"{record.base}/")[1]
    deadline = time.monotonic() + 15  # a slow machine may have timed out its latest handshake: wait for one
    while time.monotonic() < deadline:
        detail = json.loads(request(f"{record.base}/api/targets/h-markup-strings")[1])
        if detail["results"].get("tls", {}).get("status") == "ok":
            record.markup_seen = (request(f"{record.base}/metrics")[1], detail)
            break
        time.sleep(0.5)
    record.outputs["metrics"] = record.metrics


def urllib_quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _corrupted_starts(record: Record, config: dict[str, Any], port: int) -> None:
    state = record.workdir / "state.json"
    good = state.read_bytes()
    for name, content in (("truncated", good[: len(good) // 2]), ("wrong types", b'{"format":2,"targets":7}'),
                          ("deep nesting", b"[" * 100_000)):
        state.write_bytes(content)
        proc = _spawn(record, config, port)
        try:
            up = bool(_wait_up(record, proc, f"start with a {name} state file"))
            record.corrupted_starts.append((name, up, -1))
        finally:
            _terminate(record, proc, f"start with a {name} state file")
