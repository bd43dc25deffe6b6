"""A SharedGet answers each reader as a request of its own with the reader's cap would have been answered;
a real server on 127.0.0.1 that sends part of what it promised and then closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import aiohttp
import pytest

from exporter.net.pinned import Response, SharedGet, pinned_get, pinned_request

SENT = 300_000  # bytes the server sends of the 600,000 its Content-Length promises


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, list[int]]]:
    """Its port and a list with one entry per request it answered."""
    requests: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        requests.append(1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 600000\r\n\r\n" + b"x" * SENT)
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1], requests
    finally:
        listening.close()
        await listening.wait_closed()


def _request(session: aiohttp.ClientSession, port: int) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    return pinned_request(session, "http", "127.0.0.1", port, "site.test", "/", sni=None, ssl_context=None, timeout=5)


async def _alone(session: aiohttp.ClientSession, port: int, cap: int) -> Response | str:
    try:
        return await pinned_get(session, "http", "127.0.0.1", port, "site.test", "/", sni=None, ssl_context=None,
                                timeout=5, max_bytes=cap)
    except aiohttp.ClientError as exc:
        return type(exc).__name__


async def _shared(shared: SharedGet, cap: int) -> Response | str:
    try:
        return await shared.response(cap)
    except aiohttp.ClientError as exc:
        return type(exc).__name__


async def test_each_reader_gets_what_its_own_request_would_have(server: tuple[int, list[int]]) -> None:
    port, requests = server
    caps = (1024, SENT - 1, SENT, 2 * SENT)  # cut before the end of what came; just past; all of it; more
    async with aiohttp.ClientSession() as session:
        alone = [await _alone(session, port, cap) for cap in caps]
        shared = SharedGet(f"http://site.test:{port}/", caps[0])
        assert all(shared.covers(cap) for cap in caps)
        answers = asyncio.gather(*(_shared(shared, cap) for cap in caps))
        await shared.run(_request(session, port))
        together = await answers
    assert together == alone
    assert [a if isinstance(a, str) else (len(a.body), a.truncated) for a in together] == [
        (1024, True), (SENT - 1, True), "ClientPayloadError", "ClientPayloadError"]
    assert len(requests) == len(caps) + 1  # one each alone, one for all the readers together


async def test_a_reader_after_a_read_cut_short_of_its_cap_is_not_covered(server: tuple[int, list[int]]) -> None:
    port, _ = server
    async with aiohttp.ClientSession() as session:
        shared = SharedGet(f"http://site.test:{port}/", 1024)
        await shared.run(_request(session, port))
    assert shared.covers(1024)  # what was read answers it: more than 1,024 bytes came
    assert not shared.covers(10 * SENT)  # the read stopped near 1,024 bytes: this cap needs its own request
