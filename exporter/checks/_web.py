"""The HTTP layer as the checks that read pages use it: pinned requests (net/pinned) on the shared
session, with the target's client certificate, and "could not judge" when a server demands a client
certificate the target does not configure. A page several checks read (the http check compares it,
mixed_content scans it) is fetched once per run of a target (`page`)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import aiohttp

from exporter.errors import CannotJudge
from exporter.models import ErrorKind
from exporter.net.pinned import Response, SharedGet, pinned_get, pinned_request, site_url

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

# Of the target's timeout: how long a page fetched for several checks may take, the most any of them
# gives it (the http check); a check that gives a page less bounds its own wait (mixed_content).
PAGE_FETCH_SHARE = 0.6
# Answers a server gives a client without the certificate it demands (nginx: 400 "No required SSL
# certificate was sent", 495/496); a TLS alert or a closed connection are the other way it says so.
_CLIENT_CERT_STATUSES = frozenset({400, 403, 495, 496})


async def tls_addresses(ctx: ProbeContext) -> list[str]:
    """Addresses that completed the shared TLS handshake; the others are the reachability check's."""
    return [h.address for h in await ctx.served_handshakes()]


async def client_cert_gate(ctx: ProbeContext, address: str) -> None:
    """Raise CannotJudge when `address` asks for a client certificate and the target configures none."""
    if ctx.target.client_cert:
        return
    if await ctx.cert_requested(address):
        raise CannotJudge(ErrorKind.CLIENT_CERT,
                          f"{address} demands a client certificate and the target configures none "
                          "(client_cert, client_key): the HTTPS answers cannot be judged")


async def get(
    ctx: ProbeContext, scheme: str, address: str, port: int, path: str, *, timeout: float, max_bytes: int,
    connect_timeout: float | None = None, method: str = "GET",
) -> Response:
    """GET scheme://host:port/path from one address, with Host and SNI for the target's name.

    Over HTTPS, a failure or a 400/403/495/496 from a server that asked for a client certificate the
    target lacks raises CannotJudge (client_cert) instead of passing for the site's own answer."""
    secure = scheme == "https"
    try:
        resp = await pinned_get(
            ctx.resources.session, scheme, address, port, ctx.target.host, path, sni=ctx.default_sni(),
            ssl_context=ctx.resources.capture_context(ctx.target) if secure else None, timeout=timeout,
            max_bytes=max_bytes, connect_timeout=connect_timeout, method=method)
    except (aiohttp.ClientError, OSError, TimeoutError):
        if secure:
            await client_cert_gate(ctx, address)
        raise
    return await _gated(ctx, address, secure, resp)


async def _gated(ctx: ProbeContext, address: str, secure: bool, resp: Response) -> Response:
    if secure and resp.status in _CLIENT_CERT_STATUSES:
        await client_cert_gate(ctx, address)
    return resp


async def page(ctx: ProbeContext, scheme: str, address: str, port: int, path: str, *, max_bytes: int,
               connect_timeout: float | None = None) -> Response:
    """What `get` answers, within PAGE_FETCH_SHARE of the target's timeout, but one request per run for every
    check that GETs the same page from the same address: each reads it up to its own cap and applies its
    own rules to the answer, as if it had made the request alone."""
    secure = scheme == "https"
    timeout = ctx.target.timeout * PAGE_FETCH_SHARE

    def request() -> SharedGet:
        return SharedGet(site_url(scheme, ctx.target.host, port, path), max_bytes)

    def run(shared: SharedGet) -> Coroutine[Any, Any, None]:
        return shared.run(pinned_request(
            ctx.resources.session, scheme, address, port, ctx.target.host, path, sni=ctx.default_sni(),
            ssl_context=ctx.resources.capture_context(ctx.target) if secure else None, timeout=timeout,
            connect_timeout=connect_timeout))

    shared = ctx.shared(("page", scheme, address, port, path, connect_timeout), request, run)
    if not shared.covers(max_bytes):  # read and cut short of this cap before this check asked
        return await get(ctx, scheme, address, port, path, timeout=timeout, max_bytes=max_bytes,
                         connect_timeout=connect_timeout)
    try:
        resp = await shared.response(max_bytes)
    except (aiohttp.ClientError, OSError, TimeoutError):
        if secure:
            await client_cert_gate(ctx, address)
        raise
    return await _gated(ctx, address, secure, resp)
