"""Readers (logq, ``alerter status``) never create a store, and need only read permission on it."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerter.cli import main as alerter_main
from logq.cli import Io, run
from logstore import Doc, StoreError, open_store
from logstore.config import SqliteConfig, StoreConfig
from tests.logq.conftest import NOW, corpus, write_all
from tests.unprivileged import as_unprivileged


def _logq(*args: str) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.StringIO()
    code = run(["--now", NOW, *args], Io(out, err, False, {}))
    return code, out.getvalue().decode(), err.getvalue()


def test_logq_on_a_missing_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    """logq on a path with no store: `no store at PATH (...)`, exit 2, and no file or directory made."""
    cfg = tmp_path / "logwarden.yaml"
    db = tmp_path / "data" / "logwarden.db"
    cfg.write_text(f"store:\n  sqlite:\n    path: {db}\n")
    code, out, err = _logq("-c", str(cfg), "error")
    assert code == 2 and out == ""
    assert err == f"logq: store error: no store at {db} (nothing shipped yet? check store.sqlite.path)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logwarden.yaml"]


def test_alerter_status_on_a_missing_store_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alerter status` on a path with no store: the same one line, exit 2 (a store error), nothing made."""
    db = tmp_path / "logwarden.db"
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(f"store:\n  sqlite:\n    path: {db}\nalerter:\n  rules: []\n")
    assert alerter_main(["status", "-c", str(cfg)]) == 2
    assert f"no store at {db} (nothing shipped yet? check store.sqlite.path)" in capsys.readouterr().err
    assert not db.exists()


def test_a_reader_store_is_opened_read_only(tmp_path: Path) -> None:
    """open_store(create=False) opens SQLite read-only: a write through it fails, the file is unchanged."""
    config = StoreConfig(sqlite=SqliteConfig(path=tmp_path / "logwarden.db"))
    writer = open_store(config)
    write_all(writer, corpus()[:10])
    writer.close()
    before = (tmp_path / "logwarden.db").read_bytes()
    reader = open_store(config, create=False)
    try:
        assert reader.count("*") == 10
        with pytest.raises(StoreError, match="opened read-only"):
            reader.write([Doc("new", 1, {"@timestamp": "2026-01-01T00:00:00Z", "event": {"id": "new"}})])
    finally:
        reader.close()
    assert (tmp_path / "logwarden.db").read_bytes() == before


@pytest.fixture
def read_only_store() -> Iterator[Path]:
    """A store with the corpus, its files 0444 in a 0555 directory; the config next to it (0644)."""
    top = Path(tempfile.mkdtemp(prefix="logwarden-ro-"))
    os.chmod(top, 0o755)  # traversable by the unprivileged user the test may switch to
    data = top / "data"
    store = open_store(StoreConfig(sqlite=SqliteConfig(path=data / "logwarden.db")))
    try:
        write_all(store, corpus())
    finally:
        store.close()
    for f in data.iterdir():
        os.chmod(f, 0o444)
    os.chmod(data, 0o555)
    cfg = top / "logwarden.yaml"
    cfg.write_text(f"store:\n  sqlite:\n    path: {data / 'logwarden.db'}\n")
    os.chmod(cfg, 0o644)
    try:
        yield cfg
    finally:
        os.chmod(data, 0o755)
        shutil.rmtree(top)


def _as_unprivileged(*args: str) -> tuple[int, str, str]:
    """logq in a forked child that, when this is root, first becomes nobody: permissions then apply."""
    return as_unprivileged(lambda: _logq(*args))


def test_logq_reads_a_store_it_cannot_write(read_only_store: Path) -> None:
    """A user who can read but not write the store file and its directory can search and count with logq."""
    data = read_only_store.parent / "data"
    before = sorted(p.name for p in data.iterdir())
    code, out, err = _as_unprivileged("-c", str(read_only_store), "--since", "4h", "--count")
    assert (code, out, err) == (0, "260\n", "")
    code, out, err = _as_unprivileged("-c", str(read_only_store), "--since", "4h", "status:502", "-n", "3")
    assert code == 0 and len(out.splitlines()) == 3, err
    assert sorted(p.name for p in data.iterdir()) == before
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in data.iterdir())


def test_unreadable_store_names_the_path_and_the_permission(read_only_store: Path) -> None:
    """A store file the user cannot read: one line naming the file and the read permission it lacks."""
    if os.geteuid() != 0 and os.getuid() != os.stat(read_only_store).st_uid:
        pytest.skip("needs to own the store to change its permissions")
    db = read_only_store.parent / "data" / "logwarden.db"
    os.chmod(db, 0o000)
    code, out, err = _as_unprivileged("-c", str(read_only_store), "--count")
    assert code == 2 and out == ""
    assert err == f"logq: store error: sqlite store {db}: permission denied: no read permission on the file\n"
