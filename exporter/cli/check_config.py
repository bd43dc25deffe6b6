"""`sslfault check-config FILE`: validate and exit (0 ok, 2 with every error listed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exporter.cli.common import EXIT_OK, EXIT_USAGE
from exporter.config import ConfigError, load_config

def add_parser(sub: Any) -> None:
    check_config = sub.add_parser("check-config", help="validate a config file")
    check_config.add_argument("file")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{args.file}: {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.file}: OK, {len(config.targets)} target(s)")
    return EXIT_OK
