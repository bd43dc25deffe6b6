"""Logging setup: logfmt (as Prometheus components write it) or JSON lines, with `extra` fields kept.

Logs carry strings a target controls (certificate fields, URLs, server answers). Every event is
exactly one line in both formats: logfmt quotes and escapes values, JSON escapes by construction,
so a newline or an ANSI escape in a certificate can neither forge a line nor inject a field.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
FORMATS = ("logfmt", "plain", "json")  # "plain" is the historical name of logfmt

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: a reader
# (terminal, journald, Python's splitlines) may start a new line or run a sequence at any of them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}
_NEEDS_QUOTES = re.compile("[\x00-\x20\"=\\\\\x7f-\x9f\u2028\u2029]")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def escape(text: str) -> str:
    """`text` with control characters escaped (\\n, \\u001b...): safe to put on one log or terminal line."""
    return _UNSAFE.sub(_escape_char, text)


def logfmt_value(value: object) -> str:
    """A logfmt value: bare when it is a plain token, else double-quoted with escapes (go-logfmt rules)."""
    text = "" if value is None else str(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + re.sub(r'["\\]|' + _UNSAFE.pattern, _escape_char, text) + '"'


def _logfmt_key(key: str) -> str:
    return _KEY_UNSAFE.sub("_", key) or "_"


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "caller": f"{record.filename}:{record.lineno}",
            "msg": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # ensure_ascii: U+2028/2029 and every control character come out as \\uXXXX escapes.
        return json.dumps(entry, default=str, ensure_ascii=True)


class LogfmtFormatter(logging.Formatter):
    """`ts=... level=info caller=file.py:12 msg="..." key=value`, one line per event, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, object]] = [
            ("ts", _timestamp(record)), ("level", record.levelname.lower()),
            ("caller", f"{record.filename}:{record.lineno}"), ("logger", record.name), ("msg", record.getMessage()),
        ]
        pairs += [(k, v) for k, v in _extras(record).items() if v is not None]
        if record.exc_info:
            pairs.append(("exc", self.formatException(record.exc_info)))
        return " ".join(f"{_logfmt_key(k)}={logfmt_value(v)}" for k, v in pairs)


PlainFormatter = LogfmtFormatter  # the name before logfmt


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
