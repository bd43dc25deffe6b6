"""The checks, by name. Each module has `async def run(target, ctx) -> CheckOutcome`.

A check returns faults for what the target does wrong and raises only when it
cannot reach a verdict; the runner maps exceptions to error kinds. A check whose
`applies(target)` is false (e.g. file validation with no token configured) is
not run at all, so it never shows up as "ok".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from exporter.checks import (
    caa,
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
from exporter.config import Target
from exporter.engine.context import ProbeContext
from exporter.models import CheckOutcome

CheckFn = Callable[[Target, ProbeContext], Awaitable[CheckOutcome]]


def _always(target: Target) -> bool:
    return True


@dataclass(frozen=True)
class Check:
    run: CheckFn
    applies: Callable[[Target], bool] = _always


# Order matters only for reports: cheapest and most fundamental first.
CHECKS: dict[str, Check] = {
    "dns": Check(dns.run),
    "reachability": Check(reachability.run),
    "tls": Check(tls.run),
    "chain": Check(chain.run),
    # Issuance checks (guide S1, S2): only where the target configures what they need.
    # Always. Without configured CA identifiers it reports only what blocks every CA for certain
    # (a critical unknown tag); "may our CA issue" and lookup failures need the identifiers.
    "caa": Check(caa.run),
    "dns_validation": Check(dns_validation.run, applies=lambda t: t.dns_validation is not None),
    "file_validation": Check(file_validation.run, applies=lambda t: t.file_validation is not None),
    "domain_review": Check(domain_review.run),
    # Web layer (guide S3, S4, S7 and beyond): what visitors' browsers get.
    "http": Check(http.run),
    "mixed_content": Check(mixed_content.run),
    "revocation": Check(revocation.run),
    "legacy_tls": Check(legacy_tls.run),
}
