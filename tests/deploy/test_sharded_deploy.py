"""The sharded deployment: StatefulSet, headless Service, ConfigMaps, PodMonitor and the Prometheus
scrape config agree with each other and with the exporter's flags and config."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from exporter.cli import build_parser
from exporter.config import Config
from exporter.discovery.file_sd import read_file
from exporter.http.healthcheck import DEFAULT_PORT
from tests.support.tools import tool

ROOT = Path(__file__).resolve().parents[2]
SHARDED = ROOT / "deploy/kubernetes/sharded"
PROMETHEUS = ROOT / "deploy/prometheus/prometheus-sharded.yml"


def run_command(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def docs() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for file in sorted(SHARDED.glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text(encoding="utf-8")):
            if doc.get("kind") != "Kustomization":
                out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def test_kubernetes_validate() -> None:
    result = run_command(tool("kubernetes-validate"), "--strict", "-k", "1.28", "configmap.yaml", "service.yaml",
                         "statefulset.yaml", cwd=SHARDED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifests_fit_together(tmp_path: Path) -> None:
    kustomization = yaml.safe_load((SHARDED / "kustomization.yaml").read_text(encoding="utf-8"))
    assert set(kustomization["resources"]) == {p.name for p in SHARDED.glob("*.yaml")} - {"kustomization.yaml"}
    found = docs()
    sts = found[("StatefulSet", "sslfault-shard")]
    service = found[("Service", "sslfault-shard")]
    pod = sts["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = container["args"]
    assert f"--shard.count={sts['spec']['replicas']}" in args and "--shard.index-from-hostname" in args
    parsed = build_parser()[0].parse_args([a for a in args])  # the flags exist, spelled as the CLI has them
    assert parsed.shard_count == sts["spec"]["replicas"] and parsed.shard_from_hostname
    assert sts["spec"]["serviceName"] == service["metadata"]["name"] and service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert sts["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    port = container["ports"][0]["name"]
    assert service["spec"]["ports"][0]["name"] == port == service["spec"]["ports"][0]["targetPort"]
    assert container["ports"][0]["containerPort"] == DEFAULT_PORT and f"--web.listen-address=:{DEFAULT_PORT}" in args
    assert pod["spec"]["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    # Each replica keeps its own state file on its own claim, writable by the exporter's user.
    state = next(a.split("=", 1)[1] for a in args if a.startswith("--storage.state-file="))
    assert Path(state).parent == Path(mounts["state"]) and "--config.auto-reload-interval=30s" in args
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["state"]
    assert pod["spec"]["securityContext"]["fsGroup"] == pod["spec"]["securityContext"]["runAsUser"]
    maps = {v["name"]: v["configMap"]["name"] for v in pod["spec"]["volumes"] if "configMap" in v}
    config_map = found[("ConfigMap", maps["config"])]
    config_path = next(a.split("=", 1)[1] for a in args if a.startswith("--config.file="))
    assert Path(config_path).parent == Path(mounts["config"]) and Path(config_path).name in config_map["data"]
    config = Config.model_validate(yaml.safe_load(config_map["data"][Path(config_path).name]))
    (pattern,) = config.discovery.file_sd[0].files
    assert Path(pattern).parent == Path(mounts["targets"])
    fleet = found[("ConfigMap", maps["targets"])]["data"]
    for name, text in fleet.items():
        assert Path(name).match(Path(pattern).name)
        (tmp_path / name).write_text(text)
        assert read_file(str(tmp_path / name)), f"{name}: no targets"

    monitor = found[("PodMonitor", "sslfault-shard")]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == port


def test_prometheus_config_is_valid() -> None:
    result = run_command(tool("promtool"), "check", "config", str(PROMETHEUS))
    assert result.returncode == 0, result.stdout + result.stderr


def relabel(rules: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str]:
    """Prometheus' `replace` relabelling (the only action these rules use); its regexes are anchored."""
    out = dict(labels)
    for rule in rules:
        assert rule.get("action", "replace") == "replace"
        value = ";".join(out.get(s, "") for s in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if match:
            out[rule["target_label"]] = match.expand(re.sub(r"\$(\d+)", r"\\g<\1>", rule.get("replacement", "$1")))
    return out


def test_scrape_config_labels_shard_and_instance_from_the_pods() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "sslfault", "deploy/alerting.yaml selects job sslfault"
    service = docs()[("Service", "sslfault-shard")]
    namespace = yaml.safe_load((SHARDED / "kustomization.yaml").read_text(encoding="utf-8"))["namespace"]
    srv = f"_{service['spec']['ports'][0]['name']}._tcp.{service['metadata']['name']}.{namespace}.svc.cluster.local"
    assert job["dns_sd_configs"][0]["names"] == [srv] and job["dns_sd_configs"][0]["type"] == "SRV"
    for target, shard, pod in (("sslfault-shard-2.sslfault-shard.monitoring.svc.cluster.local.", "2", "sslfault-shard-2"),
                               ("sslfault-shard-b-10.sslfault-shard.monitoring.svc.cluster.local.", "10",
                                "sslfault-shard-b-10")):
        labels = relabel(job["relabel_configs"], {"__meta_dns_srv_record_target": target})
        assert (labels["shard"], labels["instance"]) == (shard, pod)
    # Replicas differ only in labels the alerts and dashboards aggregate away.
    alerting = yaml.safe_load((ROOT / "deploy/alerting.yaml").read_text(encoding="utf-8"))
    assert "instance" in alerting["replica_labels"] and "shard" not in alerting["replica_labels"]
    # ... and `shard` tells the shards apart: SSLFaultExporterDown pages when no replica of a shard is up.
    assert alerting["shard_labels"] == ["shard"]
    # A Prometheus HA pair: the one external label that differs is dropped from alerts.
    assert config["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
    assert list(config["global"]["external_labels"]) == ["replica"]
    monitor = docs()[("PodMonitor", "sslfault-shard")]
    for pod, shard in (("sslfault-shard-0", "0"), ("sslfault-shard-b-4", "4")):
        rules = [{"source_labels": r.get("sourceLabels", []), "target_label": r["targetLabel"],
                  **({"regex": r["regex"]} if "regex" in r else {}),
                  **({"replacement": r["replacement"]} if "replacement" in r else {})}
                 for r in monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]]
        labels = relabel(rules, {"__meta_kubernetes_pod_name": pod})
        assert (labels["job"], labels["shard"], labels["instance"]) == ("sslfault", shard, pod)
