"""Durable state of the notification pipeline behind one small Protocol, one module per backend.

Guarantees every backend keeps:
- ``claim`` is atomic across processes sharing the backend: for one slot id exactly one owner gets
  MINE until it marks the slot sent or its lease runs out (then exactly one other owner may take it).
- The notification log (``last_sent``) holds delivered notifications and live or abandoned claims:
  a failed send releases its claim, so an unsent claim whose owner died is presumed delivered (the
  owner died during or after its send). A FIRING is never sent twice inside repeat_interval and a
  RESOLVED follows it. The one window: an owner killed between its claim and the start of its send
  leaves that notification unsent until the alert's next repeat (or its RESOLVED).
- Pending groups are written through on every change, so a restart resumes every timer.
- Delivered messages (``record_message``) and failed deliveries (``record_failure``) are kept until
  ``prune`` drops them; ``messages`` and ``failures`` list them newest first (the console's log).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from alerter.notify.state.types import (
    Claim,
    ClaimOutcome,
    FailureRecord,
    Group,
    MessageRecord,
    SentEntry,
    Silence,
    SilenceFilter,
    Slot,
)
from logstore.backends import get_backend
from logstore.protocol import Store
from logwarden.config import Config

__all__ = [
    "Claim",
    "ClaimOutcome",
    "FailureRecord",
    "Group",
    "MessageRecord",
    "NotifyState",
    "SentEntry",
    "Silence",
    "Slot",
    "open_state",
]


class NotifyState(Protocol):
    def add_silence(self, silence: Silence) -> None: ...

    def silences(self, now: datetime, which: SilenceFilter = "active") -> list[Silence]: ...

    def expire_silence(self, silence_id: str, now: datetime) -> bool:
        """End an active silence now; False when no active silence has that id."""
        ...

    def load_groups(self) -> list[Group]: ...

    def save_group(self, group: Group) -> None: ...

    def delete_group(self, key: str) -> None: ...

    def last_sent(self, channel: str, fingerprint: str) -> SentEntry | None: ...

    def claim(self, slot: Slot, owner: str, now: datetime, lease: timedelta) -> Claim: ...

    def release(self, slots: Sequence[Slot], owner: str) -> None:
        """Give up ``owner``'s unsent claims after a failed send, so that nobody presumes them sent."""
        ...

    def mark_sent(self, slots: Sequence[Slot], owner: str, now: datetime) -> None: ...

    def record_message(self, message: MessageRecord) -> None: ...

    def messages_since(self, channel: str, since: datetime) -> list[datetime]:
        """Send times of messages on ``channel`` at or after ``since``, oldest first (rate limits)."""
        ...

    def messages(self, since: datetime, limit: int) -> list[MessageRecord]:
        """Delivered messages sent at or after ``since``, newest first, at most ``limit``."""
        ...

    def record_failure(self, failure: FailureRecord) -> None: ...

    def failures(self, since: datetime, limit: int) -> list[FailureRecord]:
        """Failed deliveries at or after ``since``, newest first, at most ``limit``."""
        ...

    def prune(self, now: datetime, retention: timedelta) -> int: ...

    def close(self) -> None: ...


def open_state(config: Config, store: Store) -> NotifyState:
    """The store backend's own home for notification state (``Backend.open_notify_state``).

    SQLite: tables in the store's database file (on a connection of its own). Elasticsearch: docs
    in the state index, through ``store``'s client.
    """
    state: NotifyState = get_backend(config.store.backend).open_notify_state(store, config.store.settings)
    return state
