"""logq: search the logwarden store from the command line.

Parse the arguments, validate them (time window, query, jq filter) with no I/O, then open the
store and stream. Every user error is one line on stderr and exit code 2 (a bad query adds the
query with a caret, a bad jq filter jq's own message); 0 means something matched, 1 nothing (like
grep). A closed pipe (``logq ... | head``) ends quietly; Ctrl-C during ``-f`` ends with 0.
"""

from __future__ import annotations

import argparse
import itertools
import operator
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, NoReturn, TextIO

from logq import aggs
from logq._paging import search_hits
from logq.follow import Seen, follow, track
from logq.keys import KeyChoice, get_path
from logq.render import JsonSink, Sink, make_sink
from logq.timerange import TimeError, current_time, resolve_window
from logstore import Hit, Order, QueryError, Store, StoreError, open_store, parse_query
from logstore.config import ConfigError, parse_duration
from logstore.types import datetime_to_ms
from logwarden.config import Config, load_config

TTY_LIMIT = 100
MAX_BUCKETS = 2000  # a histogram longer than this is a mistyped interval, not a chart
_SOURCE = operator.attrgetter("source")
DISCOVER = "\0discover"  # --fields given without a list
ENV_NOW = "LOGQ_NOW"
_FIELD_LIST = re.compile(r"^[A-Za-z_@][\w.@-]*(,[A-Za-z_@][\w.@-]*)*$")
# A saved-query reference: @name not followed by ':' (so @timestamp:... stays a field).
_SAVED = re.compile(r"(?<![\w\\])@([A-Za-z0-9_-]+)(?![\w:-])")
_QUOTED = re.compile(r'("(?:\\.|[^"\\])*")')

EPILOG = """\
times:
  --since takes a duration (15m, 2h, 7d). --from/--to take RFC 3339 (2026-11-22T06:00:00Z,
  2026-11-22 06:00, 2026-11-22) or Elasticsearch date math (now-1h/h, now/d, now-15m).
  A time without an offset is UTC, not local time. Rounding (/h, /d) rounds down.
  The window is [from, to): --from is included, --to is not.

saved queries:
  logq @502s runs queries.502s from logwarden.yaml; @name can be combined:
  logq '@502s AND host.name:web1'.

limits and follow:
  On a terminal logq shows the newest 100 hits (oldest first) and says how many matched; piped,
  it streams every hit. -f keeps printing new hits; a hit arriving up to --lookback late (an older
  @timestamp than what was printed) is still printed, once.

exit codes: 0 something matched, 1 nothing matched, 2 usage, query, config or store error.

examples:
  logq 'status:502 AND latency_ms:>500' --since 24h
  logq 'service.name:api' -o json | jq .message
  logq error -f
  logq '*' --count-by service.name
  logq 'log.level:error' --histogram 5m --by service.name
  logq 'service.name:api' --fields
"""


class UsageError(Exception):
    """A bad combination of arguments; one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see logq --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="logq",
        usage="logq [-c FILE] [QUERY] [options]",
        description="Search logs in the logwarden store. QUERY is Lucene syntax; empty matches everything.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("query", nargs="?", default="", help="Lucene query, e.g. 'status:502 AND latency_ms:>500'")
    p.add_argument(
        "-c", "--config", metavar="FILE", help="logwarden.yaml (default $LOGWARDEN_CONFIG, ./logwarden.yaml)"
    )
    t = p.add_argument_group("time (naive times are UTC)")
    t.add_argument(
        "--since", metavar="DUR", help="how far back from now (or from --to): 15m, 2h, 7d (default 1h)"
    )
    t.add_argument(
        "--from",
        dest="from_",
        metavar="TIME",
        help="start, RFC 3339 or date math (now-1h/h); UTC if no offset",
    )
    t.add_argument(
        "--to", metavar="TIME", help="end (exclusive), RFC 3339 or date math (now/d); UTC if no offset"
    )
    t.add_argument("--now", help=argparse.SUPPRESS)  # injected clock for tests and golden files
    o = p.add_argument_group("output")
    o.add_argument(
        "-o",
        "--output",
        choices=("pretty", "json", "raw", "table", "csv"),
        help="pretty on a terminal, json (one doc per line) when piped",
    )
    o.add_argument(
        "--fields",
        nargs="?",
        const=DISCOVER,
        metavar="A,B,C",
        help="columns for table/csv (projection for json/pretty); alone: list the fields seen",
    )
    o.add_argument(
        "--jq", metavar="FILTER", help="reshape each hit with a jq filter (predicates belong in QUERY)"
    )
    o.add_argument(
        "-n",
        "--limit",
        type=int,
        metavar="N",
        help="at most N hits (default 100 on a terminal, all when piped; 0 = all)",
    )
    o.add_argument(
        "--order",
        choices=("asc", "desc"),
        help="asc or desc by time (default: the newest N, printed oldest first)",
    )
    o.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colors (auto: only on a terminal)",
    )
    o.add_argument(
        "--time-key", metavar="KEY", help="field holding the time (default: guessed, @timestamp first)"
    )
    o.add_argument(
        "--level-key", metavar="KEY", help="field holding the level (default: guessed, log.level first)"
    )
    o.add_argument(
        "--message-key", metavar="KEY", help="field holding the message (default: guessed, message first)"
    )
    o.add_argument(
        "--service-key",
        metavar="KEY",
        help="field holding the service (default: guessed, service.name first)",
    )
    m = p.add_argument_group("modes")
    m.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new matching lines until Ctrl-C"
    )
    m.add_argument(
        "--lookback",
        default="10s",
        metavar="DUR",
        help="with -f: also catch docs arriving up to this late (default 10s)",
    )
    m.add_argument("--count", action="store_true", help="print the number of matching docs")
    m.add_argument("--count-by", metavar="FIELD[,FIELD]", help="counts and shares per value of FIELD")
    m.add_argument(
        "--top", type=int, default=10, metavar="N", help="groups shown by --count-by/--by (default 10)"
    )
    m.add_argument(
        "--histogram",
        nargs="?",
        const="auto",
        metavar="INTERVAL",
        help="bar chart of matches over time; INTERVAL like 5m (default: chosen from the window)",
    )
    m.add_argument("--by", metavar="FIELD", help="with --histogram: split the bars by FIELD")
    m.add_argument(
        "--sample", type=int, default=1000, metavar="N", help="docs sampled by --fields (default 1000)"
    )
    p.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--width", type=int, help=argparse.SUPPRESS)
    return p


@dataclass(slots=True)
class Io:
    stdout: BinaryIO
    stderr: TextIO
    isatty: bool
    env: Mapping[str, str]


def expand_saved(query: str, saved: Mapping[str, str]) -> str:
    """Replace ``@name`` with ``(saved query)``; an unknown name is an error listing the known ones."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in saved:
            known = ", ".join(sorted(saved)) or "none are defined"
            raise UsageError(f"unknown saved query @{name} (queries in the config: {known})")
        return f"({saved[name]})"

    # Only outside "quoted phrases": searching the text "mail @bob" must not look up a saved query.
    parts = _QUOTED.split(query)
    return "".join(part if part.startswith('"') else _SAVED.sub(sub, part) for part in parts)


def _mode_checks(a: argparse.Namespace) -> None:
    modes = [
        name
        for name, on in (
            ("--count", a.count),
            ("--count-by", a.count_by),
            ("--histogram", a.histogram),
            ("--fields", a.fields == DISCOVER),
            ("-f", a.follow),
        )
        if on
    ]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined")
    if a.follow and (a.to or a.order == "desc"):
        raise UsageError(
            "-f prints new lines as they arrive: --to and --order desc cannot be combined with it"
        )
    if a.by and not a.histogram:
        raise UsageError("--by needs --histogram (for a table of counts use --count-by)")
    if a.limit is not None and a.limit < 0:
        raise UsageError("-n/--limit must be 0 (all) or more")
    if a.top < 1 or a.sample < 1:
        raise UsageError("--top and --sample must be at least 1")
    for option, value in (("--count-by", a.count_by), ("--by", a.by)):
        if value and not _FIELD_LIST.match(value):
            raise UsageError(f"{option} expects field names (a,b), got {value!r}")
    if a.fields not in (None, DISCOVER) and not _FIELD_LIST.match(a.fields):
        raise UsageError(f"--fields expects a comma-separated list of field names, got {a.fields!r}")


def _resolve_histogram_arg(a: argparse.Namespace) -> timedelta | None:
    """--histogram's optional INTERVAL may have swallowed the query: `logq --histogram error`."""
    if a.histogram is None or a.histogram == "auto":
        return None
    try:
        step = parse_duration(a.histogram)
    except ValueError:
        if a.query:
            raise UsageError(f"--histogram expects an interval like 5m, got {a.histogram!r}") from None
        a.query, a.histogram = a.histogram, "auto"
        return None
    if step.total_seconds() < 0.001:
        raise UsageError(f"--histogram expects an interval of at least 1ms, got {a.histogram!r}")
    return step


def _resolve_fields_arg(a: argparse.Namespace) -> None:
    """Same for --fields: `logq --fields 'service.name:api'` means discovery over that query."""
    if a.fields not in (None, DISCOVER) and not _FIELD_LIST.match(a.fields) and not a.query:
        a.query, a.fields = a.fields, DISCOVER


def _duration(option: str, text: str) -> timedelta:
    try:
        step = parse_duration(text)
    except ValueError:
        raise UsageError(f"{option} expects a duration like 30s, 5m or 1h, got {text!r}") from None
    return step


def _compile_jq(text: str) -> Any:
    import jq

    try:
        return jq.compile(text)
    except ValueError as e:
        raise UsageError(str(e).rstrip()) from None


def _project(values: Iterable[Any], columns: Sequence[str]) -> Iterator[Any]:
    for v in values:
        yield {c: get_path(v, c) for c in columns} if isinstance(v, dict) else v


def _apply_jq(prog: Any, hits: Iterable[Hit]) -> Iterator[Any]:
    for hit in hits:
        try:
            yield from prog.input_value(hit.source)
        except ValueError as e:
            # jq's words, with the hit's id where jq itself would name the input position.
            raise UsageError(f"jq: error (at {hit.id}): {str(e).splitlines()[0]}") from None


def run(
    argv: Sequence[str] | None, io: Io, *, config: Config | None = None, stop: threading.Event | None = None
) -> int:
    """The whole command; returns the exit code. ``config`` and ``stop`` are seams for tests."""
    try:
        return _run(argv, io, config, stop)
    except UsageError as e:
        io.stderr.write(f"logq: {e}\n")
    except QueryError as e:
        io.stderr.write(f"logq: {e.render()}\n")
    except (ConfigError, TimeError) as e:
        io.stderr.write(f"logq: {e}\n")
    except StoreError as e:
        io.stderr.write(f"logq: store error: {e}\n")
    return 2


def _run(argv: Sequence[str] | None, io: Io, config: Config | None, stop: threading.Event | None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    _resolve_fields_arg(a)
    interval = _resolve_histogram_arg(a)
    _mode_checks(a)

    # ---- validate (no I/O besides reading the config file) ----
    if config is None:
        config = load_config(a.config, io.env)
    query = expand_saved(a.query, config.queries) if a.query else ""
    parse_query(query)  # raises QueryError with a caret before the store is touched
    now = current_time(a.now or io.env.get(ENV_NOW))
    window = resolve_window(now, a.since, a.from_, a.to)
    assert window.end is not None
    lookback = _duration("--lookback", a.lookback) if a.follow else timedelta(0)
    prog = _compile_jq(a.jq) if a.jq else None
    summary = bool(a.count or a.count_by or a.histogram or a.fields == DISCOVER)
    # Hits default to JSON lines when piped (for the next tool); summaries are small tables for
    # people either way, and -o json makes them JSON lines.
    fmt = a.output or ("pretty" if io.isatty or summary else "json")
    color = a.color == "always" or (
        a.color == "auto" and io.isatty and "NO_COLOR" not in io.env and io.env.get("TERM") != "dumb"
    )
    limit = a.limit if a.limit is not None else (TTY_LIMIT if io.isatty else 0)
    columns = a.fields.split(",") if a.fields not in (None, DISCOVER) else None
    keys = KeyChoice(a.time_key, a.level_key, a.message_key, a.service_key)
    columns_env = io.env.get("COLUMNS", "")
    width = (
        a.width
        or (int(columns_env) if columns_env.isdigit() else 0)
        or shutil.get_terminal_size((100, 24)).columns
    )
    if a.histogram:
        step = interval or aggs.auto_interval(window.start, window.end)
        buckets = (window.end - window.start) / step
        if buckets > MAX_BUCKETS:
            raise UsageError(
                f"--histogram {a.histogram} gives {buckets:,.0f} buckets over this window "
                f"(at most {MAX_BUCKETS:,})"
            )

    # ---- build and run ----
    store = open_store(config.store)
    try:
        if a.count:
            n = store.count(query, window.start, window.end)
            io.stdout.write(f'{{"count":{n}}}\n'.encode() if fmt == "json" else f"{n}\n".encode())
            io.stdout.flush()
            return 0 if n else 1
        if a.count_by:
            fields = a.count_by.split(",")
            result = aggs.count_by(store, query, window.start, window.end, fields, a.top)
            aggs.render_count_by(io.stdout, result, fields, a.top, fmt, color)
            return 0 if result.total else 1
        if a.histogram:
            hist = aggs.histogram(store, query, window.start, window.end, step, a.by, a.top)
            aggs.render_histogram(io.stdout, hist, a.by, fmt, color, width)
            return 0 if hist.total else 1
        if a.fields == DISCOVER:
            stats = aggs.discover_fields(store, query, window.start, window.end, a.sample)
            aggs.render_fields(io.stdout, stats, fmt, color)
            if stats.sampled >= a.sample:
                total = store.count(query, window.start, window.end)
                if total > stats.sampled:
                    io.stderr.write(
                        f"fields of the newest {stats.sampled:,} of {total:,} matching docs (--sample)\n"
                    )
            return 0 if stats.sampled else 1

        sink = make_sink(fmt, io.stdout, columns=columns, keys=keys, color=color)

        def shape(hits: Iterable[Hit]) -> Iterable[Any]:
            values: Iterable[Any] = _apply_jq(prog, hits) if prog is not None else map(_SOURCE, hits)
            if columns and fmt in ("json", "pretty"):
                values = _project(values, columns)
            return values

        seen = Seen(int(lookback.total_seconds() * 1000)) if a.follow else None
        raw_search = getattr(store, "search_raw", None)
        if isinstance(sink, JsonSink) and prog is None and not columns and seen is None and raw_search:
            # The docs go out as stored: no parse and re-serialization per hit (~4x the throughput).
            printed, cut = _search_raw(raw_search, query, window.start, window.end, a.order, limit, sink)
        else:
            printed, cut = _search(store, query, window.start, window.end, a.order, limit, sink, shape, seen)
        sink.flush()
        if cut:
            total = store.count(query, window.start, window.end)
            io.stderr.write(f"showing {limit:,} of {total:,}; use -n 0 for all\n")
            io.stderr.flush()
        if seen is not None:
            stop = stop or threading.Event()

            def emit(hits: Iterable[Hit]) -> None:
                sink.write_all(shape(hits))
                sink.flush()

            follow(
                store,
                query,
                seen,
                emit,
                poll_interval=a.poll_interval,
                stop=stop,
                start_ms=datetime_to_ms(window.start),
            )
            return 0
        return 0 if printed else 1
    finally:
        store.close()


def _search(
    store: Store,
    query: str,
    start: datetime,
    end: datetime,
    order: Order | None,
    limit: int,
    sink: Sink,
    shape: Callable[[Iterable[Hit]], Iterable[Any]],
    seen: Seen | None,
) -> tuple[int, bool]:
    """Write the window's hits; returns (values written, whether the limit cut hits)."""
    if limit and order is None:
        # The newest `limit` hits, printed oldest first, like tail: what you want after an alert.
        newest = list(store.search(query, start, end, order="desc", limit=limit + 1))
        hits: Iterable[Hit] = reversed(newest[:limit])
        printed = sink.write_all(shape(track(hits, seen) if seen is not None else hits))
        return printed, len(newest) > limit
    it = search_hits(store, query, start, end, order=order or "asc", limit=limit + 1 if limit else None)
    try:
        hits = itertools.islice(it, limit) if limit else it
        printed = sink.write_all(shape(track(hits, seen) if seen is not None else hits))
        cut = bool(limit) and next(it, None) is not None
    finally:
        # Release the backend's cursor now (an Elasticsearch point-in-time), not at garbage collection.
        it.close()
    return printed, cut


def _search_raw(
    search_raw: Callable[..., Iterator[tuple[Any, bytes]]],
    query: str,
    start: datetime,
    end: datetime,
    order: Order | None,
    limit: int,
    sink: JsonSink,
) -> tuple[int, bool]:
    """``_search`` for a store's optional ``search_raw``: the stored JSON lines go out untouched."""
    if limit and order is None:
        newest = list(search_raw(query, start, end, order="desc", limit=limit + 1))
        printed = sink.write_lines(line for _, line in reversed(newest[:limit]))
        return printed, len(newest) > limit
    it = search_raw(query, start, end, order=order or "asc", limit=limit + 1 if limit else None)
    lines = (line for _, line in it)
    printed = sink.write_lines(itertools.islice(lines, limit) if limit else lines)
    cut = bool(limit) and next(lines, None) is not None
    return printed, cut


def main(argv: Sequence[str] | None = None) -> None:
    out = sys.stdout.buffer
    io = Io(out, sys.stderr, sys.stdout.isatty(), os.environ)
    follow_mode = argv is None and any(x in ("-f", "--follow") for x in sys.argv[1:])
    try:
        code = run(argv, io)
        out.flush()
    except BrokenPipeError:
        # The reader went away (`logq ... | head`): stop quietly. Point stdout at /dev/null so the
        # interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except KeyboardInterrupt:
        code = 0 if follow_mode else 130
    sys.exit(code)


if __name__ == "__main__":
    main()
