"""HTTP requests pinned to one address: the URL names the address, Host and SNI name the site.

What one address (one IIS binding, one load-balancer member) serves is judged on its own, so
requests go to the address the checks resolved, not to whatever the name resolves to at
fetch time. Requests run on the caller's shared session (one pool, its per-host limit
holds), follow no redirects, and read bodies up to a cap, saying whether they were cut.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp

from exporter.net.http import read_capped


@dataclass(frozen=True)
class Response:
    url: str  # as a browser would show it: the site's name, not the address
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    truncated: bool  # the body went on past max_bytes


def merged_headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in resp.headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def site_url(scheme: str, host: str, port: int, path: str) -> str:
    name = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{name}{'' if port == default else f':{port}'}{path}"


async def pinned_get(
    session: aiohttp.ClientSession, scheme: str, address: str, port: int, host: str, path: str, *,
    sni: str | None, ssl_context: ssl.SSLContext | None, timeout: float, max_bytes: int,
    connect_timeout: float | None = None, method: str = "GET",
) -> Response:
    """GET scheme://host:port/path from `address`, with Host `host` and (https) SNI `sni`.

    A connect slower than connect_timeout (default: timeout) raises aiohttp.ConnectionTimeoutError."""
    name = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    netloc = f"[{address}]" if ":" in address else address
    secure = scheme == "https"
    client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout or timeout, sock_read=timeout)
    async with session.request(
        method, f"{scheme}://{netloc}:{port}{path}", allow_redirects=False, timeout=client_timeout,
        headers={"Host": name if port == default else f"{name}:{port}"},
        ssl=(ssl_context or True) if secure else True,
        server_hostname=sni if secure else None,
    ) as resp:
        body, truncated = await read_capped(resp, max_bytes)
        return Response(site_url(scheme, host, port, path), resp.status, merged_headers(resp), body, truncated)
