"""Logs: logfmt like Prometheus' components, JSON lines; a target-controlled string never forges a line."""

from __future__ import annotations

import json
import logging
import sys

from exporter.logs import JsonFormatter, LogfmtFormatter, escape, logfmt_value
from tests.support.logfmt import parse, parse_line

HOSTILE = 'http://ocsp.test/\nts=2020-01-01T00:00:00Z level=error msg="forged" \x1b[31mred\x1b[0m "q" a=b \\ \r\u2028x\x85'


def _record(msg: str = "fetch failed", exc: bool = False, **extra: object) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("line one\nline two")
        except ValueError:
            info = sys.exc_info()
    record = logging.LogRecord("exporter.checks.revocation", logging.DEBUG, "/x/revocation.py", 42, msg, (), info)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_logfmt_line_has_prometheus_shape_and_round_trips_hostile_values() -> None:
    line = LogfmtFormatter().format(_record(url=HOSTILE, target="shop", status=None, count=3))
    assert "\n" not in line and "\x1b" not in line and "\r" not in line and "\u2028" not in line and "\x85" not in line
    assert line.splitlines() == [line]
    event = parse_line(line)
    assert line.startswith("ts=") and event["level"] == "debug" and event["caller"] == "revocation.py:42"
    assert event["msg"] == "fetch failed" and event["target"] == "shop" and event["count"] == "3"
    assert event["url"] == HOSTILE  # quoted and escaped, and read back exactly
    assert "status" not in event and "forged" not in line.split("url=")[0]
    assert 'msg="fetch failed"' in line and " target=shop " in line


def test_hostile_message_keys_and_tracebacks_stay_on_one_line() -> None:
    line = LogfmtFormatter().format(_record(msg=HOSTILE, exc=True, **{"bad key=x\n": "v"}))
    [event] = parse(line)
    assert event["msg"] == HOSTILE
    assert "line one\nline two" in event["exc"] and event["bad_key_x_"] == "v"


def test_json_lines_escape_every_control_character() -> None:
    line = JsonFormatter().format(_record(msg=HOSTILE, exc=True, url=HOSTILE))
    assert line.splitlines() == [line] and "\x1b" not in line and "\u2028" not in line and "\x85" not in line
    entry = json.loads(line)
    assert entry["msg"] == HOSTILE and entry["url"] == HOSTILE and entry["level"] == "debug"


def test_escape_and_values() -> None:
    assert escape("a\nb\x1b[0m\u2029") == "a\\nb\\u001b[0m\\u2029"
    assert logfmt_value("plain") == "plain" and logfmt_value("") == '""' and logfmt_value("a b") == '"a b"'
    assert logfmt_value('say "hi"') == '"say \\"hi\\""' and logfmt_value("k=v") == '"k=v"'
