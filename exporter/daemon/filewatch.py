"""Watched certificate files: each file matching a `cert_files` glob is a target named `file:<path>`.

A file is re-linted when it changes (inode, mtime or size of what the path resolves to,
so certbot's symlink swaps count) and at least once per interval, by the `cert_files`
check through the same runner as every other check. A read or parse error is a fault on
that file, never a crash.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from exporter.checks.cert_files import PLUGIN as CERT_FILES
from exporter.checks.cert_files import CertFileSettings
from exporter.config import CertFilesConfig, Config
from exporter.engine.context import ProbeContext, Resources
from exporter.engine.runner import run_check
from exporter.engine.store import ResultsStore
from exporter.target import Target

log = logging.getLogger(__name__)

CHECK_NAME = CERT_FILES.name
GROUP = "files"
MAX_FILES = 10_000  # a glob that matches a whole disk must not swamp the exporter


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
                settings=((CHECK_NAME, CertFileSettings(key_path=_key_for(spec, path), password_file=spec.password_file,
                                                        password_env=spec.password_env)),),
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
        self._resources: Resources | None = None

    def apply(self, config: Config) -> None:
        self.config = config
        old, self._resources = self._resources, None  # made anew for this config when first needed
        if old is not None:
            old.retire()  # closed once a lint in flight that holds it is done
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
        if self._resources is not None:
            await self._resources.close()
            self._resources = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:
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
            if self._resources is None:
                self._resources = Resources(config)
            async with self._resources.use() as resources:
                result = await run_check(CHECK_NAME, CERT_FILES, item.target, ProbeContext(item.target, resources))
            self.store.record(item.target, {CHECK_NAME: result})
