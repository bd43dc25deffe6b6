"""file_sd: target files matched by globs, stat()ed every refresh_interval and re-read when changed.

Polling, like `watch_config`: it works on any filesystem and sees Kubernetes ConfigMap symlink
swaps (the signature follows symlinks). A file that cannot be read or parsed keeps the targets
it had at its last good read; a file that no longer matches the globs takes its targets away.
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from exporter.config import Config, FileSdConfig, TargetConfig, _line_of, _LineLoader, resolve_target
from exporter.discovery.groups import DiscoveryError, parse_groups
from exporter.target import Target

log = logging.getLogger(__name__)

MAX_FILES = 1_000  # per file_sd entry; a glob that matches a whole disk must not swamp the exporter
MAX_FILE_BYTES = 64 * 1024 * 1024
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Signature = tuple[int, int, int]


@dataclass(frozen=True)
class FileState:
    signature: Signature | None  # None: could not be read, retried at the next refresh
    targets: tuple[TargetConfig, ...] = ()  # from the last good read
    error: str | None = None  # the last read's problem, if it failed
    last_success: float | None = None


@dataclass(frozen=True)
class Scan:
    files: dict[str, FileState] = field(default_factory=dict)
    errors: list[DiscoveryError] = field(default_factory=list)  # reads that failed in this scan
    changed: bool = False  # the set of files or some file's targets changed


def _signature(path: str) -> Signature | None:
    try:
        stat = os.stat(path)  # follows symlinks: a ConfigMap's ..data swap changes the inode
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def expand(spec: FileSdConfig) -> list[str]:
    paths: dict[str, None] = {}
    for pattern in spec.files:
        for path in sorted(glob.glob(pattern)):
            if len(paths) >= MAX_FILES:
                break
            if os.path.isfile(path):  # regular files (or links to them) only: a FIFO would block the read
                paths[path] = None
    return list(paths)


def _line_finder(text: str) -> Any:
    """index -> line of the group in a YAML file (a second, slower parse, only when reporting errors)."""
    loader = _LineLoader(text)
    loader.key_lines = {}
    try:
        lined = loader.get_single_data()
    except yaml.YAMLError:
        return lambda index: None
    finally:
        loader.dispose()
    key_lines = loader.key_lines

    def line_of(index: int) -> int | None:
        group = lined[index] if isinstance(lined, list) and index < len(lined) else None
        if isinstance(group, dict) and group:
            return _line_of((next(iter(group)),), group, key_lines)
        return None

    return line_of


def read_file(path: str) -> tuple[TargetConfig, ...]:
    """The targets of one file; raises DiscoveryError naming the file (and line and entry)."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DiscoveryError(path, [f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise DiscoveryError(path, [f"{path}: larger than {MAX_FILE_BYTES} bytes"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DiscoveryError(path, [f"{path}: not UTF-8 text: {exc}"]) from None
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.load(text, Loader=_FAST_LOADER)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if path.endswith(".json") else "YAML"
        raise DiscoveryError(path, [f"{path}: not valid {kind}: {exc}"]) from None
    if data is None:
        data = []  # an empty YAML file: no targets, like Prometheus
    try:
        return tuple(parse_groups(data, path))
    except DiscoveryError:
        if path.endswith(".json"):
            raise
        # Again with the line of each group, for the message.
        return tuple(parse_groups(data, path, line_of=_line_finder(text)))


def scan(spec: FileSdConfig, previous: dict[str, FileState], now: float) -> Scan:
    """Expand the globs and re-read the files whose signature changed (blocking: run in a thread)."""
    files: dict[str, FileState] = {}
    errors: list[DiscoveryError] = []
    changed = set(previous) != set(paths := expand(spec))
    for path in paths:
        old = previous.get(path)
        signature = _signature(path)
        if old is not None and signature is not None and old.signature == signature:
            files[path] = old
            continue
        try:
            targets = read_file(path)
        except DiscoveryError as exc:
            errors.append(exc)
            kept = old.targets if old else ()
            # Unreadable: no signature, so the next refresh tries again; unparsable: wait for a change.
            readable = not exc.errors[0].startswith(f"{path}: cannot read")
            files[path] = FileState(signature if readable else None, kept, "; ".join(exc.errors),
                                    old.last_success if old else None)
            continue
        changed = changed or old is None or old.targets != targets
        files[path] = FileState(signature, targets, None, now)
    return Scan(files, errors, changed)


class FileSdSource:
    mechanism = "file_sd"

    def __init__(self, spec: FileSdConfig) -> None:
        self.spec = spec
        self.interval = spec.refresh_interval
        self.files: dict[str, FileState] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, now: float) -> tuple[bool, list[DiscoveryError]]:
        """Re-read what changed; returns (targets changed, problems). Problems keep the last good targets."""
        async with self._lock:
            result = await asyncio.to_thread(scan, self.spec, self.files, now)
            for path in sorted(set(self.files) - set(result.files)):
                log.warning("file_sd file no longer matched (deleted or renamed): its targets are dropped",
                            extra={"path": path, "targets": len(self.files[path].targets)})
            for path in sorted(set(result.files) - set(self.files)):
                log.info("file_sd file found", extra={"path": path, "targets": len(result.files[path].targets)})
            self.files = result.files
            return result.changed, result.errors

    def sources(self) -> list[tuple[str, tuple[TargetConfig, ...], str | None, float | None]]:
        return [(path, state.targets, state.error, state.last_success) for path, state in self.files.items()]

    async def close(self) -> None:
        return None


def check_all(specs: tuple[FileSdConfig, ...]) -> tuple[int, int, list[str]]:
    """Read every file the globs match now: (targets, files, errors), for `sslfault check-config`."""
    targets, files, errors = 0, 0, []
    for path in dict.fromkeys(p for spec in specs for p in expand(spec)):
        files += 1
        try:
            targets += len(read_file(path))
        except DiscoveryError as exc:
            errors += exc.errors
    return targets, files, errors


def discovered_targets(config: Config) -> tuple[list[Target], list[str]]:
    """The targets the config's file_sd files give now, with the config's defaults, after the configured
    ones (a configured name wins, as in serve), and the errors; for `sslfault check`."""
    names = {t.name for t in config.resolved_targets()}
    targets, errors = [], []
    for path in dict.fromkeys(p for spec in config.discovery.file_sd for p in expand(spec)):
        try:
            found = read_file(path)
        except DiscoveryError as exc:
            errors += exc.errors
            continue
        for target_config in found:
            try:
                target = resolve_target(target_config, config.defaults)
            except (ValidationError, ValueError) as exc:
                errors.append(f"{path}: {target_config.host}: {str(exc).splitlines()[0]}")
                continue
            if target.name not in names:
                names.add(target.name)
                targets.append(target)
    return targets, errors
