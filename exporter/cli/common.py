"""What every subcommand shares: exit codes, the argument parser class, logging flags, config loading."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from exporter.config import Config, ConfigError, load_config

EXIT_OK, EXIT_CRITICAL, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 too; keep its message format
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_logging(parser: argparse.ArgumentParser, default_level: str = "info") -> None:
    parser.add_argument("--log.level", dest="log_level", default=default_level,
                        choices=("debug", "info", "warning", "error"))
    # logfmt like Prometheus' own components; "plain" is its older name.
    parser.add_argument("--log.format", dest="log_format", default="logfmt", choices=("logfmt", "plain", "json"))


def add_event_loop(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime.event-loop", dest="event_loop", default="uvloop", choices=("uvloop", "asyncio"),
                        help="uvloop (default, when installed: ~1.2x the TLS handshakes per CPU second) or "
                             "the standard library's loop")


def loop_factory(name: str = "asyncio") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop to run on: uvloop when asked for and installed, else the standard one (None)."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_until_signalled(main_coro: Any, event_loop: str = "asyncio") -> None:
    """asyncio.run that turns SIGTERM/SIGINT into cancellation, so cleanup (lab temp dirs) runs."""
    async def runner() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]  # run inside a task: current_task() is set
        try:
            await main_coro
        except asyncio.CancelledError:
            pass

    with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner_:
        runner_.run(runner())


def check_listen(listen: str) -> str | None:
    from exporter.http.app import parse_listen_address

    try:
        parse_listen_address(listen)
    except ValueError as exc:
        return f"--web.listen-address: {exc}"
    return None


def load_or_report(path: str) -> Config | None:
    """The config, or None after printing every error (file:line: key: what was expected)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return None
