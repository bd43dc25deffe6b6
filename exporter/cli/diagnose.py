"""`sslfault diagnose HOST`: every check once against one host, in plain words (or JSON)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from exporter.catalog.faults import Severity
from exporter.checks import CHECKS
from exporter.checks.base import Flag
from exporter.cli.common import EXIT_USAGE, add_logging
from exporter.config import Config, parse_hostport


def add_parser(sub: Any) -> None:
    diagnose = sub.add_parser("diagnose", help="run every check once against one host and explain the faults")
    diagnose.add_argument("host")
    diagnose.add_argument("--port", type=int, default=443)
    diagnose.add_argument("--nameserver", action="append", default=[], metavar="IP[:PORT]")
    diagnose.add_argument("--ca-file", action="append", default=[], metavar="PEM",
                          help="extra trusted roots (Mozilla's roots stay trusted)")
    diagnose.add_argument("--expiry-warning-days", type=float, default=21.0)
    diagnose.add_argument("--timeout", default="10s")
    diagnose.add_argument("--check", action="append", choices=tuple(CHECKS), help="only these checks (repeatable)")
    diagnose.add_argument("--certificate-name", action="append", default=[], metavar="NAME",
                          help="a name the certificate must cover, e.g. *.example.com (repeatable; default: HOST)")
    diagnose.add_argument("--wildcard", action="store_true", help="the certificate covers HOST and *.HOST")
    diagnose.add_argument("--http-port", type=int, metavar="N",
                          help="plain HTTP port for file validation and the HTTP checks (default 80)")
    diagnose.add_argument("--path", action="append", default=[], metavar="PATH",
                          help="URL path the checks that read pages fetch (repeatable; default /)")
    diagnose.add_argument("--client-cert", metavar="PEM", help="client certificate to present when the server "
                          "demands one (with --client-key)")
    diagnose.add_argument("--client-key", metavar="PEM", help="the client certificate's private key")
    diagnose.add_argument("--authoritative-port", type=int, metavar="N",
                          help="port to query authoritative name servers on (default 53)")
    # Each check's own settings, as its plugin declares them.
    for plugin in CHECKS.values():
        for flag in plugin.flags:
            diagnose.add_argument(flag.option, dest=_dest(flag), metavar=flag.metavar, help=flag.help, type=flag.type,
                                  action="append" if flag.repeat else "store", default=[] if flag.repeat else None)
    diagnose.add_argument("--fail-on", choices=("warning", "critical"), default="critical",
                          help="exit 1 when a fault at least this severe is found (default critical; warning also "
                               "fails on an expiring certificate, as the alert rules warn about it)")
    diagnose.add_argument("--json", action="store_true")
    diagnose.add_argument("--lang", choices=("en", "zh"), default="en")
    add_logging(diagnose, default_level="warning")


def _dest(flag: Flag) -> str:
    return "check_" + flag.key.replace(".", "__")


def _check_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The target keys the checks' flags set (dotted keys become nested mappings)."""
    out: dict[str, Any] = {}
    for plugin in CHECKS.values():
        for flag in plugin.flags:
            value = getattr(args, _dest(flag))
            if value is None or value == []:
                continue
            *parents, leaf = flag.key.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    return out


def _target(args: argparse.Namespace) -> dict[str, Any]:
    target: dict[str, Any] = {"host": args.host, "port": args.port}
    if args.check:
        target["checks"] = args.check
    names = list(args.certificate_name)
    if args.wildcard:
        names = [args.host, f"*.{args.host}", *names]
    if names:
        target["certificate_names"] = list(dict.fromkeys(names))
    if args.http_port is not None:
        target["http_port"] = args.http_port
    if args.path:
        target["paths"] = args.path
    if args.client_cert or args.client_key:
        target["client_cert"], target["client_key"] = args.client_cert, args.client_key
    target.update(_check_settings(args))
    return target


def diagnose_config(args: argparse.Namespace) -> Config:
    for nameserver in args.nameserver:
        parse_hostport(nameserver, 53)  # a clear error before anything runs
    resolver: dict[str, object] = {"nameservers": args.nameserver}
    if args.authoritative_port is not None:
        resolver["authoritative_port"] = args.authoritative_port
    return Config.model_validate({
        "defaults": {"timeout": args.timeout, "expiry_warning_days": args.expiry_warning_days},
        "resolver": resolver,
        "trust": {"use_system": True, "ca_files": args.ca_file},
        "targets": [_target(args)],
    })


# Config keys back to the diagnose flags that set them, so errors name what the user typed.
_CORE_FLAGS = {
    "host": "HOST", "port": "--port", "paths": "--path", "http_port": "--http-port", "ca_files": "--ca-file",
    "timeout": "--timeout", "nameservers": "--nameserver", "certificate_names": "--certificate-name",
    "expiry_warning_days": "--expiry-warning-days", "client_cert": "--client-cert", "client_key": "--client-key",
}


def _flag_of(loc: tuple[Any, ...]) -> str:
    """The flag behind an error location: the deepest key a flag sets, checks' dotted keys included."""
    keys = [str(p) for p in loc if not isinstance(p, int)]
    by_key = {f.key: f.option for p in CHECKS.values() for f in p.flags}
    for depth in range(len(keys), 0, -1):
        for start in range(len(keys) - depth + 1):
            dotted = ".".join(keys[start:start + depth])
            if dotted in by_key:
                return by_key[dotted]
    return next((_CORE_FLAGS[k] for k in reversed(keys) if k in _CORE_FLAGS), ".".join(keys))


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from exporter.logs import setup_logging
    from exporter.report import exit_code, render_text

    setup_logging(args.log_level, args.log_format)
    try:
        config = diagnose_config(args)
    except ValidationError as exc:
        for err in exc.errors():
            flag = _flag_of(tuple(err["loc"]))
            print(f"sslfault diagnose: {flag}: {err['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"sslfault diagnose: invalid arguments: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = asyncio.run(diagnose(config))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(render_text(report, args.lang, color=sys.stdout.isatty()), end="")
    return exit_code(report, Severity(args.fail_on))


async def diagnose(config: Config) -> dict[str, object]:
    """Run every enabled check on the config's single target; return the JSON report."""
    from exporter.engine.runner import run_first_target
    from exporter.report import build_report
    from exporter.views import resolved_addresses

    target = config.resolved_targets()[0]
    results = await run_first_target(config)
    return build_report(target.host, target.port, resolved_addresses(results), results)
