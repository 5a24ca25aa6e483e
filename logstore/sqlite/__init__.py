"""The embedded SQLite backend (the default store): ``SqliteStore(config, page_size=...)``."""

from logstore.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
