"""The latest results saved to a file and loaded at start, so a restart does not make alerts flap.

The file is plain JSON (exporter.daemon.codec): every value is rebuilt by walking the type the
exporter expects there (Target, CheckResult and, per check, its result type), never by a name
the file gives, and anything that does not fit is rejected. A file that cannot be used (missing,
truncated, wrong types, nested or huge) is logged and ignored, so the exporter starts as without
one; one bad entry is skipped and the others are kept. Saving replaces the file atomically.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from exporter import __version__
from exporter.daemon.codec import CodecError, decode, encode
from exporter.engine.store import ResultsStore
from exporter.models import CheckOutcome, CheckResult
from exporter.target import Target

log = logging.getLogger(__name__)

FORMAT = 2  # 1: the same data with type tags ({"__dc__": ...}); still read, never written
MAX_FILE_BYTES = 256 * 1024 * 1024  # ~10 KB per target: room for 25,000 targets

ResultTypes = Mapping[str, type]  # check name -> the type of its CheckOutcome.result


def default_result_types() -> dict[str, type]:
    """Each check's result type, as its plugin declares it."""
    from exporter.checks import PLUGINS

    return {name: plugin.result_type for name, plugin in PLUGINS.items()}


def _settings_types() -> dict[str, type[BaseModel]]:
    from exporter.checks import PLUGINS

    return {name: plugin.settings for name, plugin in PLUGINS.items()}


# -- saving --------------------------------------------------------------------------------


def encode_entry(target: Target, results: Mapping[str, CheckResult], last_run: float) -> dict[str, Any]:
    return {"target": encode(target), "last_run": encode(last_run),
            "results": {name: encode(result, f"$.results.{name}") for name, result in results.items()}}


def save(store: ResultsStore, path: str) -> int:
    """Write every target's latest results, replacing the file atomically; returns how many were saved.

    An entry that cannot be encoded is logged and left out; any other failure raises (OSError...)
    and leaves the previous file as it was."""
    entries = []
    for state in store.states():
        if state.last_run is None:
            continue
        try:
            entries.append(encode_entry(state.target, state.results, state.last_run))
        except CodecError as exc:
            log.warning("state file: target left out, its results cannot be saved",
                        extra={"target": state.target.name, "error": str(exc)})
    document = {"format": FORMAT, "version": __version__, "saved_at": time.time(), "targets": entries}
    text = json.dumps(document, separators=(",", ":"), allow_nan=False)  # before touching the disk
    write_atomically(path, text.encode("utf-8"))
    return len(entries)


def write_atomically(path: str, data: bytes) -> None:
    """A temporary file beside `path`, synced, then renamed over it: readers see the old or the new file,
    and a failure leaves no temporary file behind."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".sslfault-state-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a power cut only once the directory is synced
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


# -- loading -------------------------------------------------------------------------------


def restore(store: ResultsStore, path: str, result_types: ResultTypes | None = None) -> int:
    """Load saved results for targets that are configured now with the same settings; returns the count.

    Never raises for anything in the file: what cannot be used is logged and ignored."""
    document = _read(path)
    if document is None:
        return 0
    types = result_types or default_result_types()
    restored = skipped = 0
    for index, item in enumerate(document):
        try:
            target, results, last_run = decode_entry(item, types)
        except CodecError as exc:
            skipped += 1
            if skipped <= 5:  # a file of thousands of bad entries must not flood the log
                log.warning("state file entry skipped", extra={"path": path, "entry": index, "error": str(exc)[:300]})
            continue
        restored += store.restore(target, results, last_run)
    if skipped > 5:
        log.warning("state file entries skipped", extra={"path": path, "count": skipped})
    return restored


def decode_entry(item: Any, types: ResultTypes) -> tuple[Target, dict[str, CheckResult], float]:
    if not isinstance(item, dict) or set(item) != {"target", "results", "last_run"}:
        raise CodecError("$", "expected an object with target, results and last_run")
    target = decode_target(item["target"])
    last_run: float = decode(float, item["last_run"])
    raw_results = decode(dict[str, Any], item["results"])
    results = {}
    for name, raw in raw_results.items():
        kind = types.get(name)
        if kind is None:
            raise CodecError(f"$.results.{name}", "no such check")
        result: CheckResult = decode(CheckResult, raw, {(CheckOutcome, "result"): kind | None})
        if result.check != name or result.target != target.name:
            raise CodecError(f"$.results.{name}", "the result belongs to another target or check")
        results[name] = result
    return target, results, last_run


def decode_target(data: Any) -> Target:
    """A Target; its per-check settings are each decoded as that check's own settings model."""
    raw: Target = decode(Target, data, {(Target, "settings"): tuple[tuple[str, Any], ...]})
    models = _settings_types()
    settings = []
    for name, value in raw.settings:
        model = models.get(name)
        if model is None:
            raise CodecError("$.target.settings", f"no check named {name!r}")
        settings.append((name, decode(model, value)))
    return dataclasses.replace(raw, settings=tuple(settings))


def _read(path: str) -> list[Any] | None:
    """The file's list of entries, or None (logged) when there is none to use."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _unusable(path, f"cannot read: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the start forever
        return _unusable(path, "not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        return _unusable(path, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        document = json.loads(data.decode("utf-8"))
    except OSError as exc:
        return _unusable(path, f"cannot read: {exc.strerror or exc}")
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested beyond the parser
        return _unusable(path, f"not valid JSON: {str(exc)[:200] or type(exc).__name__}")
    if not isinstance(document, dict) or document.get("format") not in (1, FORMAT):
        return _unusable(path, f"not a state file of format {FORMAT}")
    targets = document.get("targets")
    if not isinstance(targets, list):
        return _unusable(path, "`targets` is not a list")
    if document["format"] == 1:
        try:
            return [_untag(t, 0) for t in targets]
        except CodecError as exc:
            return _unusable(path, str(exc))
    return targets


def _unusable(path: str, why: str) -> list[Any] | None:
    log.warning("state file ignored, starting without saved results", extra={"path": path, "error": why})
    return None


def _untag(value: Any, depth: int) -> Any:
    """Format 1 wrote type tags around plain data; the data is kept, the tags (class names) are not used."""
    if depth > 64:
        raise CodecError("$", "nested too deep")
    if isinstance(value, list):
        return [_untag(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    if "__dc__" in value or "__model__" in value:
        return _untag(value.get("fields"), depth + 1)
    if "__enum__" in value:
        return _untag(value.get("value"), depth + 1)
    if "__tuple__" in value:
        return _untag(value["__tuple__"], depth + 1)
    if "__map__" in value:
        pairs = _untag(value["__map__"], depth + 1)
        if isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                           for p in pairs):
            return dict(pairs)
        return pairs
    if "__bytes__" in value:
        return value["__bytes__"]
    return {k: _untag(v, depth + 1) for k, v in value.items()}
