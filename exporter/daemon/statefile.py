"""The latest results saved to a file and loaded at start, so a restart does not make alerts flap.

Results are frozen dataclasses of plain data; they are written as JSON with type tags and
rebuilt only into classes of this package (the file is data, never code). A file that
cannot be read is logged and ignored: the exporter then starts empty, as without one.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from exporter import __version__
from exporter.engine.store import ResultsStore

log = logging.getLogger(__name__)

FORMAT = 1


def _encode(value: Any) -> Any:
    if isinstance(value, BaseModel):  # a check's settings on a target
        return {"__model__": _qualified(type(value)), "fields": value.model_dump(mode="json")}
    if isinstance(value, enum.Enum):
        return {"__enum__": _qualified(type(value)), "value": value.value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__dc__": _qualified(type(value)), "fields": fields}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "items"):
        return {"__map__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()}
    return value


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith("exporter."):
        raise ValueError(f"refusing to rebuild {name!r}: not a class of this exporter")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise ValueError(f"{name!r} is not a class")
    return obj


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__model__" in value:
        model = _resolve(value["__model__"])
        if not issubclass(model, BaseModel):
            raise ValueError(f"{value['__model__']!r} is not a settings model")
        return model.model_validate(value["fields"])
    if "__enum__" in value:
        return _resolve(value["__enum__"])(value["value"])
    if "__dc__" in value:
        cls = _resolve(value["__dc__"])
        if not dataclasses.is_dataclass(cls):
            raise ValueError(f"{value['__dc__']!r} is not a dataclass")
        return cls(**{k: _decode(v) for k, v in value["fields"].items()})
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__map__" in value:
        return {_decode(k): _decode(v) for k, v in value["__map__"]}
    if "__bytes__" in value:
        return bytes.fromhex(value["__bytes__"])
    return {k: _decode(v) for k, v in value.items()}


def save(store: ResultsStore, path: str) -> int:
    """Write every target's latest results atomically; returns how many targets were saved."""
    states = [s for s in store.states() if s.last_run is not None]
    document = {
        "format": FORMAT, "version": __version__, "saved_at": time.time(),
        "targets": [_encode({"target": s.target, "results": dict(s.results), "last_run": s.last_run})
                    for s in states],
    }
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=directory, prefix=".sslfault-state-", delete=False,
                                     encoding="utf-8") as handle:
        json.dump(document, handle, separators=(",", ":"))
        temporary = handle.name
    os.replace(temporary, path)  # readers never see half a file
    return len(states)


def restore(store: ResultsStore, path: str) -> int:
    """Load saved results for targets that are configured now with the same settings; returns the count."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as exc:
        log.warning("state file unreadable, starting without saved results", extra={"path": path, "error": str(exc)})
        return 0
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        log.warning("state file has an unknown format, ignored", extra={"path": path})
        return 0
    restored = 0
    for item in document.get("targets", []):
        try:
            entry = _decode(item)
            restored += store.restore(entry["target"], entry["results"], entry["last_run"])
        except Exception as exc:  # noqa: BLE001 - one bad entry (e.g. from another version) is skipped
            log.warning("state file entry skipped", extra={"path": path, "error": f"{type(exc).__name__}: {exc}"})
    return restored
