"""File domain validation: every address must serve the token with 200, over http or https.

The CA fetches http(s)://host<path> from outside and follows no redirect, so each resolved
address is asked directly (the host name still goes in Host and SNI), and a 3xx on a scheme
that answers is a fault in itself. The CA may use either scheme, so an address is unreachable
only when neither serves the file (a site without HTTPS yet, before its first certificate,
passes on HTTP alone). Certificates are not verified, and no client certificate is shown: the
CA's validator has none, and the TLS checks report certificate faults.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import aiohttp
from pydantic import Field, field_validator

from exporter.checks.base import CheckPlugin, Flag, Settings
from exporter.errors import CannotJudge, DependencyError
from exporter.models import CheckOutcome, ErrorKind, FaultId, Finding
from exporter.net.pinned import pinned_get, site_url
from exporter.net.tls import capture_context
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

MAX_TOKEN_BODY = 64 * 1024  # a validation file is a token; anything bigger is a page, not the file
SHOWN_BODY = 80
Outcome = Literal["ok", "redirect", "unreachable", "mismatch"]
FAULTS = {"redirect": FaultId.FILE_VALIDATION_REDIRECT, "unreachable": FaultId.FILE_VALIDATION_UNREACHABLE,
          "mismatch": FaultId.FILE_VALIDATION_MISMATCH}


DEFAULT_VALIDATION_PATH = "/.well-known/pki-validation/fileauth.txt"


class FileValidationConfig(Settings):
    """File domain validation: the token the CA expects at http(s)://host<path>."""

    token: str = Field(min_length=1)
    path: str = DEFAULT_VALIDATION_PATH

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"expected a URL path starting with '/', got {value!r}")
        return value


class FileValidationSettings(Settings):
    file_validation: FileValidationConfig | None = None


@dataclass(frozen=True, slots=True)
class FetchView:
    scheme: str
    address: str
    url: str
    outcome: Outcome
    status: int | None = None
    detail: str = ""
    location: str | None = None


@dataclass(frozen=True, slots=True)
class FileValidationResult:
    path: str
    fetches: tuple[FetchView, ...]


def validation_urls(target: Target, config: FileValidationConfig) -> list[tuple[str, str]]:
    host = f"[{target.host}]" if ":" in target.host else target.host
    path = config.path
    http = f"http://{host}{'' if target.http_port == 80 else f':{target.http_port}'}{path}"
    https = f"https://{host}{'' if target.port == 443 else f':{target.port}'}{path}"
    return [("http", http), ("https", https)]


async def run(target: Target, settings: FileValidationSettings, ctx: ProbeContext) -> CheckOutcome:
    config = settings.file_validation
    if config is None:
        raise DependencyError("no file_validation token configured")
    addresses = await ctx.addresses()
    token = config.token.strip()
    timeout = target.timeout * 0.8
    cap = min(ctx.limits.max_body_bytes, MAX_TOKEN_BODY)
    ports = {"http": target.http_port, "https": target.port}
    pairs = [(address, scheme) for address in addresses for scheme in ("http", "https")]
    views = tuple(await asyncio.gather(*(_fetch_one(ctx, scheme, address, ports[scheme], config.path, token, timeout, cap)
                                         for address, scheme in pairs)))
    findings: list[Finding] = []
    for address in addresses:
        http, https = (v for v in views if v.address == address)
        if http.outcome == https.outcome == "unreachable":
            findings.append(_unreachable(http, https))
        findings += [Finding(FAULTS[v.outcome], _detail(v, token), v.address,
                             data={"scheme": v.scheme, "url": v.url, "status": v.status, "location": v.location})
                     for v in (http, https) if v.outcome in ("redirect", "mismatch")]
    return CheckOutcome(tuple(findings), FileValidationResult(config.path, views))


def _unreachable(http: FetchView, https: FetchView) -> Finding:
    detail = (f"neither scheme serves the validation file on {http.address}: {http.url}: {http.detail}; "
              f"{https.url}: {https.detail}")
    return Finding(FaultId.FILE_VALIDATION_UNREACHABLE, detail, http.address,
                   data={"scheme": "http and https", "url": http.url, "https_url": https.url,
                         "status": http.status, "https_status": https.status, "location": None})


async def _fetch_one(ctx: ProbeContext, scheme: str, address: str, port: int, path: str, token: str,
                     timeout: float, cap: int) -> FetchView:
    url = site_url(scheme, ctx.target.host, port, path)
    try:
        got = await pinned_get(ctx.resources.session, scheme, address, port, ctx.target.host, path,
                               sni=ctx.default_sni(), ssl_context=capture_context(), timeout=timeout, max_bytes=cap)
    except TimeoutError:
        return FetchView(scheme, address, url, "unreachable", None, f"no answer within {timeout:g}s")
    except (aiohttp.ClientError, OSError) as exc:
        return FetchView(scheme, address, url, "unreachable", None, _error_text(exc))
    if 300 <= got.status < 400:
        return FetchView(scheme, address, url, "redirect", got.status, location=got.headers.get("location"))
    if got.status != 200:
        return FetchView(scheme, address, url, "unreachable", got.status, f"HTTP {got.status}")
    if got.truncated:
        read = got.body.decode("utf-8", "replace").strip()
        if not read or token.startswith(read) or read == token:
            # Only whitespace could follow what was read for the file to match: unknown past the cap.
            raise CannotJudge(ErrorKind.INCOMPLETE, f"{url} on {address}: the body goes on past {cap} bytes after "
                              "what could still be the token")
        return FetchView(scheme, address, url, "mismatch", 200, f"the body is larger than {cap} bytes")
    return _judge_body(scheme, address, url, got.body, token)


def _judge_body(scheme: str, address: str, url: str, body: bytes, token: str) -> FetchView:
    text = body.decode("utf-8", "replace")
    if text.strip() == token:
        return FetchView(scheme, address, url, "ok", 200)
    shown = text.strip()[:SHOWN_BODY]
    hint = ""
    if text.startswith("\ufeff") and text.lstrip("\ufeff").strip() == token:
        hint = " (the file starts with a byte-order mark)"
    elif token in text:
        hint = " (the token is there, but with other content around it)"
    return FetchView(scheme, address, url, "mismatch", 200, f"body {shown!r}{hint}")


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


def _detail(view: FetchView, token: str) -> str:
    where = f"{view.url} on {view.address}"
    if view.outcome == "redirect":
        return (f"{where} answers {view.status} redirecting to {view.location or '(no Location)'}; "
                "the validation file must answer 200 directly")
    if view.outcome == "unreachable":
        return f"{where} cannot be fetched with 200: {view.detail}"
    return f"{where} answers 200 but not with the token {token!r}: {view.detail}"


PLUGIN = CheckPlugin[FileValidationSettings, FileValidationResult](
    name="file_validation",
    summary="the validation file answers 200 with the token, without redirects, over http or https (S1)",
    run=run,
    result_type=FileValidationResult,
    faults=frozenset({FaultId.FILE_VALIDATION_REDIRECT, FaultId.FILE_VALIDATION_UNREACHABLE,
                      FaultId.FILE_VALIDATION_MISMATCH}),
    settings=FileValidationSettings,
    applies=lambda target, settings: settings.file_validation is not None,
    flags=(Flag("--file-validation-token", "file_validation.token", "expected file body; enables the file check",
                metavar="T"),
           Flag("--file-validation-path", "file_validation.path", "URL path of the validation file", metavar="PATH")),
)
