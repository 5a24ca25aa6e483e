"""The ``alerter`` section of logwarden.yaml (owned by the alerter package's issue)."""

from __future__ import annotations

from logstore.config.types import Strict


class AlerterConfig(Strict):
    pass
