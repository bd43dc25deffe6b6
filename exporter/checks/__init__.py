"""The checks, by name. Each module has `async def run(target, ctx) -> CheckOutcome`.

A check returns faults for what the target does wrong and raises only when it
cannot reach a verdict; the runner maps exceptions to error kinds. A check whose
`applies(target)` is false (e.g. file validation with no token configured) is
not run at all, so it never shows up as "ok".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from exporter.checks import chain, dns, reachability, tls
from exporter.config import Target
from exporter.context import ProbeContext
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
}
