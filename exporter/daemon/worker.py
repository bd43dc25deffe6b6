"""A probe worker process (see daemon/workers): runs the targets its parent sends, answers results.

Started as `python -m exporter.daemon.worker FD` with FD one end of a socket pair; it exits when the
parent closes its end (or dies) and on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import signal
import socket
import sys
from typing import Any

from exporter.aio import loop_factory, tune_gc
from exporter.config import Config
from exporter.daemon.workers import encode, read_message
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from exporter.logs import setup_logging
from exporter.target import Target

log = logging.getLogger("exporter.daemon.worker")


class _Runner:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.resources: Resources | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def settings(self, settings: dict[str, Any]) -> None:
        old, self.resources = self.resources, Resources(Config.model_validate(settings))
        if old is not None:
            old.retire()  # closed when the runs still holding it end

    def run(self, run_id: int, target: Target) -> None:
        task = asyncio.get_running_loop().create_task(self._run(run_id, target))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, run_id: int, target: Target) -> None:
        assert self.resources is not None
        try:
            async with self.resources.use() as resources:
                results = await run_target(target, resources)
            # Pickled on their own: a result that cannot be pickled fails this run, not the worker's
            # answer (the parent would wait out timeout + grace), and one the parent cannot unpickle
            # fails only this run there too.
            message: tuple[str, int, Any] = ("results", run_id, pickle.dumps(results, pickle.HIGHEST_PROTOCOL))
        except Exception as exc:
            log.exception("run failed in the probe worker", extra={"target": target.name})
            message = ("failed", run_id, f"{type(exc).__name__}: {exc}"[:500])
        if not self.writer.is_closing():
            self.writer.write(encode(message))


async def serve(fd: int) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))
    runner = _Runner(writer)
    try:
        while True:
            try:
                message = await read_message(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the parent is gone
            if message[0] == "settings":
                first = runner.resources is None
                runner.settings(message[1])
                if first:
                    writer.write(encode(("ready", 0, None)))
            elif message[0] == "run":
                runner.run(message[1], message[2])
    finally:
        for task in list(runner.tasks):
            task.cancel()
        if runner.resources is not None:
            await runner.resources.close()


async def _until_terminated(fd: int) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await serve(fd)


def main(argv: list[str]) -> int:
    """argv: FD [LOG_LEVEL LOG_FORMAT EVENT_LOOP]"""
    fd, level, form, event_loop = (argv + ["", "warning", "logfmt", "uvloop"][len(argv):])[:4]
    setup_logging(level, form)
    tune_gc()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
        runner.run(_until_terminated(int(fd)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
