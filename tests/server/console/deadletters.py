"""Shared by the dead letter tests: bodies with good, malformed and refused items; direct access to
the server's table (to cure a refusal's cause); and ``picky``, the toy backend with a store that
refuses the docs of a team named in ``REFUSED`` (a refusal whose cause a test can take away)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import apsw

from logstore.protocol import Store
from logstore.types import Doc, Outcome, WriteResult
from tests.server.http import ndjson
from tests.toy.store import BACKEND as TOY
from tests.toy.store import ToyConfig, ToyStore

GOOD = {"@timestamp": "2026-01-01T00:00:00Z", "message": "fine"}
REFUSED: set[str] = set()  # teams whose docs the picky store refuses; a test empties it to cure them


def malformed_body() -> bytes:
    """One doc to store, then two malformed items: a source that is not JSON, an unsupported action."""
    return ndjson(
        {"create": {"_index": "app", "_id": "good"}},
        GOOD,
        {"create": {"_index": "app", "_id": "broken"}},
        b'{"message": "half a line',
        {"update": {"_index": "app", "_id": "changed"}},
        {"doc": {"message": "append-only stores do not update"}},
    )


def rewrite_lines(db: Path, doc_id: str, lines: bytes) -> None:
    """Replace a kept dead letter's lines, as if the cause of its refusal had gone away."""
    conn = apsw.Connection(str(db))
    try:
        conn.set_busy_timeout(5000)
        conn.execute("UPDATE server_dead_letters SET lines = ? WHERE doc_id = ?", (lines, doc_id))
        assert conn.changes() == 1, f"no dead letter with _id {doc_id}"
    finally:
        conn.close()


class PickyStore(ToyStore):
    """The toy store, refusing (REJECTED) each doc whose ``team`` is in ``REFUSED``."""

    name = "picky"

    def write(self, docs: Sequence[Doc]) -> list[WriteResult]:
        refused = {d.id for d in docs if d.source.get("team") in REFUSED}
        stored = iter(super().write([d for d in docs if d.id not in refused]))
        return [
            WriteResult(d.id, Outcome.REJECTED, f"team {d.source['team']} is not taken here")
            if d.id in refused
            else next(stored)
            for d in docs
        ]


_STORES: dict[str, PickyStore] = {}


def _open(config: ToyConfig) -> Store:
    return _STORES.setdefault(config.name, PickyStore(config))


PICKY: Any = replace(TOY, name="picky", open_store=_open)
