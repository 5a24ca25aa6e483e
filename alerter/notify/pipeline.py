"""The notification pipeline: route -> group -> (on flush) inhibit -> silence -> dedup -> rate limit ->
claim -> send -> record. Implements ``alerter.events.Notifier``.

Guarantees:
- nothing is lost: an event joins a pending group that is written to the state store before
  ``submit`` returns (while the store is down it is held in memory and written on the next change),
  and an alert leaves its group only once delivered, or once no message is needed (resolved but
  never notified);
- nothing is doubled on purpose: every alert notification is a slot claimed create-only in the
  shared state before sending and marked sent after; a failed delivery keeps the claim and retries
  with backoff. A message can repeat only if the process dies between delivery and recording it,
  or if a service accepted a message after its delivery had already timed out;
- the overflow of a rate limit becomes one digest; silenced or unrouted alerts are counted and
  logged, never dropped without a trace.

Sending is synchronous inside ``tick``: a channel that hangs holds the tick for at most its
``timeout`` per attempt (refused connections and HTTP errors return at once). ``alerter run`` calls
the pipeline only from its delivery thread (``alerter.notify.worker``), so that wait never reaches
rule evaluation.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from alerter import metrics
from alerter.config import NotifyConfig
from alerter.events import AlertEvent
from alerter.notify.dedup import DedupStage
from alerter.notify.group import Grouper, group_interval
from alerter.notify.inhibit import Inhibitor
from alerter.notify.message import alert_line, notify_kind, render_digest, render_group
from alerter.notify.ratelimit import RateLimiter, severity_rank
from alerter.notify.routing import Router
from alerter.notify.send import Backoff, Sender
from alerter.notify.silence import SilenceStage
from alerter.notify.state import (
    ClaimOutcome,
    FailureRecord,
    Group,
    MessageRecord,
    NotifyState,
    Silence,
    Slot,
)
from alerter.observed import (
    AlertUnrouted,
    ClaimsNotReleased,
    FailureNotRecorded,
    GroupNotDeleted,
    GroupNotPersisted,
    LogPruneFailed,
    NotificationFailed,
    NotificationSent,
    NotificationSilenced,
    RateLimited,
    SentNotRecorded,
)
from logstore.observe import emit
from logstore.types import Health

_PRUNE_EVERY = timedelta(hours=1)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Undelivered:
    """A pending group whose last delivery failed: what ``run --once`` reports before exiting 1."""

    channel: str
    alerts: int
    attempts: int
    retry_at: datetime  # when ``alerter run`` tries again (``run --once`` retries on its next run)
    reason: str


@dataclass(slots=True)
class Outgoing:
    """The due part of one group: what one message (or a share of a digest) carries."""

    group: Group
    items: list[tuple[AlertEvent, Slot]] = field(default_factory=list)

    @property
    def rank(self) -> tuple[int, datetime]:
        return (min(severity_rank(e.severity) for e, _ in self.items), self.group.next_flush)


class NotificationPipeline:
    def __init__(
        self,
        config: NotifyConfig,
        state: NotifyState,
        sender: Sender,
        *,
        owner: str | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._config = config
        self._state = state
        self._sender = sender
        self._owner = owner or default_owner()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._router = Router(config)
        self._grouper = Grouper(config)
        self._silences = SilenceStage()
        self._inhibitor = Inhibitor(config)
        self._dedup = DedupStage(config, state)
        self._limiter = RateLimiter(config, state)
        self._backoff = backoff or Backoff(config.retry)
        # The engine may call submit and tick from different threads.
        self._lock = threading.RLock()
        self._groups: dict[str, Group] = {g.key: g for g in state.load_groups()}
        # Alerts firing now, by fingerprint: the sources inhibition looks at. After a restart, the
        # firing alerts held in pending groups (a notified firing stays there until it resolves).
        self._firing: dict[str, AlertEvent] = {
            fp: e for g in self._groups.values() for fp, e in g.alerts.items() if e.state == "firing"
        }
        self._last_prune: datetime | None = None
        # Delivered messages whose log write failed (state store down): retried every tick.
        self._unrecorded: list[tuple[list[Slot], MessageRecord]] = []
        self._silenced_seen: set[tuple[str, str, str, str]] = set()
        # Why each failing group's last delivery failed (in memory only: said once, on stderr).
        self._reasons: dict[str, str] = {}

    @property
    def owner(self) -> str:
        return self._owner

    def pending(self) -> list[Group]:
        """Groups waiting for a flush (status and tests)."""
        with self._lock:
            return sorted(self._groups.values(), key=lambda g: g.next_flush)

    def undelivered(self) -> list[Undelivered]:
        """Pending groups whose last delivery attempt failed, soonest retry first."""
        with self._lock:
            return [
                Undelivered(g.channel, len(g.alerts), g.attempts, g.next_flush, self._reasons.get(g.key, ""))
                for g in sorted(self._groups.values(), key=lambda g: g.next_flush)
                if g.attempts
            ]

    # -- Notifier ---------------------------------------------------------------------------------

    def submit(self, events: Sequence[AlertEvent], now: datetime) -> None:
        with self._lock:
            touched: dict[str, Group] = {}
            for event in events:
                metrics.NOTIFY_RECEIVED.inc()
                if event.state == "firing":
                    self._firing[event.fingerprint] = event
                else:
                    self._firing.pop(event.fingerprint, None)
                channels = self._router.route(event)
                if not channels:
                    # No channel to carry it: the log line is the notification of last resort.
                    emit(
                        AlertUnrouted(
                            rule=event.rule,
                            state=event.state,
                            fingerprint=event.fingerprint,
                            targets=list(event.channels),
                            alert=alert_line(event),
                        )
                    )
                    continue
                for channel in channels:
                    group = self._grouper.add(self._groups, channel, event, now)
                    touched[group.key] = group
            # One write per group per batch: a big group is not re-serialized for every event.
            for group in touched.values():
                self._save(group)

    def update(self, events: Sequence[AlertEvent], now: datetime) -> None:
        """Newer evaluations of alerts already in groups: a repeat then carries the latest value,
        window, samples and logq range. An alert no group holds (delivered and resolved) is ignored."""
        with self._lock:
            latest = {(e.fingerprint, e.state, e.started_at): e for e in events}
            for group in self._groups.values():
                changed = False
                for fp, held in list(group.alerts.items()):
                    event = latest.get((fp, held.state, held.started_at))
                    if event is None:
                        continue
                    if held.extra.get("undelivered"):
                        event = replace(event, extra={**event.extra, "undelivered": True})
                    group.alerts[fp] = event
                    changed = True
                if changed:
                    self._save(group)

    def tick(self, now: datetime) -> None:
        with self._lock:
            due = sorted(
                (g for g in self._groups.values() if g.next_flush <= now), key=lambda g: g.next_flush
            )
            self._retry_records(now)
            if due:
                self._flush(due, now)
            if self._last_prune is None or now - self._last_prune >= _PRUNE_EVERY:
                self._last_prune = now
                self._silenced_seen.clear()
                try:
                    self._state.prune(now, self._config.log_retention)
                except Exception as e:  # retention is housekeeping: try again next hour
                    emit(LogPruneFailed(error=_err(e)))

    def flush(self, now: datetime | None = None) -> None:
        """Send every pending group now, without waiting out group_wait/group_interval (``run --once``).

        Dedup still applies, so nothing already delivered is sent again.
        """
        now = now or self._clock()
        with self._lock:
            for group in self._groups.values():
                group.next_flush = min(group.next_flush, now)
            self.tick(now)

    def health(self) -> Health:
        """Degraded while a channel keeps failing (3+ attempts in a row on some group)."""
        with self._lock:
            failing = sorted({g.channel for g in self._groups.values() if g.attempts >= 3})
        if failing:
            return Health(False, f"notification channels failing: {', '.join(failing)}")
        return Health(True, f"{len(self._groups)} pending notification groups")

    # -- flushing ---------------------------------------------------------------------------------

    def _flush(self, due: list[Group], now: datetime) -> None:
        try:
            active = self._state.silences(now)
        except Exception as e:  # state trouble (store down): every due group retries with backoff
            for group in due:
                self._failed([Outgoing(group)], group.channel, f"state: {_err(e)}", now)
            return
        by_channel: dict[str, list[Outgoing]] = {}
        for group in due:
            # Default next look: group_interval (repeats, silences ending); sending may move it.
            group.next_flush = now + group_interval(self._config, group)
            if group.attempts == 0:
                group.last_flush = now
            try:
                out = self._prepare(group, active, now)
            except Exception as e:  # state trouble (store down): this group retries with backoff
                self._failed([Outgoing(group)], group.channel, f"state: {_err(e)}", now)
                continue
            if out.items:
                by_channel.setdefault(group.channel, []).append(out)
        for channel, outs in by_channel.items():
            try:
                self._send_channel(channel, outs, now)
            except Exception as e:
                self._failed(outs, channel, f"state: {_err(e)}", now)
        for group in due:
            self._persist(group)

    def _send_channel(self, channel: str, outs: list[Outgoing], now: datetime) -> None:
        plan = self._limiter.plan(channel, outs, now)
        batches = [([out], False) for out in plan.send] + ([(plan.digest, True)] if plan.digest else [])
        for i, (batch, digest) in enumerate(batches):
            if not self._deliver(channel, batch, now, digest=digest):
                # The channel just failed: the rest of this tick's messages would most likely fail
                # too, each costing up to the channel timeout. They back off with it instead.
                rest = [out for later, _ in batches[i + 1 :] for out in later]
                if rest:
                    self._failed(rest, channel, "not attempted: the channel failed in this tick", now)
                break
        for out in plan.held:
            assert plan.resume_at is not None
            out.group.next_flush = plan.resume_at
            emit(RateLimited(channel=channel, alerts=len(out.items), resume_at=plan.resume_at.isoformat()))

    def _prepare(self, group: Group, active: list[Silence], now: datetime) -> Outgoing:
        out = Outgoing(group)
        for fp, event in list(group.alerts.items()):
            source = self._inhibitor.inhibited_by(event, self._firing.values())
            if source is not None:
                # Like a silence: counted and logged once per source, alert and state; looked at
                # again on the group's next flush (the source may have resolved by then).
                seen = (f"inhibit:{source.fingerprint}", group.channel, fp, event.state)
                if seen not in self._silenced_seen:
                    self._silenced_seen.add(seen)
                    emit(
                        NotificationSilenced(
                            channel=group.channel,
                            rule=event.rule,
                            state=event.state,
                            silence=f"inhibited by {source.rule} {_fields(source.group)}".strip(),
                            reason="inhibited",
                        )
                    )
                continue
            silence = self._silences.silenced_by(event, active)
            if silence is not None:
                # Count and log once per silence, alert and state, not on every group_interval look.
                seen = (silence.id, group.channel, fp, event.state)
                if seen not in self._silenced_seen:
                    self._silenced_seen.add(seen)
                    emit(
                        NotificationSilenced(
                            channel=group.channel, rule=event.rule, state=event.state, silence=silence.id
                        )
                    )
                # Look again when the silence ends: a FIRING then goes out if still due, and a
                # RESOLVED if its firing had been notified (as Alertmanager does).
                group.next_flush = min(group.next_flush, max(silence.ends_at, now))
                continue
            decision = self._dedup.decide(group.channel, event, now)
            if decision.action == "drop":
                metrics.NOTIFY_DROPPED.labels(decision.reason).inc()
                del group.alerts[fp]
            elif decision.action == "send":
                assert decision.slot is not None
                if decision.slot.id in self._unrecorded_ids():
                    if event.state == "resolved":
                        del group.alerts[fp]
                    continue
                out.items.append((event, decision.slot))
        return out

    def _claim(self, outs: list[Outgoing], now: datetime) -> list[Outgoing]:
        """Claim every slot; keep only ours. A peer's live claim is looked at again when its lease ends."""
        mine: list[Outgoing] = []
        for out in outs:
            kept: list[tuple[AlertEvent, Slot]] = []
            for event, slot in out.items:
                claim = self._state.claim(slot, self._owner, now, self._config.claim_lease)
                if claim.outcome is ClaimOutcome.MINE:
                    kept.append((event, slot))
                elif claim.outcome is ClaimOutcome.SENT:
                    metrics.NOTIFY_DROPPED.labels("peer_sent").inc()
                    if event.state == "resolved":
                        out.group.alerts.pop(event.fingerprint, None)
                else:
                    assert claim.until is not None
                    out.group.next_flush = min(out.group.next_flush, claim.until)
            if kept:
                mine.append(Outgoing(out.group, kept))
        return mine

    def _deliver(self, channel: str, outs: list[Outgoing], now: datetime, *, digest: bool) -> bool:
        """Claim, send, record. False when the channel failed (the groups are set to retry)."""
        outs = self._claim(outs, now)
        if not outs:
            return True
        alerts = [e for out in outs for e, _ in out.items]
        if digest:
            sample = self._config.rate_limit_for(channel).sample
            title, body = render_digest(channel, alerts, sample)
        else:
            title, body = render_group(outs[0].group.fields, alerts)
        spec = self._config.channel(channel)
        assert spec is not None
        with metrics.NOTIFY_SEND_SECONDS.labels(channel).time():
            result = self._sender.send(spec, title, body, notify_kind(alerts))
        if not result.ok:
            self._failed(outs, channel, result.reason, now, title=title)
            return False
        slots = [slot for out in outs for _, slot in out.items]
        record = MessageRecord(uuid.uuid4().hex, channel, title, len(alerts), now, digest=digest)
        try:
            self._record(slots, record, now)
        except Exception as e:
            # Delivered but not yet in the log: remember it here so it is not sent again, and write
            # it on a later tick. Only a crash before that could repeat this one message.
            self._unrecorded.append((slots, record))
            emit(SentNotRecorded(error=_err(e)))
        emit(NotificationSent(channel=channel, title=title, alerts=len(alerts), digest=digest))
        for out in outs:
            g = out.group
            g.attempts, g.failing_since, g.last_flush = 0, None, now
            for event, _ in out.items:
                if event.state == "resolved":
                    g.alerts.pop(event.fingerprint, None)
        return True

    def _record(self, slots: list[Slot], record: MessageRecord, now: datetime) -> None:
        self._state.mark_sent(slots, self._owner, now)
        self._state.record_message(record)

    def _unrecorded_ids(self) -> set[str]:
        return {slot.id for slots, _ in self._unrecorded for slot in slots}

    def _retry_records(self, now: datetime) -> None:
        while self._unrecorded:
            slots, record = self._unrecorded[0]
            try:
                # The send time is when it was delivered, not now: dedup and rate limits count from it.
                self._record(slots, record, record.sent_at)
            except Exception:
                return
            self._unrecorded.pop(0)

    def _failed(
        self, outs: list[Outgoing], channel: str, reason: str, now: datetime, *, title: str = ""
    ) -> None:
        """Keep the alerts, release our claims (not delivered: nobody may presume them sent), mark
        the alerts as failed once, record the failure in the notification log, and retry the
        groups with exponential backoff."""
        slots = [slot for out in outs for _, slot in out.items]
        if slots:
            try:
                self._state.release(slots, self._owner)
            except Exception as e:  # the lease still ends the claim; a peer then presumes it sent
                emit(ClaimsNotReleased(error=_err(e)))
        for out in outs:
            g = out.group
            g.attempts += 1
            g.failing_since = g.failing_since or now
            self._reasons[g.key] = reason
            g.next_flush = now + self._backoff.delay(g.attempts)
            for event, _ in out.items:
                if event.state != "resolved" and not event.extra.get("undelivered"):
                    # Remembered so that a RESOLVED replacing it still reports the incident.
                    g.alerts[event.fingerprint] = replace(event, extra={**event.extra, "undelivered": True})
        emit(
            NotificationFailed(
                channel=channel,
                reason=reason,
                alerts=sum(len(o.items) for o in outs),
                attempt=outs[0].group.attempts,
                retry_at=outs[0].group.next_flush.isoformat(),
            )
        )
        self._record_failure(outs, channel, reason, now, title)

    def _record_failure(
        self, outs: list[Outgoing], channel: str, reason: str, now: datetime, title: str
    ) -> None:
        """The failure, durably, for the console's notification log (the stderr line is not enough
        for someone who was not watching). Before a message was built (state trouble, a channel
        that failed earlier in the tick), the title names the group."""
        alerts = sum(len(o.items) for o in outs) or sum(len(o.group.alerts) for o in outs)
        title = title or ", ".join(dict.fromkeys(_fields(o.group.fields) or o.group.key for o in outs))
        record = FailureRecord(uuid.uuid4().hex, channel, title, alerts, now, reason, outs[0].group.attempts)
        try:
            self._state.record_failure(record)
        except Exception as e:  # the state may be what failed: the event above still says it all
            emit(FailureNotRecorded(channel=channel, error=_err(e)))

    def _save(self, group: Group) -> None:
        try:
            self._state.save_group(group)
        except Exception as e:
            # The group lives on in memory and is written again on its next change or flush.
            emit(GroupNotPersisted(channel=group.channel, error=_err(e)))

    def _persist(self, group: Group) -> None:
        if group.alerts:
            self._save(group)
            return
        self._groups.pop(group.key, None)
        self._reasons.pop(group.key, None)
        try:
            self._state.delete_group(group.key)
        except Exception as e:
            # A leftover group doc only costs a dedup look after a restart.
            emit(GroupNotDeleted(error=_err(e)))


def _fields(group: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in group.items())


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"
