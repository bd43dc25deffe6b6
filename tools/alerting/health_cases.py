"""promtool cases for the exporter's own alerts (tools/alerting/health.py), for tools/gen_alert_tests.py.

The exporter alone down pages, one of an HA pair down warns; with shards, a shard with no replica
up pages while one replica of a pair down warns; an absent job pages; and each warning fires for
what it is about, after its `for:`, and not for the healthy series beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

from tools.alerting.cases import REPLICAS, Case, Expect, minutes, series, single
from tools.alerting.rules import Rule
from tools.alerting.settings import Settings


def health_cases(s: Settings, job: dict[str, str], catalog: Mapping[str, str],
                 by_alert: dict[str, list[Rule]]) -> list[Case]:
    a, b = ({**job, "instance": r} for r in REPLICAS)
    other = {"job": "node", "instance": "node:9100"}
    down = {r.notify: r for r in by_alert["SSLFaultExporterDown"]}
    wait = minutes(down["page"].wait)
    cases = [
        single("SSLFaultExporterDown: the only replica", "SSLFaultExporterDown",
               [series("up", a, f"1 1 0x{wait + 5}"), series("up", other, f"0x{wait + 7}")],
               [(wait + 1, []), (wait + 3, [Expect(down["page"], a)])]),
        single("SSLFaultExporterDown: one of a pair", "SSLFaultExporterDown",
               [series("up", a, f"1 1 0x{wait + 5}"), series("up", b, f"1x{wait + 7}")],
               [(wait + 1, []), (wait + 3, [Expect(down["warn"], a)])]),
        *shard_cases(s, job, down, wait),
    ]
    absent = by_alert["SSLFaultExporterAbsent"][0]
    wait = minutes(absent.wait)
    cases.append(single("SSLFaultExporterAbsent", absent.alert,
                        [series("up", other, f"1x{wait + 3}"), series("up", a, f"1x{wait + 3}")],
                        [(wait + 1, [])]))
    cases.append(single("SSLFaultExporterAbsent: job gone", absent.alert,
                        [series("up", other, f"1x{wait + 3}")], [(wait - 1, []), (wait + 1, [Expect(absent, job)])]))

    def check(target: str, name: str) -> dict[str, str]:
        return {**a, "target": target, "check": name}

    def fault(target: str, fault_id: str) -> dict[str, str]:
        return {**a, "target": target, "fault": fault_id, "severity": catalog.get(fault_id, "critical")}

    erroring = by_alert["SSLFaultExporterCheckErroring"][0]
    wait = minutes(erroring.wait)
    n = wait + 10
    cases.append(single(erroring.alert, erroring.alert, [
        series("sslfault_check_success", check("caa-broken.example.com", "caa"), f"0x{n}"),
        series("sslfault_check_success", check("expired.example.com", "tls"), f"0x{n}"),
        series("sslfault_check_success", check("refused.example.com", "tls"), f"0x{n}"),
        series("sslfault_check_success", check("nxdomain.example.com", "tls"), f"0x{n}"),
        series("sslfault_fault", fault("expired.example.com", "cert_expired"), f"1x{n}"),  # explains nothing
        series("sslfault_fault", fault("refused.example.com", "tcp_connect_refused"), f"1x{n}"),
        series("sslfault_fault", fault("nxdomain.example.com", "dns_resolution_failed"), f"1x{n}"),
    ], [(wait - 1, []), (wait + 1, [Expect(erroring, check("caa-broken.example.com", "caa")),
                                    Expect(erroring, check("expired.example.com", "tls"))])]))
    cases.append(stale_case(s, a, by_alert["SSLFaultExporterResultsStale"][0]))
    reload = by_alert["SSLFaultExporterConfigReloadFailed"][0]
    wait = minutes(reload.wait)
    cases.append(single(reload.alert, reload.alert, [
        series("sslfault_config_last_reload_successful", a, f"1 1 0x{wait + 5}"),
        series("sslfault_config_last_reload_successful", b, f"1x{wait + 7}"),
    ], [(wait + 1, []), (wait + 3, [Expect(reload, a)])]))
    return cases + fleet_cases(s, job, by_alert)


def shard_cases(s: Settings, job: dict[str, str], down: dict[str, Rule], wait: int) -> list[Case]:
    """Three shards, each watching its own third: a shard with no replica up pages although the others are up;
    one replica of a shard's HA pair down only warns."""
    if not s.shard_labels:
        return []
    label = s.shard_labels[0]

    def pod(shard: int, copy: str = "") -> dict[str, str]:
        name = f"sslfault-shard{copy}-{shard}"
        return {**job, "instance": name, label: str(shard)}

    up, dead = f"1x{wait + 7}", f"1 1 0x{wait + 5}"
    return [
        single("SSLFaultExporterDown: a whole shard", "SSLFaultExporterDown",
               [series("up", pod(0), up), series("up", pod(1), dead), series("up", pod(2), up)],
               [(wait + 1, []), (wait + 3, [Expect(down["page"], pod(1))])]),
        single("SSLFaultExporterDown: one of a shard's pair", "SSLFaultExporterDown",
               [series("up", pod(0), up), series("up", pod(1), dead), series("up", pod(1, "-b"), up),
                series("up", pod(2), up)],
               [(wait + 1, []), (wait + 3, [Expect(down["warn"], pod(1))])]),
    ]


def stale_case(s: Settings, a: dict[str, str], stale: Rule) -> Case:
    """Stale after the floor for a 5m target; a watched file re-read hourly only after its own intervals."""
    after, wait = minutes(s.exporter.stale_after), minutes(stale.wait)
    hourly = int(s.exporter.stale_intervals * 60)  # minutes until a 1h-interval file is stale
    n = max(after, hourly) + wait + 5
    stuck, fresh, file = ({**a, "target": t} for t in ("stuck.example.com", "fresh.example.com", "file:/etc/ssl/site.pem"))
    inputs = [series("sslfault_last_run_timestamp_seconds", stuck, f"0x{n}"),
              series("sslfault_last_run_timestamp_seconds", fresh, f"0+60x{n}"),
              series("sslfault_last_run_timestamp_seconds", file, f"0x{n}"),
              series("sslfault_target_interval_seconds", stuck, f"300x{n}"),
              series("sslfault_target_interval_seconds", fresh, f"300x{n}"),
              series("sslfault_target_interval_seconds", file, f"3600x{n}")]
    checks = [(after + wait - 1, []), (after + wait + 2, [Expect(stale, stuck)])]
    if hourly > after:
        checks += [(hourly + wait - 1, [Expect(stale, stuck)]), (hourly + wait + 2, [Expect(stale, stuck), Expect(stale, file)])]
    return single(stale.alert, stale.alert, inputs, checks)


def fleet_cases(s: Settings, job: dict[str, str], by_alert: dict[str, list[Rule]]) -> list[Case]:
    a, b = ({**job, "instance": r} for r in REPLICAS)
    cases = []
    discovery = by_alert["SSLFaultExporterDiscoveryFailing"][0]
    wait = minutes(discovery.wait)
    n = wait + 10
    file_sd, http_sd = {**a, "mechanism": "file_sd"}, {**a, "mechanism": "http_sd"}
    cases.append(single(discovery.alert, discovery.alert, [
        series("sslfault_discovery_sources_failing", file_sd, f"0 0 1x{n}"),
        series("sslfault_discovery_sources_failing", http_sd, f"0x{n}"),
        series("sslfault_discovery_sources_failing", {**b, "mechanism": "file_sd"}, f"0x{n}"),
    ], [(wait + 1, []), (wait + 3, [Expect(discovery, file_sd)])]))

    disagree = by_alert["SSLFaultExporterShardsDisagree"][0]
    wait = minutes(disagree.wait)
    split, n = 10, wait + 20  # shard 1's share shrinks at minute 10: 20 targets fall out of every shard
    label = s.shard_labels[0] if s.shard_labels else "shard"
    inputs = []
    for shard, share in ((0, "20"), (1, f"21x{split - 1} 1"), (2, "20")):
        copies = ("a", "b") if shard == 1 else ("a",)  # an HA pair counts once
        for copy in copies:
            labels = {**job, "instance": f"sslfault-shard-{copy}-{shard}", label: str(shard)}
            inputs.append(series("sslfault_shard_targets", labels, f"{share}x{n}"))
            inputs.append(series("sslfault_fleet_targets", labels, f"61x{n}"))
    cases.append(single(disagree.alert, disagree.alert, inputs,
                        [(split + wait - 1, []), (split + wait + 1, [Expect(disagree, job)])]))

    save = by_alert["SSLFaultExporterStateSaveFailing"][0]
    wait = minutes(save.wait)
    n = wait + 10
    cases.append(single(save.alert, save.alert, [
        series("sslfault_state_file_save_failures_total", a, f"0+1x{n}"),  # every save fails
        series("sslfault_state_file_save_failures_total", b, f"0 0 1x{n}"),  # one failed save, then good ones
    ], [(wait - 1, []), (wait + 2, [Expect(save, a)])]))

    nothing = by_alert["SSLFaultExporterWatchesNothing"][0]
    wait = minutes(nothing.wait)
    n = wait + 10
    c = {**job, "instance": "exporter-c:17753"}
    cases.append(single(nothing.alert, nothing.alert, [
        series("up", a, f"1x{n}"),
        series("sslfault_faults_active", {**a, "target": "www.example.com", "severity": "critical"}, f"0x{n}"),
        series("up", b, f"1x{n}"),  # up, but its configuration, discovery and shard leave it nothing
        series("up", c, f"0x{n}"),  # down: SSLFaultExporterDown says so
    ], [(wait - 1, []), (wait + 1, [Expect(nothing, b)])]))
    return cases
