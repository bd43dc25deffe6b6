"""The exporter's own alerts: down or absent, checks erroring, stale results, reloads, discovery,
shards, the state file, and an exporter that watches nothing.

Built by `tools.alerting.rules.Builder`, whose selector, replica and shard labels they share.
None uses keep_firing_for: they are about the exporter now, not about a fault it saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.alerting.settings import seconds

if TYPE_CHECKING:
    from tools.alerting.rules import Builder, Rule

# Faults that explain a check error on their own: SSLFaultExporterCheckErroring leaves them out.
EXPLAINED_ERRORS = ("dns_resolution_failed", "tcp_connect_refused", "tcp_connect_timeout", "tls_handshake_failed")


def _num(value: float) -> str:
    return f"{value:g}"


def health_rules(b: Builder) -> list[Rule]:
    s, x, up = b.s, b.s.exporter, f"up{b.sel()}"
    # A replica stands in only for another of the same shard; without shards the label is empty.
    group = ", ".join(("job", *s.shard_labels))
    replicas = ", ".join(("job", *s.replica_labels))
    down_notes = {
        "summary": "ssl-fault-exporter {{ $labels.instance }} is down",
        "description": ("Prometheus cannot scrape ssl-fault-exporter on {{ $labels.instance }}, so no certificate "
                        "fault can alert from it. It pages when no other replica of its job and shard is up (a "
                        "shard's part of the fleet is then unwatched). Check the service (systemctl status sslfault, "
                        "kubectl get pods) and its log."),
        "runbook_url": s.runbook("exporter-down"),
    }
    last_run = f"time() - sslfault_last_run_timestamp_seconds{b.sel()}"
    stale = (f"{last_run}\n  > {seconds(x.stale_after)}\nunless\n"
             f"{last_run}\n  <= {_num(x.stale_intervals)} * sslfault_target_interval_seconds{b.sel()}")
    save_window = x.state_save_failing_for
    return [
        # No replica of the shard (of the job, unsharded) is up: part of the fleet is unwatched. One of a pair: a warning.
        b.rule("SSLFaultExporterDown", "health", "page", f"{up} == 0\nunless on ({group})\n{up} == 1", x.down_for,
               down_notes, keep=False),
        b.rule("SSLFaultExporterDown", "health", "warn", f"{up} == 0\nand on ({group})\n{up} == 1", x.down_for,
               down_notes, keep=False),
        b.rule("SSLFaultExporterAbsent", "health", "page", f"absent({up})", x.absent_for, {
            "summary": "ssl-fault-exporter: Prometheus scrapes no exporter for {{ $labels.job }}",
            "description": ("Prometheus has no scrape target for the exporter's job, so no certificate fault can "
                            "alert. Restore the scrape config, ServiceMonitor or Service and check the job name "
                            "matches the selector in deploy/alerting.yaml."),
            "runbook_url": s.runbook("exporter-down")}, keep=False),
        b.rule("SSLFaultExporterCheckErroring", "health", "warn",
               f"sslfault_check_success{b.sel()} == 0\nunless on (target)\n"
               f"sslfault_fault{b.sel_faults(EXPLAINED_ERRORS)}",
               x.check_erroring_for, {
                   "summary": "{{ $labels.target }}: check {{ $labels.check }} cannot reach a verdict",
                   "description": ("The {{ $labels.check }} check for {{ $labels.target }} has errored for "
                                   f"{x.check_erroring_for}, so its faults are unknown (not absent). Open the "
                                   "exporter's status page or run sslfault diagnose on the host to see the error."),
                   "runbook_url": s.runbook("check-erroring")}, keep=False),
        b.rule("SSLFaultExporterResultsStale", "health", "warn", stale, x.stale_for, {
            "summary": "{{ $labels.target }}: results are stale",
            "description": ("The checks of {{ $labels.target }} have not run for longer than "
                            f"{x.stale_after} and {_num(x.stale_intervals)} times the target's interval, so alerts "
                            "about it are out of date. Check the exporter's log for stuck probes or an overloaded "
                            "scheduler."),
            "runbook_url": s.runbook("results-stale")}, keep=False),
        b.rule("SSLFaultExporterConfigReloadFailed", "health", "warn",
               f"sslfault_config_last_reload_successful{b.sel()} == 0", x.reload_failed_for, {
                   "summary": "ssl-fault-exporter {{ $labels.instance }}: configuration reload failed",
                   "description": ("The last configuration reload on {{ $labels.instance }} failed and the "
                                   "exporter still runs the old configuration. Run sslfault check-config on the "
                                   "file, fix every error it lists and reload again."),
                   "runbook_url": s.runbook("config-reload-failed")}, keep=False),
        b.rule("SSLFaultExporterDiscoveryFailing", "health", "warn",
               f"sslfault_discovery_sources_failing{b.sel()} > 0", x.discovery_failing_for, {
                   "summary": "ssl-fault-exporter {{ $labels.instance }}: {{ $labels.mechanism }} discovery fails",
                   "description": ("A {{ $labels.mechanism }} source (a file or URL) of {{ $labels.instance }} "
                                   f"cannot be read or parsed and has not been for {x.discovery_failing_for}. Its "
                                   "last good targets stay watched, but targets added or removed there are not "
                                   "seen. GET /api/discovery on the exporter names the source and its error."),
                   "runbook_url": s.runbook("discovery-failing")}, keep=False),
        b.rule("SSLFaultExporterShardsDisagree", "health", "warn",
               f"sum by (job) ({b.dedup('max', f'sslfault_shard_targets{b.sel()}')})\n"
               f"  != max by (job) (sslfault_fleet_targets{b.sel()})", x.shards_disagree_for, {
                   "summary": "ssl-fault-exporter {{ $labels.job }}: the shards do not add up to the fleet",
                   "description": ("The targets the shards own (sslfault_shard_targets, each shard once however "
                                   "many replicas it has) do not add up to the fleet the replicas see "
                                   "(sslfault_fleet_targets): some targets are watched by no shard, or twice. Check "
                                   "that --shard.count equals the number of shards on every replica, that every "
                                   "replica reads the same configuration and discovery sources, and that no shard "
                                   "is down."),
                   "runbook_url": s.runbook("shards-disagree")}, keep=False),
        b.rule("SSLFaultExporterStateSaveFailing", "health", "warn",
               f"increase(sslfault_state_file_save_failures_total{b.sel()}[{save_window}]) > 0", save_window, {
                   "summary": "ssl-fault-exporter {{ $labels.instance }}: the state file cannot be saved",
                   "description": ("Saving --storage.state-file on {{ $labels.instance }} has kept failing for "
                                   f"{save_window}. After a restart this replica would serve old results or none, "
                                   "and its alerts would resolve and fire again. Check free space, permissions and "
                                   "the volume mount; the exporter's log names the error."),
                   "runbook_url": s.runbook("state-save-failing")}, keep=False),
        b.rule("SSLFaultExporterWatchesNothing", "health", "warn",
               f"{up} == 1\nunless on ({replicas})\nsslfault_faults_active{b.sel()}", x.watches_nothing_for, {
                   "summary": "ssl-fault-exporter {{ $labels.instance }} watches no target",
                   "description": ("ssl-fault-exporter on {{ $labels.instance }} is up but exports no target: its "
                                   "configuration lists none, discovery finds none (sslfault_fleet_targets is 0), no "
                                   "cert_files glob matches, or its shard owns none of the fleet. Nothing it should "
                                   "watch can alert."),
                   "runbook_url": s.runbook("watches-nothing")}, keep=False),
    ]
