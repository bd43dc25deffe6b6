"""Tiny servers on 127.0.0.1 that serve exactly one (often hostile) thing, and running one check on them."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.checks.mixed_content import MixedContentResult
from exporter.config import Config
from exporter.engine.runner import run_first_target
from exporter.models import CheckResult, CheckStatus
from sslfault_lab.pki import LabPKI

TIMEOUT = 2.0  # the targets' check timeout
INSECURE = "http://insecure.test"  # never answers (the configured resolver does not either)


@dataclass(frozen=True)
class Page:
    body: bytes = b""
    ctype: str = "text/html; charset=utf-8"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # before answering (long: never)


class Site:
    """One server on 127.0.0.1 (TLS unless context is None) answering fixed pages by path."""

    def __init__(self, pages: dict[str, Page], context: ssl.SSLContext | None) -> None:
        self.pages, self.context = pages, context
        self.port = 0
        self.connections = 0  # accepted (over TLS: handshakes completed), requests or not
        self.requests: list[str] = []  # paths asked for, in order
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Site:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            path = head.split(b" ", 2)[1].decode().split("?")[0]
            self.requests.append(path)
            page = self.pages.get(path, Page(b"not found", "text/plain", 404))
            await asyncio.sleep(page.delay)
            headers = "".join(f"{k}: {v}\r\n" for k, v in (("Content-Type", page.ctype), *page.headers))
            writer.write(f"HTTP/1.1 {page.status} X\r\n{headers}Content-Length: {len(page.body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + page.body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


@dataclass(frozen=True)
class Tls:
    context: ssl.SSLContext
    root_file: str


def make_tls(pki: LabPKI, directory: Path) -> Tls:
    leaf = pki.issue_leaf(["127.0.0.1"])
    chain, key, root = (Path(directory, n) for n in ("chain.pem", "key.pem", "root.pem"))
    chain.write_bytes(leaf.cert_pem + pki.ecc_intermediate.cert_pem)
    key.write_bytes(leaf.key_pem)
    root.write_bytes(pki.root.cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    return Tls(context, str(root))


def site_config(tls: Tls, port: int, check: str, limits: dict[str, Any] | None = None, **target: Any) -> Config:
    return Config.model_validate({
        "defaults": {"timeout": TIMEOUT},
        "trust": {"use_system": False, "ca_files": [tls.root_file]},
        "resolver": {"nameservers": ["127.0.0.1:9"], "timeout": "1s"},
        "targets": [{"host": "127.0.0.1", "port": port, "checks": [check], **target}],
        "limits": limits or {},
    })


async def check_on(tls: Tls, pages: dict[str, Page], check: str = "mixed_content", limits: dict[str, Any] | None = None,
                   **target: Any) -> CheckResult:
    async with Site(pages, tls.context) as site:
        return (await run_first_target(site_config(tls, site.port, check, limits, **target)))[check]


def scanned(result: CheckResult) -> MixedContentResult:
    assert result.status is CheckStatus.OK, result.error
    assert isinstance(result.outcome.result, MixedContentResult)
    return result.outcome.result


def html_page(body: str, head: str = "") -> bytes:
    return f"<!doctype html><html><head><title>t</title>{head}</head><body>{body}</body></html>".encode()


