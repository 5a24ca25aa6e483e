"""Process-wide SQLite tuning: memory statistics off when logstore is imported, and only when safe."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Bytes SQLite reports in use with one connection open: 0 once the statistics are off, the
# connection's bytes while they count.
_USED = textwrap.dedent(
    """
    import apsw
    conn = apsw.Connection(":memory:")
    conn.execute("SELECT 1").fetchall()
    print(apsw.memory_used())
    """
)


def _used(prelude: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", prelude + _USED], capture_output=True, text=True, check=True, timeout=60
    )
    return int(out.stdout.strip())


def test_importing_logstore_turns_memory_statistics_off() -> None:
    """After ``import logstore`` SQLite keeps no allocation statistics (its global mutex is gone)."""
    assert _used("import logstore\n") == 0


def test_sqlite_in_use_before_the_import_is_left_alone() -> None:
    """With a connection already open, logstore does not shut SQLite down: the statistics still count."""
    prelude = "import apsw\nheld = apsw.Connection(':memory:')\nheld.execute('SELECT 1').fetchall()\n"
    prelude += "import logstore\n"
    assert _used(prelude) > 0


def test_logwarden_uses_one_sqlite_library() -> None:
    """No module of the three programs loads Python's sqlite3: every SQLite file goes through APSW.

    Why it matters: the alerter keeps its state in the store's own file, and two SQLite libraries in
    one process do not see each other's POSIX locks on a file (closing one's connection drops the
    other's locks). A locked-database test caught exactly that while the store moved to APSW.
    """
    code = textwrap.dedent(
        """
        import sys
        import alerter.cli, alerter.notify.state.sqlite, alerter.runner, alerter.state.sqlite
        import logq.cli, logstore.sqlite, shipper.cli, shipper.registry, shipper.service
        print("_sqlite3" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
