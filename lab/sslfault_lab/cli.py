"""`sslfault demo`: registered by the lab through the `sslfault.commands` entry point, so the product
offers the command when the lab is installed and never imports the lab itself."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exporter.cli.common import EXIT_OK, EXIT_USAGE, add_logging, check_listen, run_until_signalled


def add_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="start the fault lab and an exporter watching it")
    demo.add_argument("--web.listen-address", dest="listen", default="127.0.0.1:17753")
    demo.add_argument("--interval", default="30s")
    add_logging(demo)


def run(args: argparse.Namespace) -> int:
    from exporter.logs import setup_logging
    from sslfault_lab.demo import run_demo

    setup_logging(args.log_level, args.log_format)
    problem = check_listen(args.listen)
    if problem:
        print(f"sslfault demo: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        run_until_signalled(run_demo(args.listen, args.interval))
    except OSError as exc:
        print(f"sslfault demo: cannot listen on {args.listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
