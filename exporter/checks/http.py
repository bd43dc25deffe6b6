"""HTTP vs HTTPS on each address: status mismatch (guide S4), 5xx, no redirect, no HSTS.

Requests are pinned to each resolved address with the right Host header and SNI and
follow no redirects, so what one address (one IIS binding) serves is judged on its own.
Nothing listening on the HTTP port is not a fault: many sites only serve HTTPS. An HTTP
port that accepts but gives no usable answer (a timeout after connecting, a broken
response) could be hiding a 200, so that address cannot be judged on HTTP.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from exporter.checks._html import page_title, quick_title
from exporter.checks._url import Url, resolve
from exporter.checks._web import PAGE_FETCH_SHARE, page, tls_addresses
from exporter.checks.base import CheckPlugin, MetricSpec, NoSettings, Sample
from exporter.errors import CannotJudge
from exporter.models import CheckOutcome, ErrorKind, FaultId, Finding
from exporter.net.pinned import Response
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

COMPARE_MAX_BYTES = 256 * 1024  # enough for a title and a size; pages are not kept
QUICK_TITLE_CHARS = 8 * 1024  # parsed on the event loop for a title (at most ~1.3 ms); more goes to a thread
HTTP_SHARE = PAGE_FETCH_SHARE  # of the target's timeout, for each request (the most a shared page may take)
CONNECT_SHARE = 0.8  # of a plain-HTTP request's time, for the TCP connect: no connect by then = nothing listens
_MAX_AGE = re.compile(r"""(?:^|;)\s*max-age\s*=\s*"?(\d+)"?\s*(?:;|$)""", re.I)


@dataclass(frozen=True, slots=True)
class Probe:
    address: str
    path: str
    scheme: str
    status: int | None  # None: no answer (error says why)
    error: str | None = None
    location: str | None = None
    hsts: str | None = None
    title: str | None = None
    size: int = 0
    truncated: bool = False  # the body went past COMPARE_MAX_BYTES: its size is not compared
    # False: no usable answer (timed out after connecting, broken response): nothing can be judged from it.
    # True with no status: nothing serves this scheme there (refused, unreachable, no TCP handshake).
    conclusive: bool = True


@dataclass(frozen=True, slots=True)
class HttpResult:
    probes: tuple[Probe, ...]
    http_status: int | None  # first path on the first address, for sslfault_http_status_code
    https_status: int | None
    unjudged: tuple[str, ...] = ()  # "address path: why" for pairs without both answers: not judged on HTTP


def _title(resp: Response) -> str | None:
    if "html" not in resp.headers.get("content-type", "html"):
        return None
    return page_title(resp.body.decode("utf-8", "replace"))


async def _title_of(resp: Response) -> str | None:
    """The title: found in the page's first few KB on the loop (the usual case, microseconds), else in a
    worker thread (the parse is linear, but a page is up to COMPARE_MAX_BYTES)."""
    if "html" not in resp.headers.get("content-type", "html"):
        return None
    html = resp.body.decode("utf-8", "replace")
    known, title = quick_title(html, QUICK_TITLE_CHARS)
    return title if known else await asyncio.to_thread(page_title, html)


async def _probe(ctx: ProbeContext, scheme: str, address: str, port: int, path: str) -> Probe:
    timeout = ctx.target.timeout * HTTP_SHARE
    try:
        # The HTTPS page is the one mixed_content scans: fetched once per run for both (see _web.page).
        resp = await page(ctx, scheme, address, port, path,
                          connect_timeout=timeout * CONNECT_SHARE if scheme == "http" else None,
                          max_bytes=min(COMPARE_MAX_BYTES, ctx.limits.max_body_bytes))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        # Over HTTPS any failure leaves nothing to judge. Over HTTP, a connection that cannot be made means
        # nothing serves HTTP there (not a fault); any later failure may hide a page served over HTTP.
        no_service = scheme == "http" and isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))
        error = str(exc) or ("timed out" if isinstance(exc, TimeoutError) else type(exc).__name__)
        return Probe(address, path, scheme, None, error, conclusive=no_service)
    return Probe(address, path, scheme, resp.status, location=resp.headers.get("location"),
                 hsts=resp.headers.get("strict-transport-security"), title=await _title_of(resp),
                 size=len(resp.body), truncated=resp.truncated)


async def run(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
    addresses = await tls_addresses(ctx)
    pairs = [(a, p) for a in addresses for p in target.paths]
    probes = await asyncio.gather(*(_probe(ctx, "https", a, target.port, p) for a, p in pairs),
                                  *(_probe(ctx, "http", a, target.http_port, p) for a, p in pairs))
    https, http = probes[: len(pairs)], probes[len(pairs):]
    if all(p.status is None for p in https):
        raise CannotJudge(ErrorKind.NETWORK, f"HTTPS request failed: {https[0].error}")
    unjudged = tuple(f"{s.address} {s.path}: {'HTTPS' if s.status is None else 'HTTP'} "
                     f"{s.error if s.status is None else h.error}"
                     for s, h in zip(https, http, strict=True) if s.status is None or not h.conclusive)
    if len(unjudged) == len(pairs):
        # HTTPS answered somewhere, but nowhere together with a usable HTTP answer: whether HTTP serves
        # pages instead of redirecting is unknown, and "no fault" would be a guess.
        raise CannotJudge(ErrorKind.NETWORK,
                          f"no address gave both an HTTPS and a usable plain-HTTP answer ({unjudged[0]})")
    # An address without a usable HTTP answer is still judged on what HTTPS alone shows (5xx, HSTS).
    findings = [f for s, h in zip(https, http, strict=True) for f in judge(target, s, h)]
    return CheckOutcome(tuple(findings), HttpResult(tuple(https + http), http[0].status, https[0].status, unjudged))


def _redirects_to_https(target: Target, probe: Probe) -> bool:
    if probe.status is None or not 300 <= probe.status < 400 or not probe.location:
        return False
    base = Url("http", target.host, None if target.http_port == 80 else target.http_port, probe.path)
    url = resolve(probe.location, base)
    return url is not None and url.scheme == "https" and url.host == target.host.lower()


def _redirects_to_http(target: Target, probe: Probe) -> str | None:
    """The plain http: URL an HTTPS answer redirects to, or None."""
    if probe.status is None or not 300 <= probe.status < 400 or not probe.location:
        return None
    base = Url("https", target.host, None if target.port == 443 else target.port, probe.path)
    url = resolve(probe.location, base)
    return str(url) if url is not None and url.scheme == "http" else None


def hsts_active(value: str | None) -> bool:
    match = _MAX_AGE.search(value or "")
    return match is not None and int(match.group(1)) > 0


def _different_sites(https: Probe, http: Probe) -> str | None:
    """Why two 200 pages look like different sites, or None."""
    if https.title and http.title and https.title != http.title:
        return f"titles differ: HTTP {http.title!r}, HTTPS {https.title!r}"
    if https.truncated or http.truncated:
        return None  # a body cut at the cap has no size to compare; the verdict does not depend on it
    if max(https.size, http.size) > 0 and min(https.size, http.size) / max(https.size, http.size) < 0.9:
        return f"sizes differ: HTTP {http.size} bytes, HTTPS {https.size} bytes"
    return None


def judge(target: Target, https: Probe, http: Probe) -> list[Finding]:
    """Faults for one path on one address, from its HTTPS and HTTP answers."""
    if https.status is None:
        return []
    findings: list[Finding] = []
    where, path = https.address, https.path
    if https.status >= 500:
        findings.append(Finding(FaultId.HTTPS_ERROR_STATUS, f"HTTPS {path} answers {https.status}", where))
    http_works = http.status is not None and (200 <= http.status < 300 or _redirects_to_https(target, http))
    if 400 <= https.status < 500 and http_works:
        how = f"{http.status} (redirect to {http.location})" if http.location else str(http.status)
        findings.append(Finding(FaultId.HTTPS_STATUS_MISMATCH,
            f"{path}: HTTP answers {how} but HTTPS answers {https.status}: the HTTPS binding serves another "
            "site or web root", where, {"path": path, "http_status": http.status, "https_status": https.status}))
    insecure = _redirects_to_http(target, https)
    if insecure:
        findings.append(Finding(FaultId.HTTPS_REDIRECTS_TO_HTTP,
            f"HTTPS {path} answers {https.status} redirecting to {insecure}: visitors are taken off HTTPS",
            where, {"path": path, "https_status": https.status, "location": insecure}))
    if https.status < 400 and not hsts_active(https.hsts):
        why = "no Strict-Transport-Security header" if not https.hsts else f"HSTS disabled ({https.hsts!r})"
        findings.append(Finding(FaultId.HSTS_MISSING, f"HTTPS {path} answers {https.status} with {why}", where))
    if http.status is not None and 200 <= http.status < 300:
        port = "" if target.http_port == 80 else f":{target.http_port}"
        detail = f"http://{target.host}{port}{path} answers {http.status} instead of redirecting to HTTPS"
        different = _different_sites(https, http) if https.status == 200 else None
        if different:
            detail += f"; HTTP and HTTPS look like different sites ({different})"
        findings.append(Finding(FaultId.HTTP_NOT_REDIRECTED, detail, where,
                                {"path": path, "http_status": http.status, "https_status": https.status,
                                 "different_sites": different}))
    return findings


HTTP_STATUS = MetricSpec("sslfault_http_status_code",
                         "Status of the first configured path on the first address, by scheme (latest scheduled run).",
                         ("scheme",))


def _samples(target: Target, result: HttpResult) -> list[Sample]:
    # No answer (e.g. nothing on port 80): no sample, not a fake code.
    return [Sample(HTTP_STATUS.name, (scheme,), code)
            for scheme, code in (("http", result.http_status), ("https", result.https_status)) if code is not None]


PLUGIN = CheckPlugin[NoSettings, HttpResult](
    name="http",
    summary="HTTP vs HTTPS on each address: status mismatch (S4), 5xx, redirect to HTTPS, HSTS",
    run=run,
    result_type=HttpResult,
    faults=frozenset({FaultId.HTTPS_STATUS_MISMATCH, FaultId.HTTPS_ERROR_STATUS, FaultId.HTTP_NOT_REDIRECTED,
                      FaultId.HSTS_MISSING, FaultId.HTTPS_REDIRECTS_TO_HTTP}),
    metrics=(HTTP_STATUS,),
    samples=_samples,
)
