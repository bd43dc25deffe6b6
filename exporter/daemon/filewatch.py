"""Watched certificate files: each file matching a `cert_files` glob is a target named `file:<path>`.

A file is re-linted when it changes (inode, mtime or size of what the path resolves to,
so certbot's symlink swaps count) and at least once per interval. A read or parse error
is a fault on that file, never a crash.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from exporter.certfiles.lint import lint_files
from exporter.pki.certinfo import CertSummary
from exporter.config import CertFilesConfig, Config, Target
from exporter.models import CheckOutcome, CheckResult, CheckStatus, ErrorKind
from exporter.engine.store import ResultsStore

log = logging.getLogger(__name__)

CHECK_NAME = "cert_files"
GROUP = "files"
MAX_FILES = 10_000  # a glob that matches a whole disk must not swamp the exporter


@dataclass(frozen=True)
class CertFilesResult:
    certificates: tuple[CertSummary, ...]  # leaf first


@dataclass(frozen=True)
class WatchedFile:
    target: Target
    spec: CertFilesConfig
    key_path: str | None


def _signature(path: str | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        stat = os.stat(path)  # follows symlinks: a swapped live/ link changes the inode
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _key_for(spec: CertFilesConfig, path: str) -> str | None:
    if not spec.key:
        return None
    file = Path(path)
    return spec.key.format(dir=str(file.parent), name=file.name, stem=file.stem)


def _password(spec: CertFilesConfig) -> bytes | None:
    if spec.password_env:
        value = os.environ.get(spec.password_env)
        return value.encode() if value is not None else None
    if spec.password_file:
        try:
            return Path(spec.password_file).read_bytes().rstrip(b"\r\n")
        except OSError:
            return None
    return None


def expand(config: Config) -> list[WatchedFile]:
    files: dict[str, WatchedFile] = {}
    for spec in config.cert_files:
        for path in sorted(glob.glob(spec.path))[:MAX_FILES]:
            # Regular files only (a FIFO would block the read forever); a dangling symlink stays, and is
            # reported as unreadable, since that is what a half-finished certbot swap looks like.
            if path in files or len(files) >= MAX_FILES or (os.path.exists(path) and not Path(path).is_file()):
                continue
            target = Target(
                name=f"file:{path}", host=path, port=0,
                interval=spec.interval or config.defaults.interval, timeout=config.defaults.timeout, jitter=0,
                expiry_warning_days=spec.expiry_warning_days or config.defaults.expiry_warning_days,
                checks=(CHECK_NAME,),
            )
            files[path] = WatchedFile(target, spec, _key_for(spec, path))
    return list(files.values())


class CertFileWatcher:
    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self.config: Config | None = None
        self._seen: dict[str, tuple[object, float]] = {}  # path -> (signature, last lint monotonic)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def apply(self, config: Config) -> None:
        self.config = config
        self._seen.clear()  # settings may have changed: re-lint everything now
        self._wake.set()
        if self._task is None and config.cert_files:
            self._task = asyncio.get_running_loop().create_task(self._loop())
        if not config.cert_files:
            self.store.set_targets([], GROUP)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:  # noqa: BLE001 - a bad glob or disk error must not end the watcher
                log.exception("watching certificate files failed")
            self._wake.clear()
            poll = min((spec.poll for spec in self.config.cert_files), default=5.0) if self.config else 5.0
            try:
                await asyncio.wait_for(self._wake.wait(), poll)
            except TimeoutError:
                pass

    async def scan(self) -> None:
        """Expand the globs, then lint each file that changed or is due."""
        assert self.config is not None
        config = self.config
        watched = await asyncio.to_thread(expand, config)
        self.store.set_targets([w.target for w in watched], GROUP)
        for name in set(self._seen) - {w.target.name for w in watched}:
            del self._seen[name]
        now = time.monotonic()
        for item in watched:
            signature = (_signature(item.target.host), _signature(item.key_path))
            seen = self._seen.get(item.target.name)
            if seen and seen[0] == signature and now - seen[1] < item.target.interval:
                continue
            self._seen[item.target.name] = (signature, now)
            result = await asyncio.to_thread(lint_one, item, config)
            self.store.record(item.target, {CHECK_NAME: result})


def lint_one(item: WatchedFile, config: Config) -> CheckResult:
    started, start = time.time(), time.monotonic()
    try:
        linted = lint_files(
            [item.target.host], key_path=item.key_path, password=_password(item.spec),
            ca_file=config.trust.ca_files, use_system_roots=config.trust.use_system,
            now=dt.datetime.now(dt.timezone.utc), expiry_warning_days=item.target.expiry_warning_days,
        )
    except Exception as exc:  # noqa: BLE001 - lint_files promises not to raise; belt and braces
        return CheckResult(item.target.name, CHECK_NAME, CheckStatus.ERROR, started, time.monotonic() - start,
                           error_kind=ErrorKind.INTERNAL, error=f"{type(exc).__name__}: {exc}"[:500])
    outcome = CheckOutcome(linted.findings, CertFilesResult(linted.certificates))
    return CheckResult(item.target.name, CHECK_NAME, CheckStatus.OK, started, time.monotonic() - start, outcome)
