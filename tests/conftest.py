"""Shared fixtures: one fault lab per test session, run in its own thread and event loop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.config import Config
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.issuance import IssuanceLab
from sslfault_lab.lab import Lab, LabThread
from sslfault_lab.pki import Issued, LabPKI
from sslfault_lab.web import WebLab


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


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    """A lab CA hierarchy without servers, for tests of certificate files."""
    return LabPKI("http://aia.lab.test/ca")


@pytest.fixture(scope="module")
def leaf(pki: LabPKI) -> Issued:
    return pki.issue_leaf(["www.lab.test"])


@pytest.fixture(scope="module")
def web() -> Iterator[WebLab]:
    """A lab with the web-layer additions (HTTP/HTTPS sites, mixed-content pages, OCSP, CRL, TLS 1.0)."""
    from sslfault_lab.web import WebLabThread

    thread = WebLabThread()
    thread.start()
    try:
        yield thread.web
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def ilab() -> Iterator[IssuanceLab]:
    """A lab with the issuance additions (CAA zones, delegated TXT zone, validation-file sites)."""
    from sslfault_lab.issuance import issuance_lab_thread

    with issuance_lab_thread() as started:
        yield started
