"""The checks, by name. Each module has `async def run(target, ctx) -> CheckOutcome`.

A check returns faults for what the target does wrong and raises only when it
cannot reach a verdict; the runner maps exceptions to error kinds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from exporter.checks import chain, dns, reachability, tls
from exporter.config import Target
from exporter.context import ProbeContext
from exporter.models import CheckOutcome

Check = Callable[[Target, ProbeContext], Awaitable[CheckOutcome]]

# Order matters only for reports: cheapest and most fundamental first.
CHECKS: dict[str, Check] = {
    "dns": dns.run,
    "reachability": reachability.run,
    "tls": tls.run,
    "chain": chain.run,
}
