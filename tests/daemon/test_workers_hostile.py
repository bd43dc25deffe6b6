"""Probe workers under hostile conditions: results that do not cross the socket, workers that cannot
start, a worker that goes away while runs are being handed to it."""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import threading
import time
from typing import Any

import pytest

import exporter.daemon.worker as worker_module
from exporter.config import Config
from exporter.daemon import workers
from exporter.daemon.workers import WorkerPool, encode, read_message
from exporter.models import CheckOutcome, CheckResult, CheckStatus, ErrorKind
from exporter.target import Target
from tests.support.labs import run_async


def _target() -> Target:
    config = Config.model_validate({"targets": [{"host": "a.invalid", "timeout": 2}]})
    return config.resolved_targets()[0]


class _Unloadable:
    """Pickles fine, but cannot be unpickled (its constructor needs an argument pickle does not keep)."""

    def __init__(self, needed: str) -> None:
        self.needed = needed

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Unloadable, ())


def _result(target: Target, value: object) -> dict[str, CheckResult]:
    return {"dns": CheckResult(target.name, "dns", CheckStatus.OK, time.time(), 0.0, CheckOutcome(result=value))}


@pytest.mark.parametrize("value", [threading.Lock(), (lambda: 0)], ids=["lock", "lambda"])
def test_a_result_that_cannot_be_pickled_fails_that_run_at_once(monkeypatch: pytest.MonkeyPatch,
                                                                 value: object) -> None:
    """The worker answers "failed" for that run (not silence until timeout + grace) and keeps serving."""
    target = _target()
    calls = 0

    async def fake_run(t: Target, resources: Any) -> dict[str, CheckResult]:
        nonlocal calls
        calls += 1
        return _result(t, value if calls == 1 else "fine")

    monkeypatch.setattr(worker_module, "run_target", fake_run)

    async def go() -> None:
        parent, child = socket.socketpair()
        served = asyncio.ensure_future(worker_module.serve(child.detach()))
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        writer.write(encode(("settings", workers.resource_settings(Config()))))
        assert (await read_message(reader))[0] == "ready"
        writer.write(encode(("run", 1, target)))
        async with asyncio.timeout(5):
            kind, run_id, payload = await read_message(reader)
        assert (kind, run_id) == ("failed", 1), payload
        writer.write(encode(("run", 2, target)))
        async with asyncio.timeout(5):
            kind, run_id, payload = await read_message(reader)
        assert (kind, run_id) == ("results", 2)
        writer.close()
        async with asyncio.timeout(5):
            await served

    run_async(go())


def test_results_the_parent_cannot_unpickle_fail_that_run_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A result that pickles in the worker but does not load in the parent: that run is "could not
    judge", the worker is not restarted and its other runs go on."""
    target = _target()
    monkeypatch.setattr(workers, "RESTART_DELAY_SECONDS", 0.1)

    async def go() -> None:
        pool = WorkerPool(1, Config())
        await pool.start()
        try:
            # The worker runs the real engine, which gives no such result: the frame it would write is
            # fed to the parent's reader of that worker's socket.
            w = pool._workers[0]
            pid = pool.pids()[0]
            future: asyncio.Future[dict[str, CheckResult]] = asyncio.get_running_loop().create_future()
            w.pending[99] = (target, future)
            reader = _reader_of(w)
            reader.feed_data(encode(("results", 99, pickle.dumps(_result(target, _Unloadable("x"))))))
            async with asyncio.timeout(5):
                got = await future
            assert {(r.status, r.error_kind) for r in got.values()} == {(CheckStatus.ERROR, ErrorKind.INTERNAL)}
            assert "could not be read" in (got["dns"].error or "")
            await asyncio.sleep(0.3)
            assert pool.restarts == 0 and pool.pids() == [pid]
        finally:
            await pool.close()

    run_async(go())


def _reader_of(w: Any) -> asyncio.StreamReader:
    coro = w.reader_task.get_coro()
    return coro.cr_frame.f_locals["reader"]
