"""`sslfault check-config FILE`: validate and exit (0 ok, 2 with every error listed).

The file_sd files the config's globs match now are validated too (http_sd URLs are not fetched)."""

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
    from exporter.discovery.file_sd import check_all

    discovered, files, errors = check_all(config.discovery.file_sd)
    if errors:
        print(f"{args.file}: {len(errors)} error(s) in file_sd files:", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_USAGE
    found = f", {discovered} from {files} file_sd file(s)" if config.discovery.file_sd else ""
    print(f"{args.file}: OK, {len(config.targets)} target(s){found}")
    return EXIT_OK
