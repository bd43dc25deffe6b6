"""`sslfault`: serve | diagnose | lint-cert | check-config | faults | demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from exporter import __version__
from exporter.config import CHECK_NAMES, Config, ConfigError, load_config, parse_hostport

EXIT_OK, EXIT_CRITICAL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its message format
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sslfault", description="Finds the SSL certificate faults that hurt visitors or block issuance.")
    parser.add_argument("--version", action="version", version=f"ssl-fault-exporter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the exporter daemon")
    serve.add_argument("--config.file", dest="config_file", required=True)
    serve.add_argument("--web.listen-address", dest="listen", default=":9793")
    serve.add_argument("--web.config.file", dest="web_config_file",
                       help="exporter-toolkit web config: TLS, client certificates, basic auth")
    serve.add_argument("--config.auto-reload-interval", dest="auto_reload", default=None, metavar="DURATION",
                       help="reload the config file when its content changes, checking this often (e.g. 30s)")
    serve.add_argument("--storage.state-file", dest="state_file", default=None, metavar="PATH",
                       help="save the latest results here (every minute and at exit) and load them at start, "
                            "so a restart does not make alerts resolve and fire again")
    _add_logging(serve)

    diagnose = sub.add_parser("diagnose", help="run every check once against one host and explain the faults")
    diagnose.add_argument("host")
    diagnose.add_argument("--port", type=int, default=443)
    diagnose.add_argument("--nameserver", action="append", default=[], metavar="IP[:PORT]")
    diagnose.add_argument("--ca-file", action="append", default=[], metavar="PEM",
                          help="extra trusted roots (Mozilla's roots stay trusted)")
    diagnose.add_argument("--expected-address", action="append", default=[], metavar="IP")
    diagnose.add_argument("--expiry-warning-days", type=float, default=21.0)
    diagnose.add_argument("--timeout", default="10s")
    diagnose.add_argument("--check", action="append", choices=CHECK_NAMES, help="only these checks (repeatable)")
    _add_issuance_flags(diagnose)
    diagnose.add_argument("--json", action="store_true")
    diagnose.add_argument("--lang", choices=("en", "zh"), default="en")
    _add_logging(diagnose, default_level="warning")

    check = sub.add_parser("check", help="run every configured target once and print a summary table")
    check.add_argument("--config.file", dest="config_file", required=True)
    check.add_argument("--json", dest="json_file", metavar="FILE", help="also write the full results as JSON ('-': stdout)")
    check.add_argument("--csv", dest="csv_file", metavar="FILE", help="also write a CSV summary ('-': stdout)")
    _add_logging(check, default_level="warning")

    check_config = sub.add_parser("check-config", help="validate a config file")
    check_config.add_argument("file")

    faults = sub.add_parser("faults", help="print the fault catalog")
    faults.add_argument("--json", action="store_true")
    faults.add_argument("--lang", choices=("en", "zh"), default="en")

    demo = sub.add_parser("demo", help="start the fault lab and an exporter watching it")
    demo.add_argument("--web.listen-address", dest="listen", default="127.0.0.1:9793")
    demo.add_argument("--interval", default="30s")
    _add_logging(demo)

    try:
        from exporter.certfiles.cli import add_parser as add_lint_parser
    except ImportError:  # the linter is optional while it is being built
        pass
    else:
        add_lint_parser(sub)
    return parser


def _add_issuance_flags(parser: argparse.ArgumentParser) -> None:
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


def _add_logging(parser: argparse.ArgumentParser, default_level: str = "info") -> None:
    parser.add_argument("--log.level", dest="log_level", default=default_level,
                        choices=("debug", "info", "warning", "error"))
    parser.add_argument("--log.format", dest="log_format", default="plain", choices=("plain", "json"))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `sslfault faults | head`: the reader left; not an error
        sys.stderr.close()
        return EXIT_OK


def _run_until_signalled(main_coro: Any) -> None:
    """asyncio.run that turns SIGTERM/SIGINT into cancellation, so cleanup (lab temp dirs) runs."""
    async def runner() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
        try:
            await main_coro
        except asyncio.CancelledError:
            pass

    asyncio.run(runner())


def _check_listen(listen: str) -> str | None:
    from exporter.web import parse_listen_address

    try:
        parse_listen_address(listen)
    except ValueError as exc:
        return f"--web.listen-address: {exc}"
    return None


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "serve": cmd_serve, "diagnose": cmd_diagnose, "check-config": cmd_check_config, "check": cmd_check,
        "faults": cmd_faults, "demo": cmd_demo,
    }.get(args.command)
    if handler is None:
        from exporter.certfiles.cli import run as run_lint

        return run_lint(args)
    return handler(args)


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{args.file}: {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.file}: OK, {len(config.targets)} target(s)")
    return EXIT_OK


def _load_or_report(path: str) -> Config | None:
    """The config, or None after printing every error (file:line: key: what was expected)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    from exporter.fleet import run_check_command
    from exporter.logs import setup_logging

    setup_logging(args.log_level, args.log_format)
    config = _load_or_report(args.config_file)
    if config is None:
        return EXIT_USAGE
    return run_check_command(config, args.json_file, args.csv_file)


def cmd_faults(args: argparse.Namespace) -> int:
    from exporter.faults import FAULTS

    if args.json:
        print(json.dumps([
            {"id": str(f.id), "severity": str(f.severity), "section": f.section, "check": f.check,
             "title": f.title, "summary": f.summary, "title_zh": f.title_zh, "summary_zh": f.summary_zh,
             "remedy": {"en": f.remedy_en, "zh": f.remedy_zh}}
            for f in FAULTS.values()
        ], ensure_ascii=False, indent=2))
        return EXIT_OK
    zh = args.lang == "zh"
    for fault in FAULTS.values():
        summary, remedy = (fault.summary_zh, fault.remedy_zh) if zh else (fault.summary, fault.remedy_en)
        print(f"{fault.id:<32} {fault.severity:<8} {fault.section:<5} {summary}\n{'':47}{remedy}")
    return EXIT_OK


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


def cmd_diagnose(args: argparse.Namespace) -> int:
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
    from exporter.runner import run_first_target

    target = config.resolved_targets()[0]
    results = await run_first_target(config)
    return build_report(target.host, target.port, addresses_of(results), results)


def cmd_serve(args: argparse.Namespace) -> int:
    from exporter.config import parse_duration
    from exporter.logs import setup_logging
    from exporter.web import Exporter, serve
    from exporter.webconfig import load_web_config

    setup_logging(args.log_level, args.log_format)
    config = _load_or_report(args.config_file)
    if config is None:
        return EXIT_USAGE
    web_config = None
    try:
        auto_reload = parse_duration(args.auto_reload) if args.auto_reload else None
        if args.web_config_file:
            web_config = load_web_config(args.web_config_file)
    except ConfigError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"sslfault serve: --config.auto-reload-interval: {exc}", file=sys.stderr)
        return EXIT_USAGE
    problem = _check_listen(args.listen)
    if problem:
        print(f"sslfault serve: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        exporter = Exporter(config, args.config_file, state_file=args.state_file)
        _run_until_signalled(serve(exporter, args.listen, web_config, auto_reload))
    except OSError as exc:
        print(f"sslfault serve: cannot listen on {args.listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from exporter.lab.demo import run_demo
    from exporter.logs import setup_logging

    setup_logging(args.log_level, args.log_format)
    problem = _check_listen(args.listen)
    if problem:
        print(f"sslfault demo: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        _run_until_signalled(run_demo(args.listen, args.interval))
    except OSError as exc:
        print(f"sslfault demo: cannot listen on {args.listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
