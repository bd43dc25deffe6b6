"""The tls and chain checks on the pki engine, against the lab: lifetime caps by the root's kind."""

from __future__ import annotations

import pytest

from exporter.config import Config
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from exporter.pki.roots import TrustStore
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab
from tests.support.labs import run_async


def _faults(lab: Lab, scenario: str, public_root: bool, private_cap: int | None = None) -> set[str]:
    data = lab_config_dict(lab)
    data["defaults"]["private_ca_max_lifetime_days"] = private_cap  # the lab's own 200 replaced
    data["targets"] = [{**t, "checks": ["dns", "reachability", "tls", "chain"]}
                       for t in data["targets"] if t["name"] == scenario]
    config = Config.model_validate(data)

    async def go() -> set[str]:
        resources = Resources(config)
        if public_root:  # the lab root standing in for a Mozilla root
            resources.trust = TrustStore(public=resources.trust.certificates)
        try:
            results = await run_target(config.resolved_targets()[0], resources)
        finally:
            await resources.close()
        assert all(r.status == "ok" for r in results.values()), results
        return {str(f.fault) for r in results.values() for f in r.outcome.findings}

    return run_async(go())


@pytest.mark.parametrize("public_root,private_cap,expected", [
    (True, None, {"cert_lifetime_exceeds_policy"}),  # public: the CA/B cap in force (200 days since 2026-03-15)
    (False, None, set()),  # private root, no operator cap: the CA/B rules do not bind it
    (False, 400, set()),  # private root, 300-day leaf under the operator's 400
    (False, 200, {"cert_lifetime_exceeds_policy"}),
])
def test_lifetime_rules_follow_the_root(lab: Lab, public_root: bool, private_cap: int | None,
                                        expected: set[str]) -> None:
    assert _faults(lab, "long-lifetime", public_root, private_cap) == expected


def test_healthy_leaf_is_within_both(lab: Lab) -> None:
    assert _faults(lab, "ok", True) == set()
    assert _faults(lab, "ok", False, 100) == set()
