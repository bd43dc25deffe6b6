"""A custom Prometheus collector: fresh metric families from the store on every scrape."""

from __future__ import annotations

import platform
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.catalog.faults import get_fault
from exporter.checks import PLUGINS, metric_specs
from exporter.checks.base import MetricSpec
from exporter.engine.store import ResultsStore, TargetState
from exporter.models import CheckResult, CheckStatus, Severity
from exporter.target import Target

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
        yield from self._check_metrics(states)
        if self.include_exporter_metrics:
            yield from self._exporter()

    def _faults(self, states: list[TargetState]) -> Iterator[GaugeMetricFamily]:
        fault = GaugeMetricFamily("sslfault_fault", f"1 for each active fault on a target, per address where the fault is "
                                  f"about one (empty address: about the whole target) {_LATEST}.",
                                  labels=["target", "fault", "severity", "address"])
        active = GaugeMetricFamily("sslfault_faults_active", f"Number of distinct active faults by severity {_LATEST}.",
                                   labels=["target", "severity"])
        for state in states:
            # Addresses are bounded (the per-family address cap), so the label set stays bounded too.
            found = {(f.fault, f.address or "") for r in state.results.values() for f in r.outcome.findings}
            counts = dict.fromkeys(Severity, 0)
            for fault_id in sorted({fault_id for fault_id, _ in found}):
                counts[get_fault(fault_id).severity] += 1
            for fault_id, address in sorted(found):
                fault.add_metric([state.target.name, fault_id, str(get_fault(fault_id).severity), address], 1)
            for severity, count in counts.items():
                active.add_metric([state.target.name, str(severity)], count)
        yield fault
        yield active

    def _checks(self, states: list[TargetState]) -> Iterator[GaugeMetricFamily]:
        """Per target: its interval, when it last ran and how long that took. Per check only where it tells something:
        the checks that could not judge (a healthy target costs no per-check series)."""
        run_at = GaugeMetricFamily("sslfault_last_run_timestamp_seconds",
                                   "When the target's latest run started (unix seconds).", labels=["target"])
        run_time = GaugeMetricFamily("sslfault_run_duration_seconds", f"How long the target's run took {_LATEST}.",
                                     labels=["target"])
        success = GaugeMetricFamily("sslfault_check_success",
                                    f"0 for each check that could not judge (absent: it reached a verdict) {_LATEST}.",
                                    labels=["target", "check"])
        duration = GaugeMetricFamily("sslfault_check_duration_seconds",
                                     f"How long a check that could not judge took {_LATEST}.", labels=["target", "check"])
        # The staleness alert compares the last run with the target's own interval (a file re-read hourly, a site every 5m).
        interval = GaugeMetricFamily("sslfault_target_interval_seconds",
                                     "How often the target is checked (a watched file: re-read at least this often).",
                                     labels=["target"])
        for state in states:
            interval.add_metric([state.target.name], state.target.interval)
            if state.results:
                started = min(r.started_at for r in state.results.values())
                ended = max(r.started_at + r.duration_seconds for r in state.results.values())
                run_at.add_metric([state.target.name], started)
                run_time.add_metric([state.target.name], max(0.0, ended - started))
            for name, result in state.results.items():
                if result.status is not CheckStatus.OK:
                    success.add_metric([state.target.name, name], 0.0)
                    duration.add_metric([state.target.name, name], result.duration_seconds)
        yield run_at
        yield run_time
        yield interval
        yield success
        yield duration

    def _check_metrics(self, states: list[TargetState]) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        """The families each check's plugin declares, filled from its results (only from verdicts)."""
        families = {spec.name: _family(spec) for spec in metric_specs()}
        for state in states:
            for name, result in state.results.items():
                plugin = PLUGINS.get(name)
                if plugin is None or result.status is not CheckStatus.OK:
                    continue
                for sample in plugin.samples_of(state.target, result.outcome.result):
                    family = families[sample.metric]
                    family.add_metric([state.target.name, *sample.labels], sample.value)  # type: ignore[arg-type]  # info families take a dict, gauges a float
        yield from families.values()

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
        for extra in self.store.exporter_collectors:
            yield from extra.collect()  # type: ignore[misc]  # prometheus_client types collect() loosely
        build = InfoMetricFamily("sslfault_build", "Version of ssl-fault-exporter.")
        build.add_metric([], {"version": __version__, "python_version": platform.python_version()})
        yield build


def _family(spec: MetricSpec) -> GaugeMetricFamily | InfoMetricFamily:
    labels = ["target", *spec.labels]
    if spec.kind == "info":
        return InfoMetricFamily(spec.name, spec.help, labels=labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=labels)


def render_results(target: Target, results: Mapping[str, CheckResult], include_exporter_metrics: bool = False,
                   duration_seconds: float | None = None) -> bytes:
    """The exposition text for one run of one target (/probe?format=prometheus, tests).

    With a duration it also carries blackbox_exporter-style `sslfault_probe_success` and
    `sslfault_probe_duration_seconds`, so a /probe scrape job can alert on one series."""
    store = ResultsStore()
    store.set_targets([target])
    store.record(target, results)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FaultCollector(store, include_exporter_metrics=include_exporter_metrics))
    text = generate_latest(registry)
    if duration_seconds is None:
        return text
    judged = all(r.status is CheckStatus.OK for r in results.values())
    critical = any(get_fault(f.fault).severity is Severity.CRITICAL for r in results.values() for f in r.outcome.findings)
    success = 1 if judged and not critical else 0
    probe = (
        "# HELP sslfault_probe_success 1 if every check reached a verdict and none found a critical fault.\n"
        "# TYPE sslfault_probe_success gauge\n"
        f"sslfault_probe_success {success}\n"
        "# HELP sslfault_probe_duration_seconds How long the probe took.\n"
        "# TYPE sslfault_probe_duration_seconds gauge\n"
        f"sslfault_probe_duration_seconds {duration_seconds:.6f}\n"
    )
    return text + probe.encode()
