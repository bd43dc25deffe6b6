"""Three shards of one discovered fleet behind a real Prometheus, and an HA pair deduplicated by Alertmanager.

One fleet: a file_sd file (refused loopback addresses with per-target settings in labels, the lab's
healthy sites) plus an HTTP SD server. Three `python -m exporter serve` processes split it with
--shard.count 3 (shard 2 takes its index from HOSTNAME, as in a StatefulSet). Two Debian
Prometheus servers (an HA pair: external labels differ only by `replica`) scrape them every
second with the shipped alerts (`for:` 0s) and send to one Alertmanager. The tests check that
every target appears exactly once across the shards, on the shard rendezvous hashing names, that
the overview dashboard's totals count the fleet right, that a changed fleet is re-split live,
and that a second replica of one shard (same flags) doubles the series but neither the alerts
nor the dashboards' totals, with Alertmanager holding one alert per fault from both servers; and that
one replica of the pair down only warns while the last replica of a shard down pages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.discovery.sharding import owner
from sslfault_lab.lab import Lab
from tests.support.processes import free_port, http_get, stop_processes, wait_for
from tools import dashboards

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = Path("/usr/bin/prometheus")
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
SHARDS = 3

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (os.access(PROMETHEUS, os.X_OK) and os.access(ALERTMANAGER, os.X_OK)),
                       reason="needs Debian's prometheus and prometheus-alertmanager (scripts/install-system-deps.sh)"),
]


class SdServer:
    """Prometheus' HTTP SD on loopback: the groups it serves can change while the test runs."""

    def __init__(self) -> None:
        self.groups: list[dict[str, Any]] = []
        sd = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(sd.groups).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # an exporter that stopped mid-answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/targets"
        threading.Thread(target=self.server.serve_forever, name="http-sd", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Cluster:
    def __init__(self, tmp: Path, lab: Lab) -> None:
        self.tmp, self.lab = tmp, lab
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.exporters: dict[str, tuple[str, str, str]] = {}  # process name -> (address, shard, replica)
        self.sd = SdServer()
        self.closed_port = free_port("0.0.0.0")  # nothing listens here on any loopback address
        self.fleet_file = tmp / "sd" / "fleet.yml"
        self.fleet_file.parent.mkdir()
        self.fleet_names: set[str] = set()
        self.prometheus_url = self.prometheus_b_url = self.alertmanager_url = ""

    # -- the fleet ---------------------------------------------------------------------------------

    def refused(self, net: str, count: int) -> list[str]:
        return [f"127.{net}.0.{i}:{self.closed_port}" for i in range(1, count + 1)]

    def write_fleet(self, refused: list[str], http_refused: list[str]) -> set[str]:
        """The file_sd file and the HTTP SD answer; returns every target name of the fleet."""
        healthy = [self.lab.scenarios[name] for name in ("ok", "ok-rsa")]
        groups: list[dict[str, Any]] = [
            {"targets": refused, "labels": {"team": "edge", "__param_checks": "reachability"}},
            *({"targets": [f"{s.host}:{s.port}"], "labels": {"name": s.name}} for s in healthy),
        ]
        tmp = self.fleet_file.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(groups))
        os.replace(tmp, self.fleet_file)
        self.sd.groups = [{"targets": http_refused, "labels": {"checks": "reachability"}}]
        return {*refused, *http_refused, "ok", "ok-rsa"}

    # -- processes ---------------------------------------------------------------------------------

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = open(self.tmp / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (tail)\n{p.read_text(errors='replace')[-1500:]}" for p in self.tmp.glob("*.log"))

    def start_exporter(self, shard: int, replica: str, from_hostname: bool = False) -> None:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        index = ["--shard.index", str(shard)]
        if from_hostname:
            env["HOSTNAME"], index = f"sslfault-{shard}", ["--shard.index-from-hostname"]
        name = f"exporter-{shard}{replica}"
        self.spawn(name, sys.executable, "-m", "exporter", "serve", "--config.file", str(self.tmp / "sslfault.yml"),
                   "--web.listen-address", f"127.0.0.1:{port}", "--shard.count", str(SHARDS), *index,
                   "--log.level", "warning", env=env)
        self.exporters[name] = (f"127.0.0.1:{port}", str(shard), replica)
        # Prometheus' own file_sd: the exporters it scrapes, each with its shard (instance: its address).
        (self.tmp / "exporters.json").write_text(json.dumps(
            [{"targets": [address], "labels": {"shard": s}} for address, s, _ in self.exporters.values()]))

    def start(self) -> None:
        (self.tmp / "sslfault.yml").write_text(yaml.safe_dump({
            "defaults": {"interval": "3s", "timeout": "2s", "jitter": "500ms", "checks": ["dns", "reachability", "tls", "chain"]},
            "resolver": {"nameservers": [self.lab.nameserver], "timeout": "2s"},
            "trust": {"use_system": False, "ca_files": [self.lab.root_ca_file]},
            "discovery": {"file_sd": [{"files": [f"{self.fleet_file.parent}/*.yml"], "refresh_interval": "200ms"}],
                          "http_sd": [{"url": self.sd.url, "refresh_interval": "500ms", "allow_private_addresses": True}]},
        }))
        am_port, prom_port, prom_b_port = free_port(), free_port(), free_port()
        self.spawn("alertmanager", str(ALERTMANAGER), f"--config.file={self.write_am_config()}",
                   f"--storage.path={self.tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                   "--cluster.listen-address=", "--log.level=warn")
        self.alertmanager_url = f"http://127.0.0.1:{am_port}"
        rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text(encoding="utf-8"))
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule.pop("for", None)
        (self.tmp / "alerts.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
        # Two servers as deploy/prometheus/prometheus-sharded.yml sets them up, with the exporters from
        # a file instead of DNS (each with the `shard` label the relabelling gives): external labels
        # that differ only by `replica`, which the shipped alert_relabel_configs drop.
        shipped = yaml.safe_load((ROOT / "deploy/prometheus/prometheus-sharded.yml").read_text(encoding="utf-8"))
        for replica in ("A", "B"):
            (self.tmp / f"prometheus-{replica}.yml").write_text(yaml.safe_dump({
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s",
                           "external_labels": {**shipped["global"]["external_labels"], "replica": replica}},
                "rule_files": ["alerts.yml"],
                "alerting": {"alert_relabel_configs": shipped["alerting"]["alert_relabel_configs"],
                             "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                "scrape_configs": [{
                    "job_name": shipped["scrape_configs"][0]["job_name"],
                    "file_sd_configs": [{"files": [str(self.tmp / "exporters.json")], "refresh_interval": "1s"}],
                }],
            }))
        for shard in range(SHARDS):
            self.start_exporter(shard, "a", from_hostname=shard == 2)
        for replica, port in (("A", prom_port), ("B", prom_b_port)):
            self.spawn(f"prometheus-{replica}", str(PROMETHEUS), f"--config.file={self.tmp / f'prometheus-{replica}.yml'}",
                       f"--storage.tsdb.path={self.tmp / f'prom-data-{replica}'}",
                       f"--web.listen-address=127.0.0.1:{port}", "--rules.alert.resend-delay=1s", "--log.level=warn")
        self.prometheus_url = f"http://127.0.0.1:{prom_port}"
        self.prometheus_b_url = f"http://127.0.0.1:{prom_b_port}"

    def write_am_config(self) -> Path:
        path = self.tmp / "alertmanager.yml"
        path.write_text(yaml.safe_dump({"route": {"receiver": "null", "group_wait": "1s"}, "receivers": [{"name": "null"}]}))
        return path

    def wait_ready(self, name: str, url: str, timeout: float = 30) -> None:
        def ready() -> bool:
            assert self.procs[name].poll() is None, f"{name} exited early\n{self.logs()}"
            return http_get(url, timeout=2)[0] == 200

        wait_for(ready, timeout, f"{name} at {url}")

    def stop(self) -> None:
        stop_processes(self.procs.values())
        self.sd.close()

    def query(self, expr: str, server: str = "") -> list[dict[str, Any]]:
        url = server or self.prometheus_url
        status, text = http_get(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        assert status == 200, f"{expr}: {text}"
        return json.loads(text)["data"]["result"]

    def scalar(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else float("nan")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, lab: Lab) -> Iterator[Cluster]:
    started = time.monotonic()
    cluster = Cluster(tmp_path_factory.mktemp("sharding-e2e"), lab)
    try:
        cluster.fleet_names = cluster.write_fleet(cluster.refused("77", 45), cluster.refused("78", 15))
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        print(f"\nsharding e2e: cluster ran {time.monotonic() - started:.1f}s")


def per_target(cluster: Cluster, expr: str) -> dict[str, list[dict[str, str]]]:
    """target -> the label sets of its series."""
    out: dict[str, list[dict[str, str]]] = {}
    for series in cluster.query(expr):
        out.setdefault(series["metric"]["target"], []).append(series["metric"])
    return out


def critical_once(cluster: Cluster, names: set[str]) -> bool:
    """Every target exactly once, with its verdict: critical for the refused ones, none for ok, ok-rsa."""
    series = cluster.query('sslfault_faults_active{severity="critical"}')
    counts = Counter(r["metric"]["target"] for r in series)
    critical = {r["metric"]["target"] for r in series if float(r["value"][1]) > 0}
    return set(counts) == names and set(counts.values()) == {1} and critical == names - {"ok", "ok-rsa"}


def overview(cluster: Cluster, panel: str) -> float:
    """A stat of the overview dashboard, as Grafana would run it with every target selected."""
    query = next(q for q in dashboards.queries(dashboards.load_all()["overview.json"]) if q.panel == panel)
    return cluster.scalar(dashboards.substitute(query.expr, {"job": ".*", "instance": ".*", "target": ".*"}))


def test_every_target_appears_exactly_once_across_the_shards(cluster: Cluster) -> None:
    names = cluster.fleet_names
    for name, (address, _, _) in cluster.exporters.items():
        cluster.wait_ready(name, f"http://{address}/-/ready")
    cluster.wait_ready("prometheus-A", f"{cluster.prometheus_url}/-/ready")
    cluster.wait_ready("prometheus-B", f"{cluster.prometheus_b_url}/-/ready")
    wait_for(lambda: critical_once(cluster, names), 30, "one series per fleet target in Prometheus")
    assert len(names) == 62
    series = per_target(cluster, "sslfault_faults_active{severity=\"critical\"}")
    for name, labels in series.items():
        assert [m["shard"] for m in labels] == [str(owner(name, SHARDS))], name
    shares = {r["metric"]["shard"]: float(r["value"][1]) for r in cluster.query("sslfault_shard_targets")}
    print(f"\nshares of {len(names)} targets over {SHARDS} shards: {dict(sorted(shares.items()))}")
    assert sum(shares.values()) == len(names) and min(shares.values()) > 0
    info = cluster.query("sslfault_shard_info")
    assert sorted((m["metric"]["shard"], m["metric"]["index"], m["metric"]["count"]) for m in info) == [
        (str(i), str(i), str(SHARDS)) for i in range(SHARDS)], "shard 2 took its index from HOSTNAME"
    assert {float(r["value"][1]) for r in cluster.query("sslfault_fleet_targets")} == {float(len(names))}
    discovered = {(r["metric"]["shard"], r["metric"]["mechanism"]): float(r["value"][1])
                  for r in cluster.query("sslfault_discovery_targets")}
    assert all(discovered[(str(i), "file_sd")] == 47 and discovered[(str(i), "http_sd")] == 15 for i in range(SHARDS))
    status, text = http_get(f"http://{cluster.exporters['exporter-2a'][0]}/api/discovery")
    report = json.loads(text)
    assert status == 200 and report["shard"] == {"index": 2, "count": SHARDS} and report["fleet_targets"] == 62
    assert [(s["mechanism"], s["source"], s["targets"], s["error"]) for s in report["sources"]] == [
        ("file_sd", str(cluster.fleet_file), 47, None), ("http_sd", cluster.sd.url, 15, None)]


def test_the_dashboard_totals_count_the_fleet(cluster: Cluster) -> None:
    refused = 60  # every refused address is one critical fault (tcp_connect_refused); ok and ok-rsa are clean
    assert overview(cluster, "Targets") == 62
    assert overview(cluster, "Targets with a critical fault") == refused
    assert overview(cluster, "Critical faults") == refused
    assert overview(cluster, "Warning faults") == 0
    assert cluster.scalar('count(sslfault_fault{fault="tcp_connect_refused"})') == refused


def test_a_changed_fleet_is_split_again_live(cluster: Cluster) -> None:
    # 15 file targets go, 20 arrive; the HTTP SD answer changes too.
    names = cluster.write_fleet(cluster.refused("77", 30) + cluster.refused("79", 20), cluster.refused("78", 10))
    wait_for(lambda: critical_once(cluster, names), 30, "the changed fleet, once per target")
    assert overview(cluster, "Targets") == len(names) == 62
    cluster.fleet_names = names


def test_two_replicas_of_a_shard_alert_once(cluster: Cluster) -> None:
    names = cluster.fleet_names
    shard1 = {n for n in names if owner(n, SHARDS) == 1 and n not in ("ok", "ok-rsa")}
    cluster.start_exporter(1, "b")  # the same flags as replica a of shard 1
    cluster.wait_ready("exporter-1b", f"http://{cluster.exporters['exporter-1b'][0]}/-/ready")

    def doubled() -> bool:
        series = per_target(cluster, 'sslfault_fault{fault="tcp_connect_refused"}')
        return all(len(series.get(n, [])) == 2 for n in shard1)

    wait_for(doubled, 30, "both replicas' series in Prometheus")
    for server in (cluster.prometheus_url, cluster.prometheus_b_url):  # each alerts once per fault
        firing = Counter(r["metric"]["target"] for r in cluster.query(
            'ALERTS{alertname="SSLHttpsPortUnreachable", alertstate="firing"}', server))
        assert all(firing[n] == 1 for n in shard1), firing

    def in_alertmanager() -> dict[str, list[dict[str, str]]]:
        status, text = http_get(f"{cluster.alertmanager_url}/api/v2/alerts?filter=alertname%3D%22SSLHttpsPortUnreachable%22")
        out: dict[str, list[dict[str, str]]] = {}
        for alert in json.loads(text) if status == 200 else []:
            out.setdefault(alert["labels"]["target"], []).append(alert["labels"])
        return out

    received = wait_for(lambda: (a := in_alertmanager()) and set(a) >= shard1 and a, 30, "alerts in Alertmanager")
    for name in shard1:  # sent by both servers, held once
        assert len(received[name]) == 1 and "replica" not in received[name][0], received[name]
        assert received[name][0]["shard"] == "1" and "instance" not in received[name][0]
    # The dashboards aggregate the replicas away: the totals do not change.
    assert overview(cluster, "Targets") == 62
    assert overview(cluster, "Critical faults") == overview(cluster, "Targets with a critical fault") == 60


def test_a_dead_shard_pages_and_one_of_a_pair_warns(cluster: Cluster) -> None:
    """Each shard watches its own third of the fleet: a replica stands in only for one of the same shard. Shard 1
    has a pair (a, b), shard 2 one replica. Runs last: it stops exporters."""

    def firing(alert: str) -> list[dict[str, str]]:
        return [r["metric"] for r in cluster.query(f'ALERTS{{alertname="{alert}", alertstate="firing"}}')]

    def down() -> dict[str, tuple[str, str]]:  # instance -> (shard, severity)
        return {m["instance"]: (m["shard"], m["severity"]) for m in firing("SSLFaultExporterDown")}

    assert down() == {}
    assert firing("SSLFaultExporterShardsDisagree") == [], "the pair of shard 1 must count once"
    one_of_pair, only = cluster.exporters["exporter-1b"][0], cluster.exporters["exporter-2a"][0]
    for name in ("exporter-1b", "exporter-2a"):
        cluster.procs[name].terminate()
        cluster.procs[name].wait(10)
        expected = {one_of_pair: ("1", "warning")} | ({only: ("2", "critical")} if name == "exporter-2a" else {})
        wait_for(lambda: down() == expected, 20, f"SSLFaultExporterDown {expected}")  # noqa: B023 - called at once
    # Shard 2's third of the fleet is unwatched now: the shares fall short of the fleet as well.
    wait_for(lambda: firing("SSLFaultExporterShardsDisagree"), 20, "SSLFaultExporterShardsDisagree")
