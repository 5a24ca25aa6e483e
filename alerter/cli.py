"""``alerter``: run, status, check, schema, silence, test.

User errors (bad config, bad rule, bad arguments) and a store that cannot be used print one line and
exit 2, never a traceback; 1 means a check or a delivery failed (``test``, ``run --once``), 0 all well.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logstore.config import ConfigError, parse_duration
from logstore.observe import setup_logging
from logstore.types import StoreError, datetime_to_ms, format_ts
from logwarden.cli import add_output, add_version, json_line, quiet_on_closed_pipe
from logwarden.config import Config, load_config

if TYPE_CHECKING:
    from alerter.notify.worker import DeliveryWorker

log = logging.getLogger("alerter")

EXIT_USER = 2


class UserError(Exception):
    pass


class _ArgParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, like every other user error
        self.exit(EXIT_USER, f"{self.prog}: {message}\n")


def _common(top: bool = False) -> _ArgParser:
    """-c and --log-level, accepted before and after the command (`alerter -c F status` and
    `alerter status -c F`). After the command they default to SUPPRESS, so they do not overwrite
    a value given before it."""
    p = _ArgParser(add_help=False)
    default_cfg = None if top else argparse.SUPPRESS
    default_level = None if top else argparse.SUPPRESS  # None: not given ($LOG_LEVEL, then INFO)
    p.add_argument(
        "-c",
        "--config",
        default=default_cfg,
        help="logwarden.yaml (default: $LOGWARDEN_CONFIG or ./logwarden.yaml)",
    )
    p.add_argument(
        "--log-level",
        default=default_level,
        help="DEBUG, INFO, WARNING, ERROR (beats $LOG_LEVEL; default INFO)",
    )
    return p


def _notifier(config: Config, store: Any) -> DeliveryWorker:
    """The notification pipeline on a delivery thread of its own (off the scheduler)."""
    from alerter.notify import build_notifier
    from alerter.notify.worker import DeliveryWorker

    return DeliveryWorker(build_notifier(config, store))


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    p = _ArgParser(
        prog="alerter",
        description="Evaluate logwarden alert rules and send notifications.",
        parents=[_common(True)],
    )
    add_version(p)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_ArgParser)

    run = sub.add_parser("run", parents=[common], help="evaluate rules on their schedules")
    run.add_argument("--once", action="store_true", help="evaluate every rule now, notify, exit")

    status = sub.add_parser("status", parents=[common], help="each rule and group: state, value, evaluations")
    add_output(status)

    check = sub.add_parser("check", parents=[common], help="validate logwarden.yaml and every rule")
    check.add_argument("paths", nargs="*", help="rule files or directories (default: alerter.rules)")

    sub.add_parser("schema", parents=[common], help="print the JSON Schema of a rule")

    test = sub.add_parser("test", parents=[common], help="backtest a rule, or run a CASES.yaml fixture file")
    test.add_argument("target", help="a CASES.yaml file, a rule file, or a rule name")
    test.add_argument("--since", default="24h", help="backtest range (default 24h)")

    try:
        from alerter.notify.cli import add_silence_commands
    except ImportError:  # the notification pipeline is a separate package that may be absent
        silence = sub.add_parser("silence", parents=[common], help="(notification pipeline not installed)")
        silence.add_argument("rest", nargs=argparse.REMAINDER)
    else:
        add_silence_commands(sub, parents=[common])
    return p


# ---- commands ----------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def cmd_schema(args: argparse.Namespace) -> int:
    from alerter.rules.schema import rule_schema

    print(json.dumps(rule_schema(), indent=2))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from alerter.rules.loader import load_rules

    config = _config(args)
    paths = args.paths or config.alerter.rules
    base = None if args.paths else config.base_dir
    result = load_rules(paths, config, base)
    from alerter.notify import check_channels
    from alerter.notify.check import channel_services

    # Channel URLs are checked here rather than in the config model: importing apprise costs ~1 s,
    # which every logq start would otherwise pay.
    errors = [*result.errors, *check_channels(config), *_check_templates(result.rules)]
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return EXIT_USER
    services = channel_services(config)
    if services:
        print(services)  # which service apprise resolved each URL to: a surprise shows here
    from alerter.fieldcheck import field_warnings

    for w in field_warnings(config, result.rules):
        print(f"warning: {w}", file=sys.stderr)
    print(f"{config.source}: ok; {len(result.rules)} rule(s) in {len(result.files)} file(s) ok")
    return 0


def _check_templates(rules: Sequence[Any]) -> list[str]:
    """Render every summary once against a sample: a template over its budget fails check."""
    from alerter.render import check_summary

    now = datetime.now(UTC)
    errors = []
    for rs in rules:
        problem = check_summary(rs.rule, now)
        if problem is not None:
            errors.append(f"{rs.path}:{rs.line_of('summary')}: summary: {problem}")
    return errors


def _open(config: Config, *, create: bool = True) -> Any:
    from logstore import open_store

    return open_store(config.store, create=create)


def cmd_run(args: argparse.Namespace) -> int:
    from alerter.engine import Engine
    from alerter.runner import RuleSet, Runner
    from alerter.state import open_state
    from logstore import get_backend

    config = _config(args)
    ruleset = RuleSet(config)
    ruleset.reload()
    if ruleset.errors and not ruleset.by_file:
        raise UserError(next(iter(ruleset.errors.values()))[0])
    store = _open(config)
    state = None
    engine = None
    notifier = None
    try:
        state = open_state(config, store)
        per_thread = get_backend(config.store.backend).store_per_thread
        factory = (lambda: _open(config)) if per_thread else None
        notifier = _notifier(config, store)
        engine = Engine(
            store,
            notifier,
            state,
            config.alerter,
            config_path=None if config.source == "<defaults>" else config.source,
            base_url=config.notify.base_url,
            store_factory=factory,
        )
        runner = Runner(engine, ruleset)
        if args.once:
            runner.run_once()
            failed = any(m.failures for m in engine.metas.values() if m.rule in engine.rules)
            # A cron job sees only the exit code: a delivery that failed must not look like success.
            return 1 if _report_undelivered(notifier) or failed else 0
        return _serve(config, runner)
    finally:
        if notifier is not None:
            notifier.close(timeout=10)
        if engine is not None:
            engine.close()
        if state is not None:
            state.close()
        store.close()


def _report_undelivered(notifier: DeliveryWorker) -> bool:
    """One stderr line per notification group still undelivered after ``run --once``; True if any."""
    undelivered = notifier.pipeline.undelivered()
    for u in undelivered:
        print(
            f"alerter run: delivery to channel {u.channel!r} failed ({u.reason or 'no reason given'}):"
            f" {u.alerts} alert(s) kept; retried by the next run (alerter run retries at"
            f" {format_ts(datetime_to_ms(u.retry_at))}, attempt {u.attempts + 1})",
            file=sys.stderr,
        )
    return bool(undelivered)


def _serve(config: Config, runner: Any) -> int:
    http = None
    m = config.alerter.metrics
    if m.port is not None:
        from logstore.observe import start_http

        http = start_http(m.host, m.port, runner.live, runner.ready, runner.details)
        log.info("serving /healthz, /readyz and /metrics", extra={"port": http.port})

    def _stop(signum: int, frame: Any) -> None:
        log.info("signal received; stopping", extra={"signal": signum})
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        runner.run()
    finally:
        if http is not None:
            http.stop()
    return 0


def _ts(dt: datetime | None) -> str:
    return "-" if dt is None else format_ts(datetime_to_ms(dt))


def cmd_status(args: argparse.Namespace) -> int:
    from alerter.rules.loader import load_rules
    from alerter.schedule import next_tick
    from alerter.state import open_state

    config = _config(args)
    loaded = load_rules(config.alerter.rules, config, config.base_dir)
    store = _open(config, create=False)  # a reader: a store that is not there is an error, not created
    try:
        state = open_state(config, store)
        instances, metas = state.load()
        state.close()
    finally:
        store.close()
    now = datetime.now(UTC)
    by_rule: dict[str, list[Any]] = {}
    for inst in instances:
        by_rule.setdefault(inst.rule, []).append(inst)
    meta_by = {m.rule: m for m in metas}
    rows: list[dict[str, Any]] = []
    for rs in loaded.rules:
        r = rs.rule
        meta = meta_by.get(r.name)
        error = meta.last_error if meta else ""
        if meta is not None and meta.extra.get("truncated") and not error:
            error = "more groups than alerter.group_limit; only the first are judged"
        base = {"rule": r.name}
        times = {
            "last_eval": meta.last_eval if meta else None,
            "next_eval": next_tick(r, now),
            "error": error or None,
        }
        insts = sorted(by_rule.get(r.name, []), key=lambda i: sorted(i.group.items()))
        if not insts:
            shown = "error" if error else "ok"
            rows.append({**base, "group": {}, "state": shown, "value": None, "since": None, **times})
        for i in insts:
            rows.append(
                {**base, "group": i.group, "state": i.state, "value": i.value, "since": i.since, **times}
            )
    for e in loaded.errors:
        print(e, file=sys.stderr)
    if args.output == "json":
        for row in rows:
            print(json_line(row))
        return 0
    _print_status_table(rows)
    return 0


def _print_status_table(rows: list[dict[str, Any]]) -> None:
    from alerter.render import fmt_value

    cols = ["rule", "group", "state", "value", "last_eval", "next_eval", "error"]
    cells = [
        {
            **row,
            "group": ", ".join(f"{k}={v}" for k, v in sorted(row["group"].items())),
            # A rule with no group in state (never breached) has no value to show, not "no data".
            "value": "-" if row["since"] is None else fmt_value(row["value"]),
            "last_eval": _ts(row["last_eval"]),
            "next_eval": _ts(row["next_eval"]),
            "error": row["error"] or "",
        }
        for row in rows
    ]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in cells)) if cells else len(c) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for row in cells:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in cols).rstrip())


def cmd_test(args: argparse.Namespace) -> int:
    from alerter.cases import is_cases_file, run_cases_file

    target = Path(args.target)
    if target.is_file() and is_cases_file(target):
        results = run_cases_file(target)
        failed = 0
        for r in results:
            print(f"{'PASS' if r.ok else 'FAIL'}  {r.name}")
            for p in r.problems:
                print(f"      {p}")
            failed += not r.ok
        print(f"{len(results) - failed} passed, {failed} failed")
        return 1 if failed else 0
    return _backtest(args, target)


def _backtest(args: argparse.Namespace, target: Path) -> int:
    from alerter.backtest import backtest, report
    from alerter.rules.loader import load_rules, parse_rule_file

    try:
        since = parse_duration(args.since)
    except ValueError as e:
        raise UserError(f"--since: {e}") from None
    config = _config(args)
    if target.is_file():
        found, errors = parse_rule_file(target)
        if errors:
            raise UserError(errors[0])
    else:
        loaded = load_rules(config.alerter.rules, None, config.base_dir)
        found = [rs for rs in loaded.rules if rs.rule.name == args.target]
        if not found:
            raise UserError(
                f"{args.target}: no such file, and no rule of that name in {config.alerter.rules}"
            )
    store = _open(config)
    try:
        now = datetime.now(UTC)
        for rs in found:
            print(report(backtest(store, rs.rule, since, now, config.alerter)))
    finally:
        store.close()
    return 0


COMMANDS = {
    "run": cmd_run,
    "status": cmd_status,
    "check": cmd_check,
    "schema": cmd_schema,
    "test": cmd_test,
}


@quiet_on_closed_pipe
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "log_level", None))
    handler = COMMANDS.get(args.command)
    if handler is None:
        func = getattr(args, "func", None)
        if func is None:
            print(
                "alerter silence: the notification pipeline (alerter.notify) is not installed",
                file=sys.stderr,
            )
            return EXIT_USER
        return int(func(args) or 0)
    try:
        return handler(args)
    except (ConfigError, UserError) as e:
        for line in str(e).splitlines():  # a config error lists every error of the file, one a line
            print(f"alerter {args.command}: {line}", file=sys.stderr)
        return EXIT_USER
    except StoreError as e:  # 2 in all three programs: a store error is not "condition false"
        print(f"alerter {args.command}: {e}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
