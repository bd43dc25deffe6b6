"""Every issue-2 fault id against the lab server that reproduces it: exactly that fault, on that address."""

from __future__ import annotations

import pytest

from exporter.cli.diagnose import diagnose
from sslfault_lab.lab import Lab
from sslfault_lab.scenarios import SPECS
from tests.support.labs import config_for, run_async

SCENARIOS = [spec.name for spec in SPECS]


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_yields_exactly_its_faults(lab: Lab, name: str) -> None:
    scenario = lab.scenarios[name]
    report = run_async(diagnose(config_for(lab, name)))
    found = {f["id"] for f in report["faults"]}
    assert found == set(scenario.expected_faults), report
    where = scenario.fault_addresses or scenario.addresses
    for fault in report["faults"]:
        if fault["address"] is not None:
            assert fault["address"] in where, fault
    # A check that could not judge must be explained by a fault that made it impossible.
    errored = {n for n, c in report["checks"].items() if c["status"] == "error"}
    if errored:
        assert found & {"dns_resolution_failed", "tcp_connect_refused", "tcp_connect_timeout",
                        "tls_handshake_failed"}, report["checks"]


def test_healthy_servers_yield_no_fault(lab: Lab) -> None:
    for name in ("ok", "ok-rsa"):
        report = run_async(diagnose(config_for(lab, name)))
        assert report["faults"] == [], report
        assert all(c["status"] == "ok" for c in report["checks"].values()), report["checks"]
