"""`sslfault`: one module per subcommand, each with `add_parser(subparsers)` and `run(args) -> int`.

Commands from other installed distributions (the fault lab's `demo`) come in through the
`sslfault.commands` entry-point group, so this package never imports them by name.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from exporter import __version__
from exporter.cli import check, check_config, diagnose, faults, lint_cert, serve
from exporter.cli.common import EXIT_OK, EXIT_USAGE, Parser

# Built-in commands in help order; each module adds its own subparser named like its command.
BUILTIN: dict[str, ModuleType] = {
    "serve": serve, "diagnose": diagnose, "check": check, "check-config": check_config, "faults": faults,
    "lint-cert": lint_cert,
}
# Commands that need a distribution which is not installed: a hint instead of "invalid choice".
NEEDS_EXTRA = {"demo": "the fault lab: pip install 'ssl-fault-exporter[lab]' (scripts/setup.sh installs it)"}


def _plugin_commands() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for entry in importlib.metadata.entry_points(group="sslfault.commands"):
        if entry.name not in BUILTIN:
            found[entry.name] = entry.load()
    return found


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    parser = Parser(prog="sslfault", description="Finds the SSL certificate faults that hurt visitors or block issuance.")
    parser.add_argument("--version", action="version", version=f"ssl-fault-exporter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    commands = {**BUILTIN, **_plugin_commands()}
    for module in commands.values():
        module.add_parser(sub)
    return parser, {name: module.run for name, module in commands.items()}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `sslfault faults | head`: the reader left; not an error
        sys.stderr.close()
        return EXIT_OK


def _main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    missing = next((w for w in words[:1] if w in NEEDS_EXTRA and w not in handlers), None)
    if missing:
        print(f"sslfault {missing}: needs {NEEDS_EXTRA[missing]}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(words)
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
