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
from logstore import Hit, Order, QueryError, RawSearch, Store, StoreError, open_store, parse_query
from logstore.config import ConfigError, parse_duration
from logstore.types import datetime_to_ms
from logwarden.cli import add_version, quiet_on_closed_pipe
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
    # Long but flat: one add_argument per option, in --help order; splitting it would scatter --help.
    p = _Parser(
        prog="logq",
        usage="logq [-c FILE] [QUERY] [options]",
        description="Search logs in the logwarden store. QUERY is Lucene syntax; empty matches everything.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(p)
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
        io.stderr.writelines(f"logq: {line}\n" for line in str(e).splitlines())  # a config: every error
    except StoreError as e:
        io.stderr.write(f"logq: store error: {e}\n")
    return 2


@dataclass(slots=True)
class _Plan:
    """Everything one logq run does, validated before the store is opened."""

    args: argparse.Namespace
    io: Io
    query: str
    start: datetime
    end: datetime
    fmt: str  # output format: pretty, json, ...
    color: bool
    limit: int  # 0: no limit
    columns: list[str] | None  # --fields a,b,c
    keys: KeyChoice
    width: int
    step: timedelta | None  # the histogram's interval
    lookback: timedelta  # -f: how late a hit may arrive and still be printed
    prog: Any  # the compiled --jq filter, or None
    stop: threading.Event | None


def _run(argv: Sequence[str] | None, io: Io, config: Config | None, stop: threading.Event | None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    _resolve_fields_arg(a)
    interval = _resolve_histogram_arg(a)
    _mode_checks(a)
    if config is None:
        config = load_config(a.config, io.env)
    plan = _plan(a, io, config, interval, stop)
    store = open_store(
        config.store, create=False
    )  # a reader: never creates a store, needs only read permission
    try:
        _warn_unknown_fields(store, plan)
        return MODES[_mode_of(a)](store, plan)
    finally:
        store.close()


def _warn_unknown_fields(store: Store, p: _Plan) -> None:
    """A field the query (or --count-by/--by) names that no doc of the window has: one line on stderr
    each, with the closest known name, so a misspelt field is not read as "nothing happened"."""
    a = p.args
    fields = aggs.query_fields(parse_query(p.query)) if p.query else []
    for option in (a.count_by, a.by):
        fields += [f for f in (option or "").split(",") if f and f not in fields]
    if fields:
        for line in aggs.unknown_field_warnings(store, fields, p.start, p.end, a.sample):
            p.io.stderr.write(line + "\n")
        p.io.stderr.flush()


def _plan(
    a: argparse.Namespace, io: Io, config: Config, interval: timedelta | None, stop: threading.Event | None
) -> _Plan:
    """Validate everything (no I/O besides the config file read already): the query, the window, jq."""
    query = expand_saved(a.query, config.queries) if a.query else ""
    parse_query(query)  # raises QueryError with a caret before the store is touched
    now = current_time(a.now or io.env.get(ENV_NOW))
    window = resolve_window(now, a.since, a.from_, a.to)
    assert window.end is not None
    summary = bool(a.count or a.count_by or a.histogram or a.fields == DISCOVER)
    # Hits default to JSON lines when piped (for the next tool); summaries are small tables for
    # people either way, and -o json makes them JSON lines.
    fmt = a.output or ("pretty" if io.isatty or summary else "json")
    color = a.color == "always" or (
        a.color == "auto" and io.isatty and "NO_COLOR" not in io.env and io.env.get("TERM") != "dumb"
    )
    columns_env = io.env.get("COLUMNS", "")
    width = (
        a.width
        or (int(columns_env) if columns_env.isdigit() else 0)
        or shutil.get_terminal_size((100, 24)).columns
    )
    step = None
    if a.histogram:
        step = interval or aggs.auto_interval(window.start, window.end)
        buckets = (window.end - window.start) / step
        if buckets > MAX_BUCKETS:
            raise UsageError(
                f"--histogram {a.histogram} gives {buckets:,.0f} buckets over this window "
                f"(at most {MAX_BUCKETS:,})"
            )
    return _Plan(
        args=a,
        io=io,
        query=query,
        start=window.start,
        end=window.end,
        fmt=fmt,
        color=color,
        limit=a.limit if a.limit is not None else (TTY_LIMIT if io.isatty else 0),
        columns=a.fields.split(",") if a.fields not in (None, DISCOVER) else None,
        keys=KeyChoice(a.time_key, a.level_key, a.message_key, a.service_key),
        width=width,
        step=step,
        lookback=_duration("--lookback", a.lookback) if a.follow else timedelta(0),
        prog=_compile_jq(a.jq) if a.jq else None,
        stop=stop,
    )


def _mode_of(a: argparse.Namespace) -> str:
    """The one mode of this run (``_mode_checks`` has refused combinations)."""
    if a.count:
        return "count"
    if a.count_by:
        return "count-by"
    if a.histogram:
        return "histogram"
    if a.fields == DISCOVER:
        return "fields"
    return "follow" if a.follow else "search"


def _mode_count(store: Store, p: _Plan) -> int:
    n = store.count(p.query, p.start, p.end)
    p.io.stdout.write(f'{{"count":{n}}}\n'.encode() if p.fmt == "json" else f"{n}\n".encode())
    p.io.stdout.flush()
    return 0 if n else 1


def _mode_count_by(store: Store, p: _Plan) -> int:
    fields = p.args.count_by.split(",")
    result = aggs.count_by(store, p.query, p.start, p.end, fields, p.args.top)
    aggs.render_count_by(p.io.stdout, result, fields, p.args.top, p.fmt, p.color)
    return 0 if result.total else 1


def _mode_histogram(store: Store, p: _Plan) -> int:
    assert p.step is not None
    hist = aggs.histogram(store, p.query, p.start, p.end, p.step, p.args.by, p.args.top)
    aggs.render_histogram(p.io.stdout, hist, p.args.by, p.fmt, p.color, p.width)
    return 0 if hist.total else 1


def _mode_fields(store: Store, p: _Plan) -> int:
    stats = aggs.discover_fields(store, p.query, p.start, p.end, p.args.sample)
    aggs.render_fields(p.io.stdout, stats, p.fmt, p.color)
    if stats.sampled >= p.args.sample:
        total = store.count(p.query, p.start, p.end)
        if total > stats.sampled:
            p.io.stderr.write(
                f"fields of the newest {stats.sampled:,} of {total:,} matching docs (--sample)\n"
            )
    return 0 if stats.sampled else 1


def _shaper(p: _Plan) -> Callable[[Iterable[Hit]], Iterable[Any]]:
    """Hits to the values the sink writes: the doc, or --jq's output, projected on --fields."""

    def shape(hits: Iterable[Hit]) -> Iterable[Any]:
        values: Iterable[Any] = _apply_jq(p.prog, hits) if p.prog is not None else map(_SOURCE, hits)
        if p.columns and p.fmt in ("json", "pretty"):
            values = _project(values, p.columns)
        return values

    return shape


def _print_window(store: Store, p: _Plan, sink: Sink, seen: Seen | None) -> int:
    """Write the window's hits (up to the limit, saying so when it cut); returns how many."""
    if (
        isinstance(sink, JsonSink)
        and p.prog is None
        and not p.columns
        and seen is None
        and isinstance(store, RawSearch)
    ):
        # The docs go out as stored: no parse and re-serialization per hit (~4x the throughput).
        printed, cut = _search_raw(store, p.query, p.start, p.end, p.args.order, p.limit, sink)
    elif p.prog is not None and p.limit:
        printed, cut = _search_jq(store, p, sink, seen)
    else:
        printed, cut = _search(store, p.query, p.start, p.end, p.args.order, p.limit, sink, _shaper(p), seen)
    sink.flush()
    if cut and p.prog is not None:
        p.io.stderr.write(f"showing {p.limit:,} of jq's outputs; use -n 0 for all\n")
        p.io.stderr.flush()
    elif cut:
        total = store.count(p.query, p.start, p.end)
        p.io.stderr.write(f"showing {p.limit:,} of {total:,}; use -n 0 for all\n")
        p.io.stderr.flush()
    return printed


def _search_jq(store: Store, p: _Plan, sink: Sink, seen: Seen | None) -> tuple[int, bool]:
    """With --jq, -n counts jq's outputs, not the docs fed to it: a `select(...)` filter gets every
    match (newest first, or in --order) until it has given N values, so the answer is never cut
    short by docs it dropped. Returns (values written, whether more outputs were left out)."""
    shape = _shaper(p)
    newest_first = p.args.order is None  # the newest N values, printed oldest first (like tail)
    it = search_hits(store, p.query, p.start, p.end, order=p.args.order or "desc", limit=None)
    taken: list[tuple[Hit, list[Any]]] = []
    room = p.limit
    cut = False
    try:
        for hit in it:
            values = list(shape([hit]))
            if not values:
                continue
            if room == 0:
                cut = True
                break
            if len(values) > room:
                values, cut = values[:room], True
            taken.append((hit, values))
            room -= len(values)
            if cut:
                break
    finally:
        it.close()  # release the backend's cursor now (an Elasticsearch point-in-time)
    if newest_first:
        taken.reverse()
    if seen is not None:
        for hit, _ in taken:
            seen.add(hit)
    return sink.write_all(v for _, values in taken for v in values), cut


def _sink(p: _Plan) -> Sink:
    return make_sink(p.fmt, p.io.stdout, columns=p.columns, keys=p.keys, color=p.color)


def _mode_search(store: Store, p: _Plan) -> int:
    return 0 if _print_window(store, p, _sink(p), None) else 1


def _mode_follow(store: Store, p: _Plan) -> int:
    sink = _sink(p)
    seen = Seen(int(p.lookback.total_seconds() * 1000))
    _print_window(store, p, sink, seen)
    shape = _shaper(p)

    def emit(hits: Iterable[Hit]) -> None:
        sink.write_all(shape(hits))
        sink.flush()

    follow(
        store,
        p.query,
        seen,
        emit,
        poll_interval=p.args.poll_interval,
        stop=p.stop or threading.Event(),
        start_ms=datetime_to_ms(p.start),
    )
    return 0


# One function per mode; ``_mode_of`` picks the key.
MODES: dict[str, Callable[[Store, _Plan], int]] = {
    "search": _mode_search,
    "follow": _mode_follow,
    "count": _mode_count,
    "count-by": _mode_count_by,
    "histogram": _mode_histogram,
    "fields": _mode_fields,
}


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
    store: RawSearch,
    query: str,
    start: datetime,
    end: datetime,
    order: Order | None,
    limit: int,
    sink: JsonSink,
) -> tuple[int, bool]:
    """``_search`` for a store with the ``RawSearch`` capability: the stored JSON lines go out untouched."""
    if limit and order is None:
        newest = list(store.search_raw(query, start, end, order="desc", limit=limit + 1))
        printed = sink.write_lines(line for _, line in reversed(newest[:limit]))
        return printed, len(newest) > limit
    it = store.search_raw(query, start, end, order=order or "asc", limit=limit + 1 if limit else None)
    lines = (line for _, line in it)
    printed = sink.write_lines(itertools.islice(lines, limit) if limit else lines)
    cut = bool(limit) and next(lines, None) is not None
    return printed, cut


def main(argv: Sequence[str] | None = None) -> None:
    out = sys.stdout.buffer
    io = Io(out, sys.stderr, sys.stdout.isatty(), os.environ)
    follow_mode = argv is None and any(x in ("-f", "--follow") for x in sys.argv[1:])

    @quiet_on_closed_pipe  # the reader went away (`logq ... | head`): stop quietly
    def _run() -> int:
        code = run(argv, io)
        out.flush()
        return code

    try:
        code = _run()
    except KeyboardInterrupt:
        code = 0 if follow_mode else 130
    sys.exit(code)


if __name__ == "__main__":
    main()
