"""``alerter silence add|list|expire``: registered on the engine's argparse subparsers.

Each leaf sets ``args.handler(args, config) -> int`` (for a caller that loaded the config) and
``args.func(args) -> int`` (loads ``-c/--config`` itself). User errors print one line to stderr and
return 2; an unusable store returns 1.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from alerter.notify.matchers import Matcher, MatcherError, parse_matcher
from alerter.notify.state import NotifyState, Silence, open_state
from alerter.notify.state.types import time_left
from logstore.config import ConfigError, parse_duration
from logstore.types import StoreError
from logwarden.cli import add_output, json_line
from logwarden.config import Config, load_config

EXIT_USER = 2


class _UsageError(Exception):
    pass


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-c", "--config", help="logwarden.yaml (default: $LOGWARDEN_CONFIG or ./logwarden.yaml)")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (env LOG_LEVEL wins)")
    return p


def add_silence_commands(
    subparsers: Any, parents: list[argparse.ArgumentParser] | None = None
) -> argparse.ArgumentParser:
    """Add ``silence`` with ``add``, ``list`` and ``expire`` to ``subparsers`` (from add_subparsers()).

    ``parents`` gives the leaves the caller's common options; by default they get ``-c/--config`` and
    ``--log-level``.
    """
    parents = parents if parents is not None else [_common()]
    p = subparsers.add_parser("silence", help="mute notifications of matching alerts for a while")
    sub = p.add_subparsers(dest="silence_command", metavar="{add,list,expire}", required=True)

    add = sub.add_parser(
        "add", parents=parents, help="silence alerts of a rule (optionally only matching groups)"
    )
    add.add_argument("--rule", required=True, help="rule name or glob (* = every rule)")
    add.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="MATCHER",
        help="KEY=VALUE, KEY!=VALUE, KEY=~REGEX or KEY!~REGEX on a group field, label, severity (repeatable)",
    )
    add.add_argument(
        "--start", default=None, metavar="TIME", help="when it begins (default now), e.g. now+1h"
    )
    add.add_argument("--end", default=None, metavar="TIME", help="when it ends, e.g. 2026-03-01T06:00:00Z")
    add.add_argument("--for", dest="duration", default=None, metavar="DURATION", help="e.g. 30m, 2h, 1d")
    add.add_argument("--comment", required=True, help="why (shown in silence list)")
    add.add_argument("--author", default=None, help="who (default: your user name)")
    add.set_defaults(handler=cmd_add, func=_standalone(cmd_add))

    ls = sub.add_parser("list", parents=parents, help="active silences (--all: also expired ones)")
    ls.add_argument("--all", action="store_true", help="include expired silences")
    add_output(ls)
    ls.set_defaults(handler=cmd_list, func=_standalone(cmd_list))

    ex = sub.add_parser("expire", parents=parents, help="end a silence now")
    ex.add_argument("id", help="silence id (from silence add / list)")
    ex.set_defaults(handler=cmd_expire, func=_standalone(cmd_expire))
    return p


def _standalone(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            config = load_config(getattr(args, "config", None))
        except ConfigError as e:
            print(f"alerter silence: {e}", file=sys.stderr)
            return EXIT_USER
        return int(handler(args, config))

    return run


def _open(config: Config) -> tuple[NotifyState, Any]:
    from logstore import open_store

    # Every backend gets its store: one keeps the state through the store's client (Elasticsearch),
    # another next to the store's data (SQLite); which one is the backend's business.
    store = open_store(config.store)
    try:
        return open_state(config, store), store
    except BaseException:
        store.close()
        raise


def _close(state: NotifyState, store: Any) -> None:
    state.close()
    if store is not None:
        store.close()


def _matchers(raw: list[str]) -> tuple[Matcher, ...]:
    out: list[Matcher] = []
    for item in raw:
        try:
            out.append(parse_matcher(item))
        except MatcherError as e:
            raise _UsageError(f"--match {e}, e.g. host.name=web1 or host.name=~web[12]") from None
    return tuple(out)


def _time(flag: str, text: str, now: datetime) -> datetime:
    from logq.timerange import TimeError, parse_time

    try:
        return parse_time(text, now)
    except (TimeError, ValueError) as e:
        raise _UsageError(f"{flag} {text!r}: {e}") from None


def _span(args: argparse.Namespace, now: datetime) -> tuple[datetime, datetime]:
    """(starts_at, ends_at) from --start and one of --end / --for."""
    starts = _time("--start", args.start, now) if args.start else now
    if (args.end is None) == (args.duration is None):
        raise _UsageError("give exactly one of --end or --for")
    if args.duration is not None:
        try:
            duration = parse_duration(args.duration)
        except ValueError as e:
            raise _UsageError(f"--for {args.duration!r}: {e}") from None
        if duration.total_seconds() <= 0:
            raise _UsageError("--for must be longer than zero")
        return starts, starts + duration
    ends = _time("--end", args.end, now)
    if ends <= max(starts, now):
        raise _UsageError(f"--end {args.end!r} is not after the start and now: the silence would do nothing")
    return starts, ends


def _check_rule(pattern: str, config: Config) -> None:
    """A silence for a rule name that no rule file defines mutes nothing: a typo. Globs are not checked
    (they may be meant for rules added later); ``alerter:NAME`` (meta-alerts) checks NAME."""
    if any(c in pattern for c in "*?["):
        return
    from alerter.rules.loader import load_rules

    name = pattern.removeprefix("alerter:")
    result = load_rules(config.alerter.rules, config, config.base_dir)
    if not any(rs.rule.name == name for rs in result.rules):
        where = ", ".join(config.alerter.rules)
        raise _UsageError(f"--rule {pattern!r}: no rule of that name in {where} (see: alerter check)")


def _run(fn: Any, args: argparse.Namespace, config: Config) -> int:
    try:
        return int(fn(args, config))
    except _UsageError as e:
        print(f"alerter silence: {e}", file=sys.stderr)
        return EXIT_USER
    except StoreError as e:
        print(f"alerter silence: {e}", file=sys.stderr)
        return 1


def cmd_add(args: argparse.Namespace, config: Config) -> int:
    return _run(_add, args, config)


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    return _run(_list, args, config)


def cmd_expire(args: argparse.Namespace, config: Config) -> int:
    return _run(_expire, args, config)


def _now() -> datetime:
    return datetime.now(UTC)


def _add(args: argparse.Namespace, config: Config) -> int:
    now = _now()
    starts, ends = _span(args, now)
    matchers = _matchers(args.match)
    _check_rule(args.rule, config)
    silence = Silence(
        id=uuid.uuid4().hex[:12],
        rule=args.rule,
        matchers=matchers,
        starts_at=starts,
        ends_at=ends,
        comment=args.comment,
        author=args.author or getpass.getuser(),
        created_at=now,
    )
    state, store = _open(config)
    try:
        state.add_silence(silence)
    finally:
        _close(state, store)
    print(silence.id)
    return 0


def _list(args: argparse.Namespace, config: Config) -> int:
    now = _now()
    state, store = _open(config)
    try:
        rows = state.silences(now, "all" if args.all else "active")
    finally:
        _close(state, store)
    if not rows:
        # With -o json, stdout stays JSON lines (none); the person still reads why it is empty.
        out = sys.stderr if args.output == "json" else sys.stdout
        print("no silences" if args.all else "no active silences", file=out)
        return 0
    if args.output == "json":
        for s in rows:
            row = {
                "id": s.id,
                "rule": s.rule,
                "match": [m.text() for m in s.match],
                "starts_at": s.starts_at,
                "ends_at": s.ends_at,
                "active": s.active(now),
                "author": s.author,
                "comment": s.comment,
                "created_at": s.created_at,
            }
            print(json_line(row))
        return 0
    print(f"{'ID':<12}  {'RULE':<24}  {'MATCH':<28}  {'ENDS':<20}  {'LEFT':>6}  {'AUTHOR':<10}  COMMENT")
    for s in rows:
        match = s.match_text()
        left = time_left(s.ends_at - now) if s.active(now) else ("ended" if s.ends_at <= now else "later")
        ends = s.ends_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{s.id:<12}  {s.rule:<24}  {match:<28}  {ends:<20}  {left:>6}  {s.author:<10}  {s.comment}")
    return 0


def _expire(args: argparse.Namespace, config: Config) -> int:
    state, store = _open(config)
    try:
        ok = state.expire_silence(args.id, _now())
    finally:
        _close(state, store)
    if not ok:
        raise _UsageError(f"no active silence with id {args.id!r} (see: alerter silence list)")
    print(f"expired {args.id}")
    return 0
