"""A strict logfmt reader for tests: every line must be `key=value` pairs, values bare or quoted."""

from __future__ import annotations

import json
import re

_PAIR = re.compile(r'([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|[^\s"=]*)(?: |$)')


def parse_line(line: str) -> dict[str, str]:
    """The pairs of one logfmt line; AssertionError if anything is not a well-formed pair."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(line):
        match = _PAIR.match(line, pos)
        assert match, f"not logfmt at column {pos}: {line!r}"
        key, raw = match.groups()
        # Quoted values use JSON-compatible escapes (\n, \", \\, \uXXXX).
        out[key] = json.loads(raw) if raw.startswith('"') else raw
        pos = match.end()
    return out


def parse(text: str) -> list[dict[str, str]]:
    """Every line of a log; each must be one event starting with ts= and carrying level= and msg=."""
    events = []
    for line in text.splitlines():
        event = parse_line(line)
        assert line.startswith("ts=") and "level" in event and "msg" in event, f"not an event line: {line!r}"
        events.append(event)
    return events
