"""The ``notify`` section of logwarden.yaml (owned by the notify package's issue)."""

from __future__ import annotations

from logstore.config.types import Strict


class NotifyConfig(Strict):
    pass
