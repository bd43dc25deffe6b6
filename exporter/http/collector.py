"""A custom Prometheus collector: fresh metric families from the store on every scrape."""

from __future__ import annotations

import platform
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.checks.caa import CaaResult
from exporter.checks.chain import ChainResult
from exporter.checks.dns import DnsResult
from exporter.checks.http import HttpResult
from exporter.checks.mixed_content import MixedContentResult
from exporter.checks.tls import TlsResult
from exporter.config import Target
from exporter.catalog.faults import get_fault
from exporter.daemon.filewatch import CertFilesResult
from exporter.models import CheckResult, CheckStatus, Severity
from exporter.engine.store import ResultsStore, TargetState

_LATEST = "(latest scheduled run)"


class FaultCollector(Collector):
    """Per-target families from the store's states, then the exporter's own (runs, reload, build)."""

    def __init__(
        self, store: ResultsStore, include_exporter_metrics: bool = True, states: list[TargetState] | None = None
    ) -> None:
        self.store = store
        self.include_exporter_metrics = include_exporter_metrics  # off for /probe?format=prometheus
        self._states = states  # render just these (the exposition cache renders one target at a time)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        states = self.store.states() if self._states is None else self._states
        yield from self._faults(states)
        yield from self._checks(states)
        yield from self._certificates(states)
        yield from self._dns(states)
        yield from self._caa(states)
        yield from self._web(states)
        if self.include_exporter_metrics:
            yield from self._exporter()

    def _faults(self, states: list[TargetState]) -> Iterator[GaugeMetricFamily]:
        fault = GaugeMetricFamily("sslfault_fault", f"1 for each active fault on a target {_LATEST}.",
                                  labels=["target", "fault", "severity"])
        active = GaugeMetricFamily("sslfault_faults_active", f"Number of distinct active faults by severity {_LATEST}.",
                                   labels=["target", "severity"])
        for state in states:
            ids = {f.fault for r in state.results.values() for f in r.outcome.findings}
            counts = dict.fromkeys(Severity, 0)
            for fault_id in sorted(ids):
                severity = get_fault(fault_id).severity
                counts[severity] += 1
                fault.add_metric([state.target.name, fault_id, str(severity)], 1)
            for severity, count in counts.items():
                active.add_metric([state.target.name, str(severity)], count)
        yield fault
        yield active

    def _checks(self, states: list[TargetState]) -> Iterator[GaugeMetricFamily]:
        success = GaugeMetricFamily("sslfault_check_success",
                                    f"1 if the check reached a verdict, 0 if it could not judge {_LATEST}.",
                                    labels=["target", "check"])
        duration = GaugeMetricFamily("sslfault_check_duration_seconds", f"How long the check took {_LATEST}.",
                                     labels=["target", "check"])
        last_run = GaugeMetricFamily("sslfault_check_last_run_timestamp_seconds",
                                     "When the check last ran (unix seconds).", labels=["target", "check"])
        for state in states:
            for name, result in state.results.items():
                labels = [state.target.name, name]
                success.add_metric(labels, 1.0 if result.status is CheckStatus.OK else 0.0)
                duration.add_metric(labels, result.duration_seconds)
                last_run.add_metric(labels, result.started_at)
        yield success
        yield duration
        yield last_run

    def _certificates(self, states: list[TargetState]) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        not_after = GaugeMetricFamily("sslfault_cert_not_after_timestamp_seconds",
                                      f"Leaf notAfter as served on the address, even when expired or untrusted {_LATEST}.",
                                      labels=["target", "address"])
        not_before = GaugeMetricFamily("sslfault_cert_not_before_timestamp_seconds",
                                       f"Leaf notBefore as served on the address {_LATEST}.", labels=["target", "address"])
        chain_after = GaugeMetricFamily("sslfault_chain_not_after_timestamp_seconds",
                                        f"Earliest notAfter on the path the exporter built, trust anchor excluded {_LATEST}.",
                                        labels=["target", "address"])
        info = InfoMetricFamily("sslfault_cert", f"The leaf certificate served on the address {_LATEST}.",
                                labels=["target", "address"])
        version = InfoMetricFamily("sslfault_tls_version", f"TLS version negotiated on the address {_LATEST}.",
                                   labels=["target", "address"])
        for state in states:
            tls = _result(state, "tls", TlsResult)
            for a in tls.addresses if tls else ():
                labels = [state.target.name, a.address]
                not_after.add_metric(labels, a.leaf.not_after)
                not_before.add_metric(labels, a.leaf.not_before)
                info.add_metric(labels, {
                    "subject": a.leaf.subject, "issuer": a.leaf.issuer, "serial": a.leaf.serial,
                    "fingerprint_sha256": a.leaf.fingerprint_sha256, "key_type": a.leaf.key_type,
                })
                if a.version:
                    version.add_metric(labels, {"version": a.version})
            files = _result(state, "cert_files", CertFilesResult)
            if files and files.certificates:
                # A file has no address: the label is empty. Chain expiry: every non-root certificate in it.
                leaf, labels = files.certificates[0], [state.target.name, ""]
                not_after.add_metric(labels, leaf.not_after)
                not_before.add_metric(labels, leaf.not_before)
                info.add_metric(labels, {
                    "subject": leaf.subject, "issuer": leaf.issuer, "serial": leaf.serial,
                    "fingerprint_sha256": leaf.fingerprint_sha256, "key_type": leaf.key_type,
                })
                chain_after.add_metric(labels, min(c.not_after for c in files.certificates
                                                   if not c.self_signed or c is leaf))
            chain = _result(state, "chain", ChainResult)
            for c in chain.addresses if chain else ():
                if c.chain_not_after is not None:
                    chain_after.add_metric([state.target.name, c.address], c.chain_not_after)
        yield not_after
        yield not_before
        yield chain_after
        yield info
        yield version

    def _dns(self, states: list[TargetState]) -> Iterator[GaugeMetricFamily]:
        addresses = GaugeMetricFamily("sslfault_dns_addresses", f"Addresses the name resolved to {_LATEST}.",
                                      labels=["target", "family"])
        for state in states:
            dns = _result(state, "dns", DnsResult)
            if dns:
                addresses.add_metric([state.target.name, "ipv4"], len(dns.ipv4))
                addresses.add_metric([state.target.name, "ipv6"], len(dns.ipv6))
        yield addresses

    def _caa(self, states: list[TargetState]) -> Iterator[GaugeMetricFamily]:
        allowed = GaugeMetricFamily("sslfault_caa_issuance_allowed",
                                    f"1 if CAA lets a configured CA issue for all the target's names, 0 if not {_LATEST}.",
                                    labels=["target"])
        for state in states:
            caa = _result(state, "caa", CaaResult)
            if caa and caa.issuance_allowed is not None:
                allowed.add_metric([state.target.name], 1.0 if caa.issuance_allowed else 0.0)
        yield allowed

    def _web(self, states: list[TargetState]) -> Iterator[GaugeMetricFamily]:
        status = GaugeMetricFamily("sslfault_http_status_code",
                                   f"Status of the first configured path on the first address, by scheme {_LATEST}.",
                                   labels=["target", "scheme"])
        mixed = GaugeMetricFamily("sslfault_mixed_content_resources",
                                  f"Distinct http:// sub-resources on the target's HTTPS pages, by kind {_LATEST}.",
                                  labels=["target", "kind"])
        for state in states:
            http = _result(state, "http", HttpResult)
            if isinstance(http, HttpResult):
                for scheme, code in (("http", http.http_status), ("https", http.https_status)):
                    if code is not None:  # no answer (e.g. nothing on port 80): no sample, not a fake code
                        status.add_metric([state.target.name, scheme], code)
            found = _result(state, "mixed_content", MixedContentResult)
            if isinstance(found, MixedContentResult):
                mixed.add_metric([state.target.name, "blockable"], found.blockable)
                mixed.add_metric([state.target.name, "upgradable"], found.upgradable)
        yield status
        yield mixed

    def _exporter(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        runs = CounterMetricFamily("sslfault_check_runs", "Check runs since start, by outcome status.",
                                   labels=["check", "status"])
        # A copy: scrapes run in a worker thread while probes keep counting.
        for (check, status), count in sorted(dict(self.store.runs).items()):
            runs.add_metric([check, status], count)
        yield runs
        reload = self.store.reload
        yield GaugeMetricFamily("sslfault_config_last_reload_successful",
                                "1 if the last configuration load succeeded.", value=1.0 if reload.successful else 0.0)
        yield GaugeMetricFamily("sslfault_config_last_reload_success_timestamp_seconds",
                                "When the configuration was last loaded successfully.", value=reload.success_timestamp)
        saves = self.store.state_file
        if saves.enabled:
            yield CounterMetricFamily("sslfault_state_file_save_failures",
                                      "State file saves that failed (each is retried at the next save).",
                                      value=saves.save_failures)
            yield GaugeMetricFamily("sslfault_state_file_last_save_success_timestamp_seconds",
                                    "When the state file was last saved (unix seconds; 0: not yet).",
                                    value=saves.last_success)
        build = InfoMetricFamily("sslfault_build", "Version of ssl-fault-exporter.")
        build.add_metric([], {"version": __version__, "python_version": platform.python_version()})
        yield build


def _result(state: TargetState, check: str, kind: type) -> object | None:
    result = state.results.get(check)
    if result is None or result.status is not CheckStatus.OK or not isinstance(result.outcome.result, kind):
        return None
    return result.outcome.result


def render_results(target: Target, results: Mapping[str, CheckResult], include_exporter_metrics: bool = False) -> bytes:
    """The exposition text for one run of one target (/probe?format=prometheus, tests)."""
    store = ResultsStore()
    store.set_targets([target])
    store.record(target, results)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FaultCollector(store, include_exporter_metrics=include_exporter_metrics))
    return generate_latest(registry)
