"""`sslfault diagnose HOST`: every check once against one host, in plain words (or JSON)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from exporter.checks import CHECKS
from exporter.cli.common import EXIT_USAGE, add_logging
from exporter.config import Config, parse_hostport

def add_parser(sub: Any) -> None:
    diagnose = sub.add_parser("diagnose", help="run every check once against one host and explain the faults")
    diagnose.add_argument("host")
    diagnose.add_argument("--port", type=int, default=443)
    diagnose.add_argument("--nameserver", action="append", default=[], metavar="IP[:PORT]")
    diagnose.add_argument("--ca-file", action="append", default=[], metavar="PEM",
                          help="extra trusted roots (Mozilla's roots stay trusted)")
    diagnose.add_argument("--expected-address", action="append", default=[], metavar="IP")
    diagnose.add_argument("--expiry-warning-days", type=float, default=21.0)
    diagnose.add_argument("--timeout", default="10s")
    diagnose.add_argument("--check", action="append", choices=tuple(CHECKS), help="only these checks (repeatable)")
    add_issuance_flags(diagnose)
    diagnose.add_argument("--json", action="store_true")
    diagnose.add_argument("--lang", choices=("en", "zh"), default="en")
    add_logging(diagnose, default_level="warning")


def add_issuance_flags(parser: argparse.ArgumentParser) -> None:
    """Issuance checks (guide S1, S2): CAA, DNS-TXT and file validation."""
    parser.add_argument("--ca-identifier", action="append", default=[], metavar="DOMAIN",
                        help="CAA identifier of the CA that issues (e.g. letsencrypt.org; repeatable); enables the CAA check")
    parser.add_argument("--certificate-name", action="append", default=[], metavar="NAME",
                        help="a name the certificate must cover, e.g. *.example.com (repeatable; default: HOST)")
    parser.add_argument("--wildcard", action="store_true", help="the certificate covers HOST and *.HOST")
    parser.add_argument("--dns-validation-value", metavar="V", help="expected TXT value; enables the DNS-TXT check")
    parser.add_argument("--dns-validation-record", metavar="NAME", help="TXT record name (default _dnsauth.HOST)")
    parser.add_argument("--file-validation-token", metavar="T", help="expected file body; enables the file check")
    parser.add_argument("--file-validation-path", metavar="PATH", help="URL path of the validation file")
    parser.add_argument("--http-port", type=int, metavar="N",
                        help="plain HTTP port for file validation and the HTTP checks (default 80)")
    parser.add_argument("--path", action="append", default=[], metavar="PATH",
                        help="URL path the HTTP and mixed-content checks fetch (repeatable; default /)")
    parser.add_argument("--authoritative-port", type=int, metavar="N",
                        help="port to query authoritative name servers on (default 53)")


def _issuance_target(args: argparse.Namespace) -> dict[str, object]:
    target: dict[str, object] = {}
    if args.ca_identifier:
        target["ca_identifiers"] = args.ca_identifier
    names = list(args.certificate_name)
    if args.wildcard:
        names = [args.host, f"*.{args.host}", *names]
    if names:
        target["certificate_names"] = list(dict.fromkeys(names))
    if args.dns_validation_value is not None or args.dns_validation_record is not None:
        if args.dns_validation_value is None:
            raise ValueError("--dns-validation-record needs --dns-validation-value")
        target["dns_validation"] = {"value": args.dns_validation_value, "record": args.dns_validation_record}
    if args.file_validation_token is not None or args.file_validation_path is not None:
        if args.file_validation_token is None:
            raise ValueError("--file-validation-path needs --file-validation-token")
        target["file_validation"] = {"token": args.file_validation_token}
        if args.file_validation_path:
            target["file_validation"]["path"] = args.file_validation_path  # type: ignore[index]
    if args.http_port is not None:
        target["http_port"] = args.http_port
    if args.path:
        target["paths"] = args.path
    return target


def diagnose_config(args: argparse.Namespace) -> Config:
    for nameserver in args.nameserver:
        parse_hostport(nameserver, 53)  # a clear error before anything runs
    target: dict[str, object] = {"host": args.host, "port": args.port,
                                 "expected_addresses": args.expected_address}
    if args.check:
        target["checks"] = args.check
    target.update(_issuance_target(args))
    resolver: dict[str, object] = {"nameservers": args.nameserver}
    if args.authoritative_port is not None:
        resolver["authoritative_port"] = args.authoritative_port
    return Config.model_validate({
        "defaults": {"timeout": args.timeout, "expiry_warning_days": args.expiry_warning_days},
        "resolver": resolver,
        "trust": {"use_system": True, "ca_files": args.ca_file},
        "targets": [target],
    })


# Config keys back to the diagnose flags that set them, so errors name what the user typed.
_FLAG_OF_KEY = {
    "host": "HOST", "port": "--port", "expected_addresses": "--expected-address", "paths": "--path",
    "http_port": "--http-port", "ca_files": "--ca-file", "timeout": "--timeout", "nameservers": "--nameserver",
    "certificate_names": "--certificate-name", "dns_validation": "--dns-validation-value",
    "file_validation": "--file-validation-token", "expiry_warning_days": "--expiry-warning-days",
}


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from exporter.logs import setup_logging
    from exporter.report import exit_code, render_text

    setup_logging(args.log_level, args.log_format)
    try:
        config = diagnose_config(args)
    except ValidationError as exc:
        for err in exc.errors():
            parts = [str(p) for p in err["loc"]]
            flag = next((_FLAG_OF_KEY[p] for p in reversed(parts) if p in _FLAG_OF_KEY), ".".join(parts))
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
    return exit_code(report)


async def diagnose(config: Config) -> dict[str, object]:
    """Run every enabled check on the config's single target; return the JSON report."""
    from exporter.report import addresses_of, build_report
    from exporter.engine.runner import run_first_target

    target = config.resolved_targets()[0]
    results = await run_first_target(config)
    return build_report(target.host, target.port, addresses_of(results), results)
