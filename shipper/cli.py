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
from logstore.types import Health, Outcome, StoreAuthError, StoreError
from logwarden.cli import add_output, add_version, human_bytes, json_line, quiet_on_closed_pipe
from logwarden.config import Config, load_config

if TYPE_CHECKING:
    from shipper.service import Progress, Shipper

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
    status = sub.add_parser(
        "status",
        parents=[common],
        help="each known file: identity, path, size, committed offset, lag; and files skipped, with why",
    )
    add_output(status)
    check = sub.add_parser(
        "check", parents=[common], help="validate the config and list the files each input matches"
    )
    check.add_argument(
        "--config-only",
        action="store_true",
        help="validate the config alone (a service's pre-start step: a log directory that does not exist"
        " yet must not keep the shipper, which waits for it, from starting)",
    )
    dlq = sub.add_parser("dlq", parents=[common], help="dead letters: docs the store rejected")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True, parser_class=_Parser)
    ls = dsub.add_parser("list", parents=[common], help="list dead letters")
    ls.add_argument("--limit", type=int, default=None)
    add_output(ls)
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
            return _check(config, args.config_only)
        if args.command == "status":
            return _status(config, args.output)
        if args.command == "dlq":
            return _dlq(
                config, args.dlq_command, getattr(args, "limit", None), getattr(args, "output", "table")
            )
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


def _check(config: Config, config_only: bool = False) -> int:
    """The config, then what each input matches now. A file this user cannot read, or a pattern whose
    directory is not there, is an error (stderr, exit 2): ``run`` would ship nothing from it."""
    from shipper.files import followed, matches, missing_dirs

    inputs = config.shipper.inputs
    print(f"{config.source}: ok (store: {config.store.backend}, {len(inputs)} input(s))")
    if config_only:
        return 0
    if not inputs:
        print("no shipper.inputs configured: nothing to ship")
    matched = matches(inputs)
    missing = missing_dirs(inputs)
    errors: list[str] = []
    for i, inp in enumerate(inputs):
        files = [m for m in matched if m.input == i]
        print(f"input {i} ({inp.format}, service={inp.service}): {', '.join(inp.paths)}")
        if inp.exclude:
            print(f"  exclude: {', '.join(inp.exclude)}")
        for d in (d for d in missing if d.input == i):
            print(f"  {d.pattern}: directory {d.directory}: {d.problem}")
            errors.append(f"shipper check: {d.pattern}: directory {d.directory}: {d.problem}")
        for m in files:
            if m.problem is not None:
                print(f"  {m.path} (unreadable: {m.problem})")
                errors.append(f"shipper check: {m.path}: cannot read: {m.problem}")
            elif m.target is None:
                print(f"  {m.path}")
            elif followed(inputs, m):
                print(f"  {m.path} -> {m.target} (symlink, followed)")
            else:
                print(f"  {m.path} -> {m.target} (symlink, skipped: follow_symlinks is false)")
        if not files:
            print("  (no files match now)")
    sys.stdout.flush()  # the listing, then the errors after it (stderr is unbuffered)
    for e in errors:
        print(e, file=sys.stderr)
    return EXIT_USAGE if errors else 0


def _console() -> Any:
    """rich's Console, except that a closed pipe ends like every other command (see logwarden.cli)."""
    from rich.console import Console

    class QuietConsole(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError  # rich's own exits 1; quiet_on_closed_pipe ends with 0

    return QuietConsole(width=200 if not sys.stdout.isatty() else None)


def _status_rows(rows: list[Any], skipped: dict[str, str]) -> list[dict[str, Any]]:
    """One dict per known file (identity, path, size, committed, lag, state, reason), then one per
    path ``run``'s last scan matched but skipped (state ``skipped``, with the reason)."""
    out: list[dict[str, Any]] = []
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
        out.append(_status_row(r.fid, r.path, size, r.offset, lag, state, None))
    for path, reason in sorted(skipped.items()):
        out.append(_status_row(None, path, None, None, None, "skipped", reason))
    return out


def _status_row(*values: Any) -> dict[str, Any]:
    return dict(zip(("identity", "path", "size", "committed", "lag", "state", "reason"), values, strict=True))


def _status(config: Config, output: str) -> int:
    from rich.table import Table

    reg = _registry(config)
    try:
        rows = _status_rows(reg.files(), reg.skipped())
        dead = reg.dlq_count()
    finally:
        reg.close()
    if output == "json":
        for row in rows:
            print(json_line(row))
        return 0
    reasons = any(r["reason"] for r in rows)
    table = Table("identity", "path", "size", "committed", "lag", "state", *(["reason"] if reasons else []))
    for r in rows:
        sizes = ("-" if r[k] is None else human_bytes(r[k]) for k in ("size", "committed", "lag"))
        table.add_row(
            r["identity"] or "-", r["path"], *sizes, r["state"], *([r["reason"] or ""] if reasons else [])
        )
    console = _console()
    console.print(table)
    skipped = sum(1 for r in rows if r["state"] == "skipped")
    console.print(
        f"{len(rows) - skipped} file(s), {dead} dead letter(s)" + (f", {skipped} skipped" if skipped else "")
    )
    return 0


def _dlq(config: Config, command: str, limit: int | None, output: str = "table") -> int:
    reg = _registry(config)
    try:
        if command == "list":
            letters = reg.dlq_list(limit)
            for d in letters:
                if output == "json":
                    print(json_line(_letter_row(d)))
                else:
                    print(f"{d.id}\t{d.path}:{d.offset}\t{d.doc_id}\tattempts={d.attempts}\t{d.reason}")
            print(f"{len(letters)} dead letter(s)", file=sys.stderr)
            return 0
        return _replay(config, reg)
    finally:
        reg.close()


def _letter_row(d: Any) -> dict[str, Any]:
    """A dead letter as a JSON line: the table's columns, then its time stamps (RFC 3339)."""
    from datetime import UTC, datetime

    return {
        "id": d.id,
        "path": d.path,
        "offset": d.offset,
        "doc_id": d.doc_id,
        "attempts": d.attempts,
        "reason": d.reason,
        "ts": datetime.fromtimestamp(d.ts / 1000, tz=UTC),
        "created": datetime.fromtimestamp(d.created, tz=UTC),
    }


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


class _Probes:
    """/healthz and /readyz from the start: the endpoint comes up before the store is reachable.

    Until the shipper runs, it is live (the process is waiting, as it should) and not ready, with the
    store's last error as the reason; then the shipper's own ``live`` and ``ready`` answer."""

    def __init__(self) -> None:
        self.shipper: Any = None
        self.waiting = "connecting to the store"

    def live(self) -> Health:
        shipper = self.shipper
        return shipper.live() if shipper is not None else Health(True, "starting: waiting for the store")

    def ready(self) -> Health:
        shipper = self.shipper
        return shipper.ready() if shipper is not None else Health(False, f"store: {self.waiting}")


def _open_store_patiently(config: Config, once: bool, probes: _Probes) -> Any:
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
                probes.waiting = str(e)
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
    from shipper.events import EndpointUp

    probes = _Probes()
    m = config.shipper.metrics
    http = None
    if m.port is not None:
        http = start_http(m.host, m.port, probes.live, probes.ready)
        emit(EndpointUp(host=m.host, port=http.port))
    try:
        store = _open_store_patiently(config, once, probes)
        if store is None:
            return 0  # stopped by a signal while the store was still unreachable
        try:
            if http is not None and config.shipper.processes:
                # Build processes are forked while no thread runs (shipper/parallel.py): the endpoint
                # pauses for the fork and comes back on the same port.
                port = http.port
                http.stop()
                http = None
                shipper = _shipper(config, store, once)
                http = start_http(m.host, port, probes.live, probes.ready)
            else:
                shipper = _shipper(config, store, once)
            probes.shipper = shipper
            return _ship(shipper, once)
        finally:
            store.close()
    finally:
        if http is not None:
            http.stop()


def _shipper(config: Config, store: Any, once: bool) -> Shipper:
    from shipper.geoip import GeoIPError
    from shipper.registry import RegistryError
    from shipper.service import Shipper

    try:
        # (Before any thread starts: with shipper.processes it forks its build processes.)
        return Shipper(config, store, once=once)
    except RegistryError as e:
        raise ConfigError(f"{config.source}: shipper.registry: {e}") from None
    except GeoIPError as e:
        raise ConfigError(f"{config.source}: shipper.geoip: {e}") from None


def _ship(shipper: Shipper, once: bool) -> int:
    from logstore.observe import emit
    from shipper.events import ShutdownDeadlinePassed

    bar = None
    if once and sys.stderr.isatty():
        bar, shipper.progress = _progress_bar()
        bar.start()

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
    refused = shipper.pipeline.refused if shipper.pipeline is not None else None
    if refused is not None:
        raise StoreAuthError(refused)  # one line and exit 2 (main)
    if not ok:
        emit(ShutdownDeadlinePassed())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
