"""docs/metrics.md documents exactly the metrics the shipper and the alerter register."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from prometheus_client import REGISTRY

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
MODULES = ["shipper.metrics", "alerter.engine", "alerter.runner", "alerter.notify.metrics"]


def test_every_registered_metric_is_documented_and_nothing_else() -> None:
    """Each shipper_*/alerter_* metric in the registry has a row in docs/metrics.md, and every row exists."""
    for name in MODULES:
        importlib.import_module(name)
    registered = {m.name for m in REGISTRY.collect() if m.name.startswith(("shipper_", "alerter_"))}
    documented = set(re.findall(r"^\| `((?:shipper|alerter)_[a-z_]+)`", DOC.read_text(), re.M))
    # prometheus_client reports counters without their _total suffix.
    documented_base = {d.removesuffix("_total") for d in documented}
    assert registered == documented_base
