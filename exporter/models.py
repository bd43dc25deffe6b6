"""Plain, frozen data shared by checks, the store, the collector and reports.

Everything here is serialisable (no live objects) so results can later be
saved to a state file and loaded at start.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from exporter.catalog.faults import FaultId, Severity

__all__ = ["CheckOutcome", "CheckResult", "CheckStatus", "ErrorKind", "FaultId", "Finding", "Severity"]


class CheckStatus(enum.StrEnum):
    OK = "ok"  # the check reached a verdict (which may include faults)
    ERROR = "error"  # the check could not judge; never read as "no fault"


class ErrorKind(enum.StrEnum):
    TIMEOUT = "timeout"
    NETWORK = "network"
    DNS = "dns"
    DEPENDENCY = "dependency"  # an earlier step (e.g. resolution) gave nothing to check
    UNSUPPORTED = "unsupported"  # this machine cannot run the probe (e.g. no TLS 1.0)
    PROTOCOL = "protocol"  # the peer answered with something unusable (forged OCSP response...)
    INCOMPLETE = "incomplete"  # a size cap, a nesting cap or a redirect loop kept the check from reading all it must
    CLIENT_CERT = "client_cert"  # the server demands a client certificate and the target configures none
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Finding:
    """One occurrence of a catalog fault on a target (optionally on one address)."""

    fault: FaultId
    detail: str
    address: str | None = None
    # Extra structured data for the JSON view (URLs, name servers...). Never metric labels.
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What a check returns: the faults it found and its typed, frozen result data."""

    findings: tuple[Finding, ...] = ()
    result: Any = None  # a frozen dataclass specific to the check (DnsResult, TlsResult...)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The store's record of one check run on one target."""

    target: str
    check: str
    status: CheckStatus
    started_at: float  # unix seconds
    duration_seconds: float
    outcome: CheckOutcome = CheckOutcome()
    error_kind: ErrorKind | None = None
    error: str | None = None  # human text; JSON view and status page only
