"""Probe workers: child processes that run targets, so a large fleet uses more than one core.

Python runs one event loop on one core; TLS handshakes, parsing and verdicts are CPU work. With
`--runtime.workers N` (N > 1) the daemon keeps scheduling, results, discovery and HTTP, and hands
each run to one of N worker processes (`python -m exporter.daemon.worker`), always the same one for a
target, so a worker's caches (chain verdicts, server configuration) serve that target run after run.

The parent and a worker talk over a socket pair in length-prefixed pickles: the parent sends the
resource settings (resolver, trust, limits) and targets, the worker answers results. Only these two
processes hold the sockets; nothing from outside is ever unpickled. A worker that dies fails its
runs in flight (each check "could not judge": internal) and is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import pickle
import socket
import struct
import sys
import time
import zlib
from typing import Any

from exporter.config import Config
from exporter.engine.context import Resources
from exporter.models import CheckResult, CheckStatus, ErrorKind
from exporter.target import Target

log = logging.getLogger(__name__)

FRAME = struct.Struct("!I")
MAX_FRAME = 64 * 1024 * 1024  # a results message is a few KiB; anything near this is a bug
GRACE_SECONDS = 30.0  # beyond a target's own timeout before the parent stops waiting for a run
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 60.0  # a worker that keeps dying at once (a broken install) is retried this often
STABLE_SECONDS = 60.0  # a worker that ran this long before dying is restarted after the first delay again
READY_SECONDS = 60.0  # a worker imports the exporter and builds its resources (trust roots) first


def resource_settings(config: Config) -> dict[str, Any]:
    """What a worker needs to build its Resources: the resolver, trust and limits sections."""
    return {"resolver": config.resolver.model_dump(mode="json"), "trust": config.trust.model_dump(mode="json"),
            "limits": config.limits.model_dump(mode="json")}


def encode(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> Any:
    (size,) = FRAME.unpack(await reader.readexactly(FRAME.size))
    if size > MAX_FRAME:
        raise ValueError(f"a worker message of {size} bytes")
    return pickle.loads(await reader.readexactly(size))


def failed_run(target: Target, why: str) -> dict[str, CheckResult]:
    """Every check of the target as "could not judge" (internal), when its worker could not answer."""
    now = time.time()
    return {name: CheckResult(target.name, name, CheckStatus.ERROR, now, 0.0, error_kind=ErrorKind.INTERNAL,
                              error=why) for name in target.checks}


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pending: dict[int, tuple[Target, asyncio.Future[dict[str, CheckResult]]]] = {}
        self.reader_task: asyncio.Task[None] | None = None
        self.restarter: asyncio.Task[None] | None = None  # held: the loop keeps only weak references
        self.started_at = 0.0
        self.quick_deaths = 0  # restarts in a row of a worker that died soon after starting


class WorkerPool:
    def __init__(self, count: int, config: Config, child_args: tuple[str, ...] = ()) -> None:
        self.count = count
        self._child_args = child_args  # log level, log format, event loop
        self._settings = resource_settings(config)
        self._workers = [_Worker(i) for i in range(count)]
        self._ids = itertools.count()
        self._closing = False
        self.restarts = 0

    async def start(self) -> None:
        for worker in self._workers:
            await self._spawn(worker)

    async def _spawn(self, worker: _Worker) -> None:
        worker.started_at = time.monotonic()
        parent, child = socket.socketpair()
        try:
            worker.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "exporter.daemon.worker", str(child.fileno()), *self._child_args,
                pass_fds=(child.fileno(),))
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        reader, worker.writer = await asyncio.open_unix_connection(sock=parent)
        worker.writer.write(encode(("settings", self._settings)))
        try:
            async with asyncio.timeout(READY_SECONDS):  # imported and holding its resources
                ready = await read_message(reader)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            ready = ("failed", 0, f"{type(exc).__name__}: {exc}")
        if ready[0] != "ready":
            log.error("probe worker did not start", extra={"worker": worker.index, "error": str(ready[2])[:300]})
        worker.reader_task = asyncio.get_running_loop().create_task(self._read(worker, reader))
        log.info("probe worker started", extra={"worker": worker.index, "pid": worker.process.pid})

    async def _read(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                kind, run_id, payload = await read_message(reader)
                entry = worker.pending.pop(run_id, None)
                if entry is None or entry[1].done():
                    continue  # the parent stopped waiting for it
                target, future = entry
                if kind == "results":
                    try:
                        future.set_result(pickle.loads(payload))
                    except Exception as exc:  # noqa: BLE001 - a result that does not load fails its run only
                        log.error("probe worker results could not be read", extra={
                            "worker": worker.index, "target": target.name, "error": f"{type(exc).__name__}: {exc}"[:300]})
                        future.set_result(failed_run(target, f"probe worker results could not be read: {exc}"[:500]))
                else:
                    future.set_result(failed_run(target, f"probe worker: {payload}"[:500]))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, pickle.UnpicklingError) as exc:
            if not self._closing:
                log.error("probe worker stopped answering, restarting it",
                          extra={"worker": worker.index, "error": f"{type(exc).__name__}: {exc}"[:300]})
        finally:
            if worker.writer is not None:
                worker.writer.close()  # from now on its targets fail at once, none is handed to it
            for target, future in worker.pending.values():
                if not future.done():
                    future.set_result(failed_run(target, "the probe worker running this target exited"))
            worker.pending.clear()
            if not self._closing:
                worker.restarter = asyncio.get_running_loop().create_task(self._restart(worker))

    async def _restart(self, worker: _Worker) -> None:
        await self._stop_process(worker)
        while True:
            # Doubling while it keeps dying soon after its start: a worker that cannot start must not
            # be restarted (and logged) every second for ever.
            quick = time.monotonic() - worker.started_at < STABLE_SECONDS
            worker.quick_deaths = worker.quick_deaths + 1 if quick else 1
            await asyncio.sleep(min(MAX_RESTART_DELAY_SECONDS, RESTART_DELAY_SECONDS * 2 ** (worker.quick_deaths - 1)))
            if self.closed():
                return
            self.restarts += 1
            try:
                await self._spawn(worker)
                return
            except OSError as exc:  # out of file descriptors or processes: try again later, never give up
                log.error("probe worker could not be started", extra={"worker": worker.index, "error": str(exc)[:300]})

    def closed(self) -> bool:
        return self._closing

    def configure(self, config: Config) -> None:
        """New resource settings (a reload changed the resolver, trust or limits): every worker rebuilds."""
        settings = resource_settings(config)
        if settings == self._settings:
            return
        self._settings = settings
        for worker in self._workers:
            if worker.writer is not None and not worker.writer.is_closing():
                worker.writer.write(encode(("settings", settings)))

    def worker_of(self, target: Target) -> int:
        return zlib.crc32(target.name.encode()) % self.count

    async def run_target(self, target: Target, resources: Resources | None = None) -> dict[str, CheckResult]:
        """Run `target` in its worker (the parent's `resources` are not used: each worker has its own)."""
        worker = self._workers[self.worker_of(target)]
        if worker.writer is None or worker.writer.is_closing():
            return failed_run(target, "the probe worker for this target is restarting")
        run_id = next(self._ids)
        future: asyncio.Future[dict[str, CheckResult]] = asyncio.get_running_loop().create_future()
        worker.pending[run_id] = (target, future)
        worker.writer.write(encode(("run", run_id, target)))
        try:
            async with asyncio.timeout(target.timeout + GRACE_SECONDS):
                return await future
        except TimeoutError:
            return failed_run(target, f"the probe worker gave no results within {target.timeout + GRACE_SECONDS:g}s")
        finally:
            worker.pending.pop(run_id, None)

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None]

    async def _stop_process(self, worker: _Worker) -> None:
        if worker.writer is not None:
            worker.writer.close()
        process = worker.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(5):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()

    async def close(self) -> None:
        self._closing = True
        for worker in self._workers:
            if worker.restarter is not None and not worker.restarter.done():
                # Before stopping the process: a restart half-way through would start one after.
                worker.restarter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.restarter
            await self._stop_process(worker)
            if worker.reader_task is not None:
                worker.reader_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.reader_task
