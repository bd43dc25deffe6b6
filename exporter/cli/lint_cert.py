"""`sslfault lint-cert`: argparse glue around lint_files, the shared report and --fix.

All FILE arguments are linted together as one upload (certificate, chain and key may
sit in separate files), so the output is one combined report whose target is
``file:<path>`` (several paths joined by commas). Exit codes: 0 no fault at or above
--fail-on (critical by default; `--fail-on warning` gates CI on warnings too, such as a missing
intermediate), 1 such a fault, 2 usage error. A PKCS#12 password comes from --password-file or
SSLFAULT_PFX_PASSWORD, never from the command line (it would show in `ps` and history).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Any

from exporter.certfiles.fix import FixError, write_fixed
from exporter.certfiles.lint import analyse
from exporter.models import CheckOutcome, CheckResult, CheckStatus, Severity
from exporter.pki.roots import load_ca_file
from exporter.report import build_report, exit_code, render_text

PASSWORD_ENV = "SSLFAULT_PFX_PASSWORD"
CHECK = "cert_files"

_FIX_WORDS = {
    "en": {"wrote": "Wrote a normalised copy: {path} ({n} certificate(s), leaf first, no root, LF endings)",
           "dropped": "Left out {n} certificate(s) that are not on the leaf's path.",
           "key": "The private key was not copied; keep it in its own file.",
           "failed": "Could not write a fixed copy: {error}"},
    "zh": {"wrote": "已写入规范化副本：{path}（{n} 张证书，服务器证书在前，不含根证书，LF 换行）",
           "dropped": "已略去 {n} 张不在服务器证书链路上的证书。",
           "key": "私钥未被复制；请将其单独保存在自己的文件中。",
           "failed": "无法写入修正后的副本：{error}"},
}


class UsageError(Exception):
    """A problem with the arguments themselves (exit 2)."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "lint-cert",
        help="check certificate and key files before uploading or deploying them",
        description="Check certificate, chain and key files (PEM, DER, PKCS#12/PFX) for the faults that make "
                    "uploads fail: bad PEM, stray whitespace, incomplete or misordered chain, key mismatch, "
                    "expiry. All FILEs are linted together as one upload.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="certificate, chain, key or PFX file(s)")
    parser.add_argument("--key", metavar="KEYFILE", help="the private key to compare with the leaf certificate")
    parser.add_argument("--password-file", metavar="F",
                        help=f"file holding the PKCS#12/key password (or set {PASSWORD_ENV})")
    parser.add_argument("--ca-file", metavar="PEM", help="extra trusted root(s), e.g. your private CA")
    parser.add_argument("--json", action="store_true", help="print the JSON report (same format as diagnose)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the text report")
    parser.add_argument("--fix", action="store_true",
                        help="write a normalised copy next to the first FILE as <name>.fixed.pem")
    parser.add_argument("--fail-on", choices=("warning", "critical"), default="critical",
                        help="exit 1 when a fault of this severity or worse is found (default critical); "
                             "`warning` gates an upload in CI on warnings too")
    parser.add_argument("--expiry-warning-days", type=float, default=21.0, metavar="N",
                        help="warn when the leaf expires within N days (default 21)")
    parser.add_argument("--private-ca-max-lifetime-days", type=int, default=None, metavar="N",
                        help="for a chain to a --ca-file root: warn when the leaf is valid longer than N days "
                             "(the CA/Browser Forum caps bind public roots only)")
    return parser


def _readable(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise UsageError(f"{what} {path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{what} {path}: is a directory")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{what} {path}: permission denied")


def _password(args: argparse.Namespace) -> bytes | None:
    if args.password_file:
        _readable(args.password_file, "password file")
        with open(args.password_file, "rb") as handle:
            data = handle.read()
        return data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
    value = os.environ.get(PASSWORD_ENV)
    return value.encode("utf-8") if value is not None else None


def _validate(args: argparse.Namespace) -> bytes | None:
    for path in args.files:
        _readable(path, "file")
    if args.key:
        _readable(args.key, "key file")
    if args.ca_file:
        _readable(args.ca_file, "CA file")
        try:
            if not load_ca_file(args.ca_file):
                raise ValueError("no certificate")
        except Exception as exc:
            raise UsageError(f"CA file {args.ca_file}: no readable certificate ({exc.__class__.__name__})") from exc
    if args.expiry_warning_days < 0:
        raise UsageError("--expiry-warning-days must not be negative")
    if args.private_ca_max_lifetime_days is not None and args.private_ca_max_lifetime_days < 1:
        raise UsageError("--private-ca-max-lifetime-days must be at least 1")
    return _password(args)


def run(args: argparse.Namespace) -> int:
    try:
        password = _validate(args)
    except UsageError as exc:
        print(f"sslfault lint-cert: error: {exc}", file=sys.stderr)
        return 2
    started = time.time()
    analysis = analyse(args.files, key_path=args.key, password=password, ca_file=args.ca_file,
                       expiry_warning_days=args.expiry_warning_days,
                       private_ca_max_lifetime_days=args.private_ca_max_lifetime_days)
    target = "file:" + ",".join(args.files)
    outcome = CheckOutcome(analysis.result.findings, analysis.result)
    result = CheckResult(target, CHECK, CheckStatus.OK, started, time.time() - started, outcome)
    report = build_report(target, None, [], {CHECK: result})
    report["certificates"] = [asdict(summary) for summary in analysis.result.certificates]
    fix_lines: list[str] = []
    if args.fix:
        fix_lines = _fix(analysis, args, report)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        for line in fix_lines:  # keep stdout pure JSON
            print(line, file=sys.stderr)
    else:
        sys.stdout.write(render_text(report, args.lang, color=sys.stdout.isatty()))
        for line in fix_lines:
            print(line)
    return exit_code(report, Severity(args.fail_on))


def _fix(analysis: Any, args: argparse.Namespace, report: dict[str, Any]) -> list[str]:
    words = _FIX_WORDS[args.lang]
    try:
        fixed = write_fixed(analysis, args.files[0])
    except FixError as exc:
        report["fixed_file"] = None
        return [words["failed"].format(error=exc)]
    report["fixed_file"] = fixed.path
    lines = [words["wrote"].format(path=fixed.path, n=fixed.certificates)]
    if fixed.dropped:
        lines.append(words["dropped"].format(n=fixed.dropped))
    if fixed.had_key:
        lines.append(words["key"])
    return lines


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (tests, `python -m exporter.cli.lint_cert`); the main CLI uses add_parser/run."""
    parser = argparse.ArgumentParser(prog="sslfault")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_parser(subparsers)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors; return it instead
        return int(exc.code) if isinstance(exc.code, int) else 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
