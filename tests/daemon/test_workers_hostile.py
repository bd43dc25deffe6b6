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
    reader: asyncio.StreamReader = coro.cr_frame.f_locals["reader"]
    return reader


def test_a_worker_that_cannot_start_is_restarted_less_and_less_often(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A worker dying at start (here: a log level it rejects) is not restarted every second for ever:
    the delay doubles, so the log is not flooded; its targets fail at once as could-not-judge."""
    monkeypatch.setattr(workers, "RESTART_DELAY_SECONDS", 0.3)
    target = _target()
    started: list[float] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "probe worker started":
                started.append(record.created)

    async def go() -> None:
        pool = WorkerPool(1, Config(), child_args=("no-such-level",))
        await pool.start()
        try:
            async with asyncio.timeout(20):
                while len(started) < 4:  # noqa: ASYNC110 - polled, the pool has no event for it
                    await asyncio.sleep(0.05)
            failed = await pool.run_target(target)
            assert {(r.status, r.error_kind) for r in failed.values()} == {(CheckStatus.ERROR, ErrorKind.INTERNAL)}
        finally:
            await pool.close()

    spy = Spy()
    logging.getLogger("exporter.daemon.workers").addHandler(spy)
    try:
        with caplog.at_level(logging.INFO, logger="exporter.daemon.workers"):
            run_async(go())
    finally:
        logging.getLogger("exporter.daemon.workers").removeHandler(spy)
    gaps = [b - a for a, b in zip(started, started[1:], strict=False)]
    # Each gap is the time to start and die (~0.8 s) plus the delay: 0.3, 0.6, 1.2 s.
    assert len(gaps) >= 3 and gaps[2] - gaps[0] > 0.6, gaps


def test_closing_while_a_worker_is_being_restarted_leaves_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM to serve right after a worker died: the restart in progress must not start a worker
    after the pool closed (an orphan holding a socket until serve exits), nor leak descriptors."""
    monkeypatch.setattr(workers, "RESTART_DELAY_SECONDS", 0.01)
    import os
    import signal

    async def go() -> None:
        fds_before = len(os.listdir("/proc/self/fd"))
        pool = WorkerPool(1, Config())
        await pool.start()
        first = pool.pids()[0]
        os.kill(first, signal.SIGKILL)
        async with asyncio.timeout(10):
            while not pool.restarts:  # noqa: ASYNC110 - the restart is now starting a new process
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)  # inside _spawn: process started, waiting for it to be ready
        spawned = set(pool.pids()) - {first}
        await pool.close()
        children = _children()
        assert not children, children
        assert len(os.listdir("/proc/self/fd")) <= fds_before + 1, spawned

    run_async(go())


def _children() -> list[str]:
    import os
    me = str(os.getpid())
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = open(f"/proc/{pid}/stat").read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[1] == me:
                out.append(f"{pid} {fields[0]}")
    return out
