"""`sslfault serve`: the daemon and its HTTP side until SIGTERM."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from exporter.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    add_event_loop,
    add_logging,
    check_listen,
    load_or_report,
    run_until_signalled,
)
from exporter.config import ConfigError
from exporter.discovery.sharding import Shard, index_from_hostname
from exporter.http.healthcheck import DEFAULT_LISTEN, LISTEN_ENV


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the exporter daemon")
    serve.add_argument("--config.file", dest="config_file", required=True)
    serve.add_argument("--web.listen-address", dest="listen", default=os.environ.get(LISTEN_ENV, DEFAULT_LISTEN),
                       help=f"[HOST]:PORT to serve on (default: ${LISTEN_ENV}, else {DEFAULT_LISTEN})")
    serve.add_argument("--web.config.file", dest="web_config_file",
                       help="exporter-toolkit web config: TLS, client certificates, basic auth")
    serve.add_argument("--config.auto-reload-interval", dest="auto_reload", default=None, metavar="DURATION",
                       help="reload the config file when its content changes, checking this often (e.g. 30s)")
    serve.add_argument("--storage.state-file", dest="state_file", default=None, metavar="PATH",
                       help="save the latest results here (every minute and at exit) and load them at start, "
                            "so a restart does not make alerts resolve and fire again")
    shard = serve.add_argument_group("sharding", "split the targets across replicas (README: Discovery and sharding)")
    shard.add_argument("--shard.count", dest="shard_count", type=int, default=1, metavar="N",
                       help="number of replicas the targets are split across (default 1: no sharding)")
    index = shard.add_mutually_exclusive_group()
    index.add_argument("--shard.index", dest="shard_index", type=int, default=None, metavar="I",
                       help="this replica's shard, 0 to N-1")
    index.add_argument("--shard.index-from-hostname", dest="shard_from_hostname", action="store_true",
                       help="take the shard from the host name's ordinal, as in a StatefulSet: "
                            "$HOSTNAME=sslfault-2 is shard 2")
    serve.add_argument("--storage.state-save-interval", dest="state_save_interval", default="1m", metavar="DURATION",
                       help="how often to save the state file (default 1m)")
    add_event_loop(serve)
    add_logging(serve)


def shard_from_args(args: argparse.Namespace) -> Shard:
    """The Shard the flags describe; ValueError with a message fit for the user."""
    index = args.shard_index
    if args.shard_from_hostname:
        index = index_from_hostname()
    if index is None:
        if args.shard_count != 1:
            raise ValueError(f"--shard.count {args.shard_count} needs --shard.index or --shard.index-from-hostname")
        index = 0
    return Shard(args.shard_count, index)


def run(args: argparse.Namespace) -> int:
    from exporter.daemon.daemon import Daemon
    from exporter.http.app import serve
    from exporter.http.webconfig import load_web_config
    from exporter.logs import setup_logging

    setup_logging(args.log_level, args.log_format)
    config = load_or_report(args.config_file)
    if config is None:
        return EXIT_USAGE
    web_config = None
    try:
        auto_reload = _duration("--config.auto-reload-interval", args.auto_reload) if args.auto_reload else None
        save_every = _duration("--storage.state-save-interval", args.state_save_interval)
        if args.web_config_file:
            web_config = load_web_config(args.web_config_file)
    except ConfigError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"sslfault serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        shard = shard_from_args(args)
    except ValueError as exc:
        print(f"sslfault serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    problem = check_listen(args.listen)
    if problem:
        print(f"sslfault serve: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        daemon = Daemon(config, args.config_file, state_file=args.state_file, shard=shard,
                        state_save_seconds=save_every)
        run_until_signalled(serve(daemon, args.listen, web_config, auto_reload), args.event_loop)
    except OSError as exc:
        print(f"sslfault serve: cannot listen on {args.listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _duration(flag: str, text: str) -> float:
    from exporter.config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None
