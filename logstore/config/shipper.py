"""The ``shipper`` section of logwarden.yaml (owned by the shipper package's issue)."""

from __future__ import annotations

from logstore.config.types import Strict


class ShipperConfig(Strict):
    pass
