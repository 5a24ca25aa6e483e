"""Evaluate due rules in one store round trip, step each (rule, group) state, announce changes.

Guarantees:
- Evaluation is aggregation only (``store.aggregate``); the only documents read are up to
  ``sample`` example lines per announced firing group, and ``top:`` values are counted only for
  those groups too (alerter.evidence).
- Every due rule of a batch shares one ``aggregate`` call; if that call fails, each rule is retried
  alone once, so one broken rule cannot put its batch-mates into the error state.
- State is saved before events go to the notifier: a crash between the two can lose an
  announcement (the next tick will not repeat it), but never announces twice after a restart.
- Every state change is also written to the store as an alert document (``event.kind: alert``).
- A rule that fails N ticks in a row raises one meta-alert to the ``alerter`` channel, and a
  resolved one when it recovers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerter import evidence
from alerter.annotations import render_annotations
from alerter.conditions import Evaluation, RuleError, Sample, Window, build_conditions
from alerter.config import AlerterConfig
from alerter.events import AlertEvent, AlertState, Flushing, Notifier, TopValues, Updating
from alerter.machine import Observation, fail, step
from alerter.metrics import EVAL_SECONDS, EVALUATIONS, EVENTS_SENT, TRANSITIONS
from alerter.observed import (
    AlertDocsNotWritten,
    AlertDocsRefused,
    GroupsTruncated,
    RuleFailed,
)
from alerter.render import alert_link, logq_command, match_query, render_summary, summary_context
from alerter.rules.model import Rule
from alerter.schedule import window_for
from alerter.state import Instance, RuleMeta, StateStore, fingerprint
from alerter.statement import statement
from alerter.templates import TemplateLimit, refused
from logstore.coalesce import coalesce
from logstore.observe import emit
from logstore.protocol import Store
from logstore.types import AggRequest, AggResult, Doc, datetime_to_ms, format_ts

SERVICE = "logwarden-alerter"
META_CHANNEL = "alerter"


@dataclass(slots=True)
class Transition:
    rule: str
    instance: Instance
    previous: str
    announced: AlertState | None


@dataclass(slots=True)
class RuleOutcome:
    rule: str
    tick: datetime
    window: Window
    error: str = ""
    evaluation: Evaluation | None = None
    transitions: list[Transition] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)
    updates: list[AlertEvent] = field(default_factory=list)  # newer evaluations of firing alerts
    forget: list[str] = field(default_factory=list)  # fingerprints of instances to drop


class Engine:
    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        state: StateStore,
        config: AlerterConfig | None = None,
        *,
        config_path: str | None = None,
        base_url: str | None = None,
        write_alert_docs: bool = True,
        store_factory: Callable[[], Store] | None = None,
    ) -> None:
        self.store = store
        # One store handle per worker thread (when given): SQLite serializes calls on one
        # connection, so parallel workers need their own connections to be parallel at all.
        self._store_factory = store_factory
        self._local = threading.local()
        self._opened: list[Store] = []
        self.notifier = notifier
        self.state = state
        self.state_error: str | None = None  # the last state save's failure; None once one succeeds
        self.config = config or AlerterConfig()
        self.config_path = config_path
        self.base_url = base_url  # notify.base_url: each alert links to the console
        self.write_alert_docs = write_alert_docs
        self.rules: dict[str, Rule] = {}
        self.conditions = build_conditions()
        self.instances: dict[str, dict[str, Instance]] = {}
        self.metas: dict[str, RuleMeta] = {}
        # Workers evaluate disjoint rules; this lock guards the shared maps. The notifier is
        # thread-safe on its own; under ``alerter run`` it is a DeliveryWorker whose submit only
        # enqueues, so a slow channel never stalls evaluation.
        self._lock = threading.Lock()
        instances, metas = state.load()
        for inst in instances:
            self.instances.setdefault(inst.rule, {})[inst.fingerprint] = inst
        for m in metas:
            self.metas[m.rule] = m

    def _store(self) -> Store:
        if self._store_factory is None:
            return self.store
        s: Store | None = getattr(self._local, "store", None)
        if s is None:
            s = self._store_factory()
            self._local.store = s
            with self._lock:
                self._opened.append(s)
        return s

    def close(self) -> None:
        """Close per-thread store handles (the main store belongs to the caller)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for s in opened:
            try:
                s.close()
            except Exception:
                pass

    # ---- rules -------------------------------------------------------------------------------

    def set_rules(self, rules: Sequence[Rule]) -> None:
        with self._lock:
            self.rules = {r.name: r for r in rules if r.enabled}

    # ---- evaluation --------------------------------------------------------------------------

    def evaluate(self, batch: Sequence[tuple[Rule, datetime]], at: datetime) -> list[RuleOutcome]:
        """Evaluate rules for their ticks at wall time ``at``; announce and record the changes."""
        started = time.monotonic()
        outcomes = [RuleOutcome(r.name, tick, window_for(r, tick)) for r, tick in batch]
        requests: list[list[AggRequest]] = []
        for (rule, _), out in zip(batch, outcomes, strict=True):
            try:
                requests.append(
                    self.conditions[rule.condition.kind].requests(rule, out.window, self.config.group_limit)
                )
            except Exception as e:
                out.error = f"building the query failed: {e}"
                requests.append([])
        results = self._aggregate_all(requests, outcomes)
        per_rule_seconds = (time.monotonic() - started) / max(1, len(batch))
        for (rule, _), out, res in zip(batch, outcomes, results, strict=True):
            if not out.error and res is not None:
                try:
                    out.evaluation = self.conditions[rule.condition.kind].evaluate(rule, out.window, res)
                except RuleError as e:
                    out.error = str(e)
                except Exception as e:
                    out.error = f"{type(e).__name__}: {e}"
            self._apply(rule, out, at, per_rule_seconds)
        EVAL_SECONDS.observe(time.monotonic() - started)
        self._record(outcomes, at)
        return outcomes

    def _aggregate_all(
        self, requests: list[list[AggRequest]], outcomes: list[RuleOutcome]
    ) -> list[list[AggResult] | None]:
        flat = [r for reqs in requests for r in reqs]
        if not flat:
            return [None for _ in requests]
        try:
            merged, split = coalesce(flat)
            answers = split(self._store().aggregate(merged))
            out: list[list[AggResult] | None] = []
            i = 0
            for reqs in requests:
                out.append(list(answers[i : i + len(reqs)]) if reqs else None)
                i += len(reqs)
            return out
        except Exception as e:
            if len([r for r in requests if r]) <= 1:
                for reqs, o in zip(requests, outcomes, strict=True):
                    if reqs:
                        o.error = f"store: {e}"
                return [None for _ in requests]
        # The batch failed as a whole: find the culprit(s) by asking for each rule alone.
        single: list[list[AggResult] | None] = []
        for reqs, o in zip(requests, outcomes, strict=True):
            if not reqs:
                single.append(None)
                continue
            try:
                single.append(list(self._store().aggregate(reqs)))
            except Exception as e:
                o.error = f"store: {e}"
                single.append(None)
        return single

    def _apply(self, rule: Rule, out: RuleOutcome, at: datetime, seconds: float) -> None:
        with self._lock:
            meta = self.metas.setdefault(rule.name, RuleMeta(rule.name))
            known = self.instances.setdefault(rule.name, {})
        meta.last_eval = at
        meta.last_duration = seconds
        # State changes are dated by the scheduled tick, not by this replica's clock: two alerters
        # evaluating the same tick derive the same started_at, so the same notification identity.
        at = out.tick
        if not out.error and (why := refused(rule.summary)) is not None:
            out.error = f"summary template: {why}"
        if out.error or out.evaluation is None:
            out.error = out.error or "no result"
            EVALUATIONS.labels("error").inc()
            self._failed(rule, out, at, meta, known)
            return
        EVALUATIONS.labels("ok").inc()
        ev = out.evaluation
        if ev.truncated:
            emit(
                GroupsTruncated(
                    rule=rule.name, group_limit=self.config.group_limit, groups_total=ev.groups_total
                )
            )
        meta.extra["truncated"] = ev.truncated
        recovered = bool(meta.failures and meta.meta_alerted)
        try:
            self._observe(rule, ev, at, out, known)
        except TemplateLimit as e:
            # A summary over its budget fails this rule alone, like a query the store refuses.
            out.events.clear()
            out.error = f"summary template: {e}"
            self._failed(rule, out, at, meta, known)
            return
        if recovered:
            out.events.append(self._meta_event(rule, out, at, meta, "resolved"))
        meta.failures = 0
        meta.meta_alerted = False
        meta.last_error = ""

    def _observe(
        self, rule: Rule, ev: Evaluation, at: datetime, out: RuleOutcome, known: dict[str, Instance]
    ) -> None:
        """Step every group the evaluation saw, and every known group it did not see."""
        seen: set[str] = set()
        for sample in ev.samples:
            fp = fingerprint(rule.name, sample.group)
            seen.add(fp)
            obs: Observation = "breach" if sample.breached else ("nodata" if sample.no_data else "clear")
            inst = known.get(fp)
            if inst is None:
                if obs == "clear" and rule.group_by:
                    continue  # a healthy group with no history needs no state (500 rules x 1000 hosts)
                inst = Instance(rule.name, fp, dict(sample.group), since=at)
                known[fp] = inst
            self._step(rule, inst, obs, sample.value, at, out, sample)
        for fp, inst in list(known.items()):
            if fp in seen:
                continue
            # A group with no doc in the window: nothing breaches for it any more. Counted, it is 0.
            empty = 0.0 if rule.condition.kind == "count" else None
            self._step(rule, inst, "clear", empty, at, out, None)
            if expired(inst, at, self.config.state.retention):
                del known[fp]
                out.forget.append(fp)

    def _step(
        self,
        rule: Rule,
        inst: Instance,
        obs: Observation,
        value: float | None,
        at: datetime,
        out: RuleOutcome,
        sample: Sample | None,
    ) -> None:
        before = inst.state
        announce = step(rule, inst, obs, value, at)
        if inst.state != before or announce is not None:
            TRANSITIONS.labels(inst.state).inc()
            out.transitions.append(Transition(rule.name, inst, before, announce))
        if announce is not None:
            out.events.append(self._event(rule, inst, announce, out, at, sample))
        elif before == "firing" and inst.state == "firing" and isinstance(self.notifier, Updating):
            # Still firing: not news, but the notifier keeps it as the latest evaluation, so a repeat
            # carries this value, window, samples and logq range, not those of the first firing.
            out.updates.append(self._event(rule, inst, "firing", out, at, sample))

    def _failed(
        self, rule: Rule, out: RuleOutcome, at: datetime, meta: RuleMeta, known: dict[str, Instance]
    ) -> None:
        meta.failures += 1
        meta.last_error = out.error
        emit(RuleFailed(rule=rule.name, error=out.error, failures=meta.failures))
        for inst in known.values():
            before = inst.state
            fail(inst, out.error, at)
            if before != "error":
                TRANSITIONS.labels("error").inc()
                out.transitions.append(Transition(rule.name, inst, before, None))
        if meta.failures >= self.config.failures_before_meta_alert and not meta.meta_alerted:
            meta.meta_alerted = True
            out.events.append(self._meta_event(rule, out, at, meta, "error"))

    # ---- events ------------------------------------------------------------------------------

    def _context(
        self, rule: Rule, inst: Instance, state: str, out: RuleOutcome, sample: Sample | None
    ) -> dict[str, Any]:
        count = sample.count if sample is not None else 0
        values = dict(sample.values) if sample is not None else {}
        return summary_context(
            rule,
            state,
            inst.value,
            dict(inst.group),
            out.window.start,
            out.window.end,
            count=count,
            values=values,
            statement=statement(rule, state, inst.value, count, values),
        )

    def _event(
        self,
        rule: Rule,
        inst: Instance,
        state: AlertState,
        out: RuleOutcome,
        at: datetime,
        sample: Sample | None,
    ) -> AlertEvent:
        query = match_query(rule, inst.group)
        samples: tuple[dict[str, Any], ...] = ()
        top: tuple[TopValues, ...] = ()
        if state == "firing":
            # Only for an alert being announced or refreshed, never for every evaluated group.
            if rule.sample > 0:
                samples = evidence.samples(self._store(), rule, query, out.window, inst.value)
            top = evidence.top_values(self._store(), rule, query, out.window)
        extra: dict[str, Any] = {"description": rule.description} if rule.description else {}
        if out.evaluation is not None and out.evaluation.truncated:
            extra["truncated"] = True
        context = self._context(rule, inst, state, out, sample)
        summary = render_summary(rule, context)
        return AlertEvent(
            rule=rule.name,
            fingerprint=inst.fingerprint,
            state=state,
            group=dict(inst.group),
            severity=rule.severity,
            labels=dict(rule.labels),
            channels=tuple(rule.notify),
            summary=summary,
            value=inst.value,
            threshold=rule.threshold_text(),
            window_start=out.window.start,
            window_end=out.window.end,
            started_at=inst.started_at or at,
            at=at,
            logq=logq_command(self.config_path, query, out.window.start, out.window.end),
            samples=samples,
            extra=extra,
            statement=context["statement"],
            sample_fields=evidence.sample_fields(rule),
            top=top,
            link=alert_link(self.base_url, rule.name, inst.fingerprint, query, out.window),
            annotations=render_annotations(rule, context, summary),
            timing=rule.timing(),
        )

    def _meta_event(
        self, rule: Rule, out: RuleOutcome, at: datetime, meta: RuleMeta, state: AlertState
    ) -> AlertEvent:
        n = self.config.failures_before_meta_alert
        if state == "error":
            summary = f"rule {rule.name} failed {meta.failures} ticks in a row: {meta.last_error}"
        else:
            summary = f"rule {rule.name} evaluates again after {meta.failures} failed ticks"
        return AlertEvent(
            rule=f"alerter:{rule.name}",
            fingerprint=fingerprint(f"alerter:{rule.name}", {}),
            state=state,
            group={},
            severity="critical",
            labels={"rule": rule.name},
            channels=(META_CHANNEL,),
            summary=" ".join(summary.split()),
            value=float(meta.failures),
            threshold=f">= {n} failed ticks",
            window_start=out.window.start,
            window_end=out.window.end,
            started_at=at,
            at=at,
            logq="",
            extra={"meta": True, "error": meta.last_error},
        )

    # ---- recording ---------------------------------------------------------------------------

    def _record(self, outcomes: Sequence[RuleOutcome], at: datetime) -> None:
        instances: list[Instance] = []
        forget: list[tuple[str, str]] = []
        for out in outcomes:
            with self._lock:
                known = self.instances.get(out.rule, {})
                instances.extend(known.values())
            forget.extend((out.rule, fp) for fp in out.forget)
        metas = [self.metas[o.rule] for o in outcomes if o.rule in self.metas]
        try:
            self.state.save(instances, metas)
            self.state.delete(forget)
        except Exception as err:
            # Readiness reports it (/readyz): evaluations that cannot be remembered are not working.
            self.state_error = f"{type(err).__name__}: {err}"
            raise
        self.state_error = None
        events = [e for o in outcomes for e in o.events]
        if events:
            for e in events:
                EVENTS_SENT.labels(e.state).inc()
            self.notifier.submit(events, at)
        updates = [e for o in outcomes for e in o.updates]
        if updates and isinstance(self.notifier, Updating):
            self.notifier.update(updates, at)
        if self.write_alert_docs:
            docs = [self._doc(t, o, o.tick) for o in outcomes for t in o.transitions]
            if docs:
                self._write_docs(docs)

    def _doc(self, t: Transition, out: RuleOutcome, at: datetime) -> Doc:
        inst = t.instance
        ms = datetime_to_ms(at)
        doc_id = hashlib.sha256(f"{t.rule}|{inst.fingerprint}|{inst.state}|{ms}".encode()).hexdigest()[:32]
        rule = self.rules.get(t.rule)
        group_text = ", ".join(
            f"{k}={'(missing)' if v is None else v}" for k, v in sorted(inst.group.items())
        )
        source: dict[str, Any] = {
            "@timestamp": format_ts(ms),
            "message": f"{t.rule} {t.previous} -> {inst.state}" + (f" ({group_text})" if group_text else ""),
            "event": {"kind": "alert", "id": doc_id},
            "service": {"name": SERVICE},
            # No log.level on purpose: a rule on log.level:error must not count (and feed on) the
            # alerter's own transition documents.
            "rule": {"name": t.rule},
            "alert": {
                "state": inst.state,
                "previous": t.previous,
                "announced": t.announced or "",
                "value": inst.value,
                "fingerprint": inst.fingerprint,
                "group": group_text,
                "severity": rule.severity if rule else "",
                "threshold": rule.threshold_text() if rule else "",
                "window_start": format_ts(datetime_to_ms(out.window.start)),
                "window_end": format_ts(datetime_to_ms(out.window.end)),
                "error": inst.error,
            },
        }
        return Doc(id=doc_id, ts=ms, source=source)

    def _write_docs(self, docs: list[Doc]) -> None:
        try:
            results = self.store.write(docs)
        except Exception as e:
            emit(AlertDocsNotWritten(count=len(docs), error=str(e)))
            return
        bad = [r for r in results if not r.outcome.delivered]
        if bad:
            emit(AlertDocsRefused(count=len(bad), reason=bad[0].reason))

    # ---- views -------------------------------------------------------------------------------

    def snapshot(self) -> tuple[list[Instance], dict[str, RuleMeta]]:
        with self._lock:
            return [i for per in self.instances.values() for i in per.values()], dict(self.metas)

    def tick_notifier(self, now: datetime) -> None:
        self.notifier.tick(now)

    def flush_notifier(self, now: datetime) -> None:
        """Send what is pending without waiting out group_wait (``run --once``), where supported."""
        if isinstance(self.notifier, Flushing):
            self.notifier.flush(now)
        else:
            self.notifier.tick(now)


def expired(inst: Instance, now: datetime, retention: timedelta) -> bool:
    """An ok instance whose last breach is older than the retention is history, not state."""
    if inst.state not in ("ok", "nodata"):
        return False
    last = inst.last_breach or inst.since
    return last is None or now - last > retention
