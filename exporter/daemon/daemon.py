"""The daemon: config, scheduler, watched files, reload and state saving; no HTTP here."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from pathlib import Path

from exporter.config import Config, ConfigError, load_config
from exporter.daemon import statefile
from exporter.daemon.filewatch import CertFileWatcher
from exporter.daemon.fleet import Fleet
from exporter.daemon.scheduler import Scheduler
from exporter.daemon.workers import WorkerPool
from exporter.discovery.sharding import Shard
from exporter.engine.store import ResultsStore

log = logging.getLogger(__name__)

STATE_SAVE_SECONDS = 60.0


class Daemon:
    """The daemon's state: config, results store, scheduler and file watcher."""

    def __init__(self, config: Config, config_path: str | None = None, state_file: str | None = None,
                 shard: Shard | None = None, state_save_seconds: float = STATE_SAVE_SECONDS,
                 workers: int = 1, worker_args: tuple[str, ...] = ()) -> None:
        self.config = config
        self.workers = workers
        self._worker_args = worker_args
        self.config_path = config_path
        self.state_file = state_file
        self.state_save_seconds = state_save_seconds
        self._saver: asyncio.Task[None] | None = None
        self.store = ResultsStore()
        self.scheduler = Scheduler(self.store)
        self.file_watcher = CertFileWatcher(self.store)
        # Configured and discovered targets, this replica's shard of them, applied to the scheduler.
        self.fleet = Fleet(self.scheduler, self.store, shard)
        self._reload_lock = asyncio.Lock()

    async def start(self) -> None:
        if self.workers > 1:
            pool = WorkerPool(self.workers, self.config, self._worker_args)
            await pool.start()
            self.scheduler.pool = pool
        await self.fleet.start(self.config)
        self.file_watcher.apply(self.config)
        if self.state_file:
            self.store.state_file.enabled = True
            # Before the first runs: the saved results are served until fresh ones replace them.
            try:
                restored = statefile.restore(self.store, self.state_file)
            except Exception:
                log.exception("state file could not be loaded, starting without saved results")
                restored = 0
            if restored:
                log.info("results restored from the state file", extra={"path": self.state_file, "targets": restored})
            else:
                log.info("no saved results to restore: every target waits for its first run",
                         extra={"path": self.state_file})
            self._saver = asyncio.get_running_loop().create_task(self._save_every(self.state_save_seconds))
        self.scheduler.start()

    async def stop(self) -> None:
        if self._saver is not None:
            self._saver.cancel()
            await self.save_state()
        await self.file_watcher.stop()
        await self.fleet.stop()
        await self.scheduler.shutdown()

    async def save_state(self) -> bool:
        """Save now; a failure (disk full, permissions, a result that cannot be encoded) is logged and
        counted, never raised: the next save tries again."""
        if not self.state_file:
            return False
        try:
            await asyncio.to_thread(statefile.save, self.store, self.state_file)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the saver and the exit must go on
            self.store.state_file.save_failures += 1
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            log.error("cannot write the state file, will retry", extra={
                "path": self.state_file, "error": f"{type(exc).__name__}: {reason}"[:500]})
            return False
        self.store.state_file.last_success = time.time()
        return True

    async def _save_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.save_state()

    async def reload(self) -> tuple[bool, list[str]]:
        """Re-read the config file; a bad file keeps the old config running."""
        if self.config_path is None:
            return False, ["no config file to reload (started without --config.file)"]
        async with self._reload_lock:
            try:
                config = load_config(self.config_path)
            except ConfigError as exc:
                return self._reload_failed(exc.errors)
            try:
                # Validation checks what it can (CA files parse, key files readable); what still fails
                # (a file replaced since, a full disk) fails here, before discovery or the schedule change.
                self.scheduler.prepare(config)
            except Exception as exc:
                log.debug("config apply failed", exc_info=True)
                why = f"{self.config_path}: cannot apply the configuration: {type(exc).__name__}: {exc}"
                return self._reload_failed([why])
            self.config = config
            await self.fleet.apply(config)
            self.file_watcher.apply(config)
            self.store.reload.successful = True
            self.store.reload.success_timestamp = time.time()
            self.store.reload.last_error = None
            log.info("config reloaded", extra={"targets": len(config.targets)})
            return True, []


    def _reload_failed(self, errors: list[str]) -> tuple[bool, list[str]]:
        self.store.reload.successful = False
        self.store.reload.last_error = "; ".join(errors)
        for error in errors:
            log.error("config reload failed, keeping the running config", extra={"error": error})
        return False, errors


def _file_signature(path: str) -> tuple[float, int, str] | None:
    try:
        data = Path(path).read_bytes()
        stat = Path(path).stat()
    except OSError:
        return None
    return stat.st_mtime, stat.st_size, hashlib.sha256(data).hexdigest()


async def watch_config(daemon: Daemon, every: float) -> None:
    """Reload when the config file's content changes (polling: works on any filesystem and with
    ConfigMap symlink swaps, where inotify on the file itself misses the change)."""
    assert daemon.config_path
    last = _file_signature(daemon.config_path)
    while True:
        await asyncio.sleep(every)
        current = _file_signature(daemon.config_path)
        if current is not None and last is not None and current[2] != last[2]:
            log.info("config file changed, reloading", extra={"path": daemon.config_path})
            await daemon.reload()
        if current is not None:
            last = current
