"""`--web.config.file`: the exporter-toolkit format (TLS, mTLS, basic auth with bcrypt hashes)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import ssl
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exporter.config import ConfigError

ClientAuth = Literal[
    "NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"
]
_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
             "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSServerConfig(_Model):
    cert_file: str
    key_file: str
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: str | None = None
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS13"
    cipher_suites: tuple[str, ...] = ()  # OpenSSL names; accepted for compatibility
    curve_preferences: tuple[str, ...] = ()
    prefer_server_cipher_suites: bool = True

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"file {value!r} does not exist")
        return value


class HTTPServerConfig(_Model):
    http2: bool = False  # accepted for compatibility; aiohttp serves HTTP/1.1
    headers: dict[str, str] = Field(default_factory=dict)


class WebConfig(_Model):
    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = HTTPServerConfig()
    basic_auth_users: dict[str, str] = Field(default_factory=dict)

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for user, hashed in value.items():
            if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise ValueError(f"user {user!r}: expected a bcrypt hash ($2y$...), e.g. from `htpasswd -nBC 10 {user}`")
        return value

    def ssl_context(self) -> ssl.SSLContext | None:
        tls = self.tls_server_config
        if tls is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _VERSIONS[tls.min_version]
        ctx.maximum_version = _VERSIONS[tls.max_version]
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.cipher_suites:
            ctx.set_ciphers(":".join(tls.cipher_suites))
        if tls.client_auth_type != "NoClientCert":
            if tls.client_ca_file:
                ctx.load_verify_locations(tls.client_ca_file)
            required = tls.client_auth_type in ("RequireAnyClientCert", "RequireAndVerifyClientCert")
            ctx.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
        return ctx


def load_web_config(path: str) -> WebConfig:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(path, [f"{path}: cannot read web config: {exc}"]) from None
    try:
        config = WebConfig.model_validate(data)
        config.ssl_context()  # fail at start on unreadable keys or bad ciphers, not at the first request
    except ValidationError as exc:
        raise ConfigError(path, [f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                                 for e in exc.errors()]) from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(path, [f"{path}: tls_server_config: {exc}"]) from None
    return config


class BasicAuth:
    """Checks credentials with bcrypt; the same work is done for unknown users (no user enumeration by timing)."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = {u: h.encode() for u, h in users.items()}
        # The dummy hash for unknown users costs as much as the dearest real one: no timing difference.
        cost = max((int(h.split("$")[2]) for h in users.values() if h.count("$") >= 3 and h.split("$")[2].isdigit()),
                   default=10)
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=min(max(cost, 4), 31)))
        self._cache_key = secrets.token_bytes(32)
        self._verified: set[bytes] = set()  # HMACs of credentials already checked: bcrypt is slow by design

    def _parse(self, header: str | None) -> tuple[str, str, bytes, bytes] | None:
        """(user, password, hash to compare with, cache token), or None for a malformed header."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        hashed = self._users.get(user, self._dummy)
        token = hmac.new(self._cache_key, f"{user}\0{password}\0".encode() + hashed, hashlib.sha256).digest()
        return user, password, hashed, token

    def cached(self, header: str | None) -> bool | None:
        """True if these credentials were verified before, False if malformed, None if bcrypt must decide."""
        parsed = self._parse(header)
        if parsed is None:
            return False
        return True if parsed[3] in self._verified else None

    def check(self, header: str | None) -> bool:
        parsed = self._parse(header)
        if parsed is None:
            return False
        user, password, hashed, token = parsed
        if token in self._verified:
            return True
        # bcrypt reads 72 bytes at most: longer passwords are cut as htpasswd and Go's exporter-toolkit cut them
        # (the bcrypt module raises on them instead, which was a 500 and a traceback per request).
        ok = bcrypt.checkpw(password.encode()[:72], hashed) and user in self._users
        if ok and len(self._verified) < 1000:
            self._verified.add(token)
        return ok


# Liveness and readiness answer without credentials: they reveal nothing (a fixed text, or how
# many targets wait for their first probe), and Docker's HEALTHCHECK and Kubernetes' probes
# cannot send basic auth. TLS, when configured, still applies to them.
OPEN_PATHS = frozenset({"/-/healthy", "/-/ready"})


class PasswordChecks:
    """bcrypt runs in its own small pool, never the default one that renders /metrics, and the wait is
    bounded: beyond `max_pending` checks in flight a request is refused at once instead of queueing, so
    a flood of wrong passwords costs the attacker, not Prometheus."""

    def __init__(self, auth: BasicAuth, workers: int | None = None, max_pending: int = 16) -> None:
        self.auth = auth
        # Half the cores at most: bcrypt saturates each worker's core, and the event loop and the
        # /metrics renderer must keep one.
        workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self.max_pending = max_pending
        self._pending = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bcrypt")

    async def check(self, header: str | None) -> bool | None:
        """True/False, or None when too many checks are already waiting (answer 429)."""
        # Known-good credentials are answered on the loop without bcrypt: Prometheus' own scrapes
        # never wait behind the flood.
        known = self.auth.cached(header)
        if known is not None:
            return known
        if self._pending >= self.max_pending:
            return None
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self.auth.check, header)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def middleware(config: WebConfig, checks: PasswordChecks | None = None) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The web config's middleware; pass `checks` to own (and close) the password-check pool."""
    if checks is None and config.basic_auth_users:
        checks = PasswordChecks(BasicAuth(config.basic_auth_users))
    headers = config.http_server_config.headers

    @web.middleware
    async def secure(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        if checks is not None and request.path not in OPEN_PATHS:
            ok = await checks.check(request.headers.get("Authorization"))
            if ok is None:
                return web.Response(status=429, text="Too many password checks in progress, retry later\n",
                                    headers={"Retry-After": "1"})
            if not ok:
                return web.Response(status=401, text="Unauthorized\n",
                                    headers={"WWW-Authenticate": 'Basic realm="ssl-fault-exporter"'})
        response = await handler(request)
        response.headers.update(headers)
        return response

    return secure
