"""Shared fixtures: one fault lab per test session, run in its own thread and event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.config import CHECK_NAMES, Config
from exporter.lab.demo import lab_config_dict
from exporter.lab.lab import Lab, LabThread
from exporter.lab.pki import Issued, LabPKI


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    thread = LabThread()
    started = thread.start()
    try:
        yield started
    finally:
        thread.stop()


@pytest.fixture(scope="session")
def lab_config(lab: Lab) -> Config:
    return Config.model_validate(lab_config_dict(lab))


# The TLS scenarios answer a bare 200 without HSTS and run no plain-HTTP listener, so the
# http check would add hsts_missing to each; it is proven on the web lab (tests/test_web_http.py).
SCENARIO_CHECKS = [c for c in CHECK_NAMES if c != "http"]


def config_for(lab: Lab, scenario: str, **target_overrides: Any) -> Config:
    """A config with just one lab scenario as its target (every check but http unless `checks` is given)."""
    data = lab_config_dict(lab)
    data["targets"] = [{"checks": SCENARIO_CHECKS, **t, **target_overrides}
                       for t in data["targets"] if t["name"] == scenario]
    assert data["targets"], f"no lab scenario {scenario!r}"
    return Config.model_validate(data)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    """A lab CA hierarchy without servers, for tests of certificate files."""
    return LabPKI("http://aia.lab.test/ca")


@pytest.fixture(scope="module")
def leaf(pki: LabPKI) -> Issued:
    return pki.issue_leaf(["www.lab.test"])
