"""Run checks under a timeout and map every exception to an error kind, in this one place."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import dns.exception

from exporter.checks import PLUGINS
from exporter.checks.base import CheckPlugin
from exporter.config import Config
from exporter.engine.context import ProbeContext, Resources
from exporter.errors import CannotJudge, DependencyError, InvalidResponse, UnsupportedProbe
from exporter.models import CheckOutcome, CheckResult, CheckStatus, ErrorKind
from exporter.net.http import BodyTooLarge
from exporter.target import Target

log = logging.getLogger(__name__)


def classify(exc: BaseException) -> ErrorKind:
    """The one mapping from exceptions to error kinds."""
    if isinstance(exc, CannotJudge):
        return exc.kind
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, dns.exception.Timeout)):
        return ErrorKind.TIMEOUT
    if isinstance(exc, DependencyError):
        return ErrorKind.DEPENDENCY
    if isinstance(exc, UnsupportedProbe):
        return ErrorKind.UNSUPPORTED
    if isinstance(exc, InvalidResponse):
        return ErrorKind.PROTOCOL
    if isinstance(exc, dns.exception.DNSException):
        return ErrorKind.DNS
    if isinstance(exc, (OSError, ssl.SSLError, aiohttp.ClientError, BodyTooLarge, EOFError)):
        return ErrorKind.NETWORK
    return ErrorKind.INTERNAL


class UndeclaredFault(Exception):
    """A check emitted a fault id its plugin does not declare: a bug, reported as an internal error."""


async def run_check(name: str, check: CheckPlugin[Any, Any], target: Target, ctx: ProbeContext) -> CheckResult:
    started_at = time.time()
    start = time.monotonic()
    try:
        async with asyncio.timeout(target.timeout):  # no extra task per check, unlike wait_for
            outcome: CheckOutcome = await check.run_on(target, ctx)
        undeclared = {f.fault for f in outcome.findings} - check.faults
        if undeclared:
            raise UndeclaredFault(f"{name} emitted {sorted(undeclared)}, which its plugin does not declare")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        kind = classify(exc)
        message = str(exc) or type(exc).__name__
        if kind is ErrorKind.TIMEOUT:
            message = f"no verdict within {target.timeout:g}s"
        if kind is ErrorKind.INTERNAL:
            log.exception("check %s on %s failed unexpectedly", name, target.name)
            message = f"{type(exc).__name__}: {message}"
        return CheckResult(target.name, name, CheckStatus.ERROR, started_at, time.monotonic() - start,
                           error_kind=kind, error=message[:500])
    return CheckResult(target.name, name, CheckStatus.OK, started_at, time.monotonic() - start, outcome)


async def run_target(
    target: Target, resources: Resources, checks: Mapping[str, CheckPlugin[Any, Any]] | None = None,
    ctx: ProbeContext | None = None,
) -> dict[str, CheckResult]:
    """Every enabled check of one target, concurrently, sharing one ProbeContext."""
    table = checks or PLUGINS
    ctx = ctx or ProbeContext(target, resources)
    names = [n for n, check in table.items() if n in target.checks and check.applies_to(target)]
    try:
        results = await asyncio.gather(*(run_check(n, table[n], target, ctx) for n in names))
    finally:
        ctx.cancel_pending()
    return dict(zip(names, results, strict=True))


async def run_first_target(config: Config) -> dict[str, CheckResult]:
    """Every enabled check on the config's first target, once, with resources opened and closed here."""
    resources = Resources(config)
    try:
        return await run_target(config.resolved_targets()[0], resources)
    finally:
        await resources.close()
