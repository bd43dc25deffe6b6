"""The check registry: every check's plugin, registered once, in report order.

Config validation (per-check settings, `checks:` names), `diagnose` flags, the collector,
the views and the state file all read this table; adding a check is a module with a
`PLUGIN` plus one line here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from exporter.catalog.faults import FaultId
from exporter.checks import (
    caa,
    cert_files,
    chain,
    dns,
    dns_validation,
    domain_review,
    file_validation,
    http,
    legacy_tls,
    mixed_content,
    reachability,
    revocation,
    tls,
)
from exporter.checks.base import CheckPlugin, MetricSpec

# Order matters only for reports: cheapest and most fundamental first.
_PLUGINS: tuple[CheckPlugin[Any, Any], ...] = (
    dns.PLUGIN, reachability.PLUGIN, tls.PLUGIN, chain.PLUGIN,
    # Issuance (guide S1, S2)
    caa.PLUGIN, dns_validation.PLUGIN, file_validation.PLUGIN, domain_review.PLUGIN,
    # Web layer (guide S3, S4, S7 and beyond)
    http.PLUGIN, mixed_content.PLUGIN, revocation.PLUGIN, legacy_tls.PLUGIN,
    # Watched certificate files (guide S5): targets of their own, made by the daemon's file watcher
    cert_files.PLUGIN,
)

PLUGINS: Mapping[str, CheckPlugin[Any, Any]] = MappingProxyType({p.name: p for p in _PLUGINS})
# The checks a network target may choose with `checks:` (all of them by default).
CHECKS: Mapping[str, CheckPlugin[Any, Any]] = MappingProxyType(
    {p.name: p for p in _PLUGINS if p.kind == "network"})


def check_of(fault: FaultId | str) -> str:
    """The first check (in report order) that emits a fault id; certificate files share the served
    certificate's ids (expired, expiring...) with the tls and chain checks."""
    for plugin in _PLUGINS:
        if fault in plugin.faults:
            return plugin.name
    raise KeyError(f"no check emits {fault!r}")


@functools.cache
def metric_specs() -> tuple[MetricSpec, ...]:
    """Every metric family the checks feed, once each (two checks may feed the same family)."""
    specs: dict[str, MetricSpec] = {}
    for plugin in _PLUGINS:
        for spec in plugin.metrics:
            if specs.setdefault(spec.name, spec) != spec:
                raise RuntimeError(f"{plugin.name} declares {spec.name} differently from another check")
    return tuple(specs.values())


def _validate() -> None:
    declared = {fault for plugin in _PLUGINS for fault in plugin.faults}
    missing = set(FaultId) - declared
    if missing:
        raise RuntimeError(f"no check declares {sorted(missing)}")
    metric_specs()


_validate()
