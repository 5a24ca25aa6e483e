"""``shipper``: run | run --once | status | check | dlq list | dlq replay.

User errors (bad config, unreachable store at start, bad arguments) print one line and exit 2.
SIGTERM/SIGINT stop reading, flush in-flight batches within ``shipper.shutdown_timeout``, commit, exit 0.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from logstore.config import ConfigError
from logstore.observe import setup_logging
from logstore.types import Outcome, StoreAuthError, StoreError
from logwarden.cli import add_version, quiet_on_closed_pipe
from logwarden.config import Config, load_config

if TYPE_CHECKING:
    from shipper.service import Progress

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse's own convention, minus usage spam)
        print(f"shipper: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _common() -> _Parser:
    p = _Parser(add_help=False)
    p.add_argument(
        "-c",
        "--config",
        default=argparse.SUPPRESS,
        help="logwarden.yaml (default: $LOGWARDEN_CONFIG or ./logwarden.yaml)",
    )
    p.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        help="DEBUG, INFO, WARNING, ERROR (beats $LOG_LEVEL; default INFO)",
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    p = _Parser(prog="shipper", description="Tail log files into the logwarden store.", parents=[common])
    add_version(p)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", parents=[common], help="ship continuously (the sidecar)")
    run.add_argument("--once", action="store_true", help="ship what the inputs match now, then exit")
    sub.add_parser(
        "status", parents=[common], help="each known file: identity, path, size, committed offset, lag"
    )
    sub.add_parser(
        "check", parents=[common], help="validate the config and list the files each input matches"
    )
    dlq = sub.add_parser("dlq", parents=[common], help="dead letters: docs the store rejected")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True, parser_class=_Parser)
    ls = dsub.add_parser("list", parents=[common], help="list dead letters")
    ls.add_argument("--limit", type=int, default=None)
    dsub.add_parser("replay", parents=[common], help="send dead letters again; delivered ones are removed")
    return p


def _load(args: argparse.Namespace) -> Config:
    config = load_config(getattr(args, "config", None))
    return config


@quiet_on_closed_pipe
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "log_level", None))
    try:
        config = _load(args)
        if args.command == "check":
            return _check(config)
        if args.command == "status":
            return _status(config)
        if args.command == "dlq":
            return _dlq(config, args.dlq_command, getattr(args, "limit", None))
        return _run(config, args.once)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return EXIT_USAGE
    except StoreError as e:
        print(f"shipper: store: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _registry(config: Config) -> Any:
    from shipper.registry import Registry, RegistryError

    try:
        return Registry(config.shipper.registry)
    except RegistryError as e:
        raise ConfigError(f"{config.source}: shipper.registry: {e}") from None


def _check(config: Config) -> int:
    from shipper.files import followed, matches

    inputs = config.shipper.inputs
    print(f"{config.source}: ok (store: {config.store.backend}, {len(inputs)} input(s))")
    if not inputs:
        print("no shipper.inputs configured: nothing to ship")
    matched = matches(inputs)
    for i, inp in enumerate(inputs):
        files = [m for m in matched if m.input == i]
        print(f"input {i} ({inp.format}, service={inp.service}): {', '.join(inp.paths)}")
        if inp.exclude:
            print(f"  exclude: {', '.join(inp.exclude)}")
        for m in files:
            if m.target is None:
                print(f"  {m.path}")
            elif followed(inputs, m):
                print(f"  {m.path} -> {m.target} (symlink, followed)")
            else:
                print(f"  {m.path} -> {m.target} (symlink, skipped: follow_symlinks is false)")
        if not files:
            print("  (no files match now)")
    return 0


def _status(config: Config) -> int:
    from rich.console import Console
    from rich.table import Table

    reg = _registry(config)
    try:
        rows = reg.files()
        dead = reg.dlq_count()
    finally:
        reg.close()
    table = Table("identity", "path", "size", "committed", "lag", "state")
    for r in rows:
        size: int | None = None
        state = "done" if r.done else "tracked"
        try:
            st = os.stat(r.path)
            if (st.st_dev, st.st_ino) == (r.dev, r.ino):
                size = st.st_size
        except OSError:
            pass
        if size is None:
            state = "done" if r.done else "gone"
            size = r.size
        lag = 0 if r.done or r.gz else max(0, size - r.offset)
        table.add_row(r.fid, r.path, str(size), str(r.offset), str(lag), state)
    console = Console(width=200 if not sys.stdout.isatty() else None)
    console.print(table)
    console.print(f"{len(rows)} file(s), {dead} dead letter(s)")
    return 0


def _dlq(config: Config, command: str, limit: int | None) -> int:
    reg = _registry(config)
    try:
        if command == "list":
            letters = reg.dlq_list(limit)
            for d in letters:
                print(f"{d.id}\t{d.path}:{d.offset}\t{d.doc_id}\tattempts={d.attempts}\t{d.reason}")
            print(f"{len(letters)} dead letter(s)", file=sys.stderr)
            return 0
        return _replay(config, reg)
    finally:
        reg.close()


def _replay(config: Config, reg: Any) -> int:
    import orjson

    from logstore import open_store
    from logstore.types import Doc

    letters = reg.dlq_list()
    if not letters:
        print("no dead letters")
        return 0
    store = open_store(config.store)
    delivered: list[int] = []
    failed: list[tuple[int, str]] = []
    try:
        for start in range(0, len(letters), 500):
            chunk = letters[start : start + 500]
            docs = [Doc(d.doc_id, d.ts, orjson.loads(d.raw), d.raw) for d in chunk]
            results = store.write(docs)
            for d, r in zip(chunk, results, strict=True):
                if r.outcome in (Outcome.CREATED, Outcome.DUPLICATE):
                    delivered.append(d.id)
                else:
                    failed.append((d.id, f"{r.outcome.value}: {r.reason}"))
    finally:
        store.close()
        reg.dlq_done(delivered)
        reg.dlq_failed_again(failed)
    print(f"replayed {len(letters)}: {len(delivered)} delivered, {len(failed)} still failing")
    return 0 if not failed else 1


def _open_store_patiently(config: Config, once: bool) -> Any:
    """The sidecar waits for its store (it may boot first); --once and bad settings fail fast (exit 2)."""
    from logstore import open_store
    from logstore.observe import emit
    from shipper.events import StoreUnavailable

    stop = threading.Event()
    previous = [signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)]
    try:
        delay = 1.0
        while True:
            try:
                return open_store(config.store)
            except StoreError as e:
                # Credentials and permissions will not fix themselves: those stay user errors. (By
                # type: the message names the URL, whose port may well contain "401".)
                if once or isinstance(e, StoreAuthError):
                    raise
                emit(StoreUnavailable(reason=str(e), delay_s=delay))
                if stop.wait(delay):
                    return None
                delay = min(delay * 2, 30.0)
    finally:
        for s, handler in zip((signal.SIGTERM, signal.SIGINT), previous, strict=True):
            signal.signal(s, handler)


def _progress_bar() -> tuple[Any, Callable[[Progress], None]]:
    """A rich progress bar (not started) for --once on a terminal, and the callback that moves it."""
    from rich.progress import BarColumn, DownloadColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    task = bar.add_task("shipping", total=None)

    def progress_cb(p: Progress) -> None:
        bar.update(task, total=p.total, completed=p.done)

    return bar, progress_cb


def _run(config: Config, once: bool) -> int:
    if not config.shipper.inputs:
        raise ConfigError(f"{config.source}: shipper.inputs: no inputs configured: nothing to ship")
    lock = _lock_registry(config)
    try:
        return _run_locked(config, once)
    finally:
        lock.release()


def _lock_registry(config: Config) -> Any:
    """One ``shipper run`` per registry, held for the life of the process (see shipper.registry)."""
    from shipper.registry import RegistryBusy, RegistryError, lock_registry

    try:
        return lock_registry(config.shipper.registry)
    except RegistryBusy as e:
        raise ConfigError(f"shipper: {e}") from None
    except RegistryError as e:
        raise ConfigError(f"{config.source}: shipper.registry: {e}") from None


def _run_locked(config: Config, once: bool) -> int:
    from logstore.observe import emit, start_http
    from shipper.events import EndpointUp, ShutdownDeadlinePassed
    from shipper.service import Shipper

    store = _open_store_patiently(config, once)
    if store is None:
        return 0  # stopped by a signal while the store was still unreachable
    try:
        bar, progress_cb = _progress_bar() if once and sys.stderr.isatty() else (None, None)
        try:
            # (Before any thread starts: with shipper.processes it forks its build processes.)
            shipper = Shipper(config, store, once=once, progress=progress_cb)
        except Exception as e:
            from shipper.registry import RegistryError

            if isinstance(e, RegistryError):
                raise ConfigError(f"{config.source}: shipper.registry: {e}") from None
            raise
        if bar is not None:
            bar.start()
        http = None
        m = config.shipper.metrics
        if m.port is not None:
            http = start_http(m.host, m.port, shipper.health)
            emit(EndpointUp(host=m.host, port=http.port))

        def _stop(signum: int, _frame: Any) -> None:
            shipper.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        # Docs in flight are thousands of small acyclic dicts that refcounting frees; the cyclic GC
        # only re-scans them (~30% of the CPU at full speed). Off here, and Shipper.run collects every 30 s.
        gc.freeze()
        gc.disable()
        try:
            ok = shipper.run()
        finally:
            if bar is not None:
                bar.stop()
            if http is not None:
                http.stop()
        if not ok:
            emit(ShutdownDeadlinePassed())
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
