"""``logwarden``: ``serve`` runs the server; ``--version``.

User errors (bad config, a port in use, unreadable TLS files) print one line and exit 2.
SIGTERM/SIGINT: uvicorn stops accepting, finishes the requests in flight, then the writer drains
its queue and the store closes; uvicorn then re-raises the signal, so the process ends by it (what
systemd counts as a clean stop).
"""

from __future__ import annotations

import argparse
import gc
import logging
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from logstore.config import ConfigError
from logstore.observe import setup_logging
from logstore.types import StoreError
from logwarden.cli import add_version
from logwarden.config import Config, load_config
from server.config import host_port

EXIT_USAGE = 2
KEEP_ALIVE_S = 30
log = logging.getLogger("server")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        print(f"logwarden: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="logwarden", description="The logwarden server: many hosts ship to it, every program queries it."
    )
    add_version(p)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = sub.add_parser("serve", help="run the server (ingest, Store API)")
    serve.add_argument(
        "-c", "--config", default=None, help="logwarden.yaml (default: $LOGWARDEN_CONFIG or ./logwarden.yaml)"
    )
    serve.add_argument("--listen", default=None, help="host:port, beats server.listen")
    serve.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR (beats $LOG_LEVEL)")
    return p


def uvicorn_config(config: Config) -> Any:
    """uvicorn's config for ``config``; ConfigError for TLS files that cannot be used."""
    import uvicorn

    from server.app import create_app

    host, port = host_port(config.server.listen)
    kwargs: dict[str, Any] = {}
    tls = config.server.tls
    if tls is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls.cert, tls.key)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(
                f"{config.source}: server.tls: cannot use {tls.cert} / {tls.key}: {e}"
            ) from None
        kwargs = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
    return uvicorn.Config(
        create_app(config),
        host=host,
        port=port,
        log_config=None,  # our JSON logging (setup_logging) handles uvicorn's loggers too
        access_log=False,
        http="httptools",
        lifespan="on",
        timeout_graceful_shutdown=10,
        # Shippers send a batch every second or few: a connection idle this long is closed (the
        # client reconnects). A body too slow to arrive is the app's limit (server.limits).
        timeout_keep_alive=KEEP_ALIVE_S,
        **kwargs,
    )


def _serve(config: Config) -> int:
    import uvicorn

    server = uvicorn.Server(uvicorn_config(config))
    # A _bulk request is thousands of small acyclic dicts that refcounting frees; the cyclic GC only
    # re-scans them (~30% of the parse's CPU). Off in the server process, as in the shipper's; the
    # app collects every GC_EVERY_S instead (server.app).
    gc.freeze()
    gc.disable()
    server.run()
    # uvicorn exits without raising when it cannot bind or start: it logged why; we exit non-zero.
    return 0 if server.started else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        config = load_config(args.config)
        if args.listen:
            config = config.model_copy(
                update={
                    "server": config.server.model_validate(
                        {**config.server.model_dump(), "listen": args.listen}
                    )
                }
            )
        return _serve(config)
    except (ConfigError, StoreError) as e:
        print(f"logwarden: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:  # --listen that does not validate
        print(f"logwarden: --listen: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
