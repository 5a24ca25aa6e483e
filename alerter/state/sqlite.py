"""Alerter state in the SQLite store's own database file: tables ``alerter_*``, WAL, one module.

Guarantees: ``save`` commits one transaction (all instances and metas of a tick, or none), so a
crash mid-tick leaves the previous tick's state. The connection is our own (the store's connection
belongs to the store); WAL lets both write the same file. A lock makes it safe across workers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import orjson

from alerter.state.base import SCHEMA_VERSION, Instance, RuleMeta
from logstore.sqlite import open_connection

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerter_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alerter_instances (
    rule TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (rule, fingerprint)
);
CREATE TABLE IF NOT EXISTS alerter_rules (
    rule TEXT PRIMARY KEY,
    body BLOB NOT NULL
);
"""


class SqliteStateStore:
    def __init__(self, path: Path, busy_timeout: float = 10.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # APSW, like the store: these tables live in the store's file, and two SQLite libraries in one
        # process would not see each other's POSIX locks on it (logstore/_sqlite_library.py).
        self._db = open_connection(path, busy_timeout)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                row = self._db.execute("SELECT version FROM alerter_schema").fetchone()
                if row is None:
                    self._db.execute("INSERT INTO alerter_schema (version) VALUES (?)", (SCHEMA_VERSION,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def load(self) -> tuple[list[Instance], list[RuleMeta]]:
        with self._lock:
            inst = [
                Instance.from_json(orjson.loads(b))
                for (b,) in self._db.execute("SELECT body FROM alerter_instances")
            ]
            metas = [
                RuleMeta.from_json(orjson.loads(b))
                for (b,) in self._db.execute("SELECT body FROM alerter_rules")
            ]
        return inst, metas

    def save(self, instances: Sequence[Instance], metas: Sequence[RuleMeta]) -> None:
        if not instances and not metas:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO alerter_instances (rule, fingerprint, state, body) "
                    "VALUES (?, ?, ?, ?)",
                    [(i.rule, i.fingerprint, i.state, orjson.dumps(i.to_json())) for i in instances],
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO alerter_rules (rule, body) VALUES (?, ?)",
                    [(m.rule, orjson.dumps(m.to_json())) for m in metas],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        if not keys:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "DELETE FROM alerter_instances WHERE rule = ? AND fingerprint = ?", list(keys)
            )
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
