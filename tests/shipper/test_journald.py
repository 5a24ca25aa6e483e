"""journald inputs: entries of a journal file (written here with systemd-journal-remote from export
format, read with ``journalctl --file``) shipped with ECS fields, a durable cursor, stable ids."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from logstore.config import StoreConfig
from logwarden.config import ConfigError
from shipper.config import InputConfig
from shipper.journald import command, entry_doc, entry_id, source_key
from shipper.registry import Registry
from tests.shipper.harness import Harness

_REMOTE = "/lib/systemd/systemd-journal-remote"
_BOOT = "0123456789abcdef0123456789abcdef"
_T0 = 1764669600123456  # 2025-12-02T10:00:00.123456Z, microseconds


def _export(entries: list[dict[str, str]]) -> bytes:
    out = []
    for i, e in enumerate(entries):
        fields = {"__REALTIME_TIMESTAMP": str(_T0 + i * 1_000_000), "__MONOTONIC_TIMESTAMP": str(i + 1)}
        fields["_BOOT_ID"] = _BOOT
        fields.update(e)
        out.append("".join(f"{k}={v}\n" for k, v in fields.items()) + "\n")
    return "".join(out).encode()


def _journal(tmp: Path, entries: list[dict[str, str]], name: str = "t.journal") -> Path:
    if shutil.which("journalctl") is None or not Path(_REMOTE).exists():
        pytest.skip("needs journalctl and systemd-journal-remote (apt-get install systemd-journal-remote)")
    src = tmp / (name + ".export")
    src.write_bytes(_export(entries))
    out = tmp / name
    subprocess.run([_REMOTE, f"--output={out}", str(src)], check=True, capture_output=True, timeout=30)
    return out


_ENTRIES = [
    {
        "MESSAGE": "started",
        "PRIORITY": "6",
        "_SYSTEMD_UNIT": "app.service",
        "_PID": "42",
        "_HOSTNAME": "web1",
    },
    {"MESSAGE": "disk failing", "PRIORITY": "3", "_SYSTEMD_UNIT": "app.service", "_PID": "42"},
    {"MESSAGE": "other unit", "PRIORITY": "3", "_SYSTEMD_UNIT": "other.service"},
    {"MESSAGE": "chatty", "PRIORITY": "7", "_SYSTEMD_UNIT": "app.service", "SYSLOG_IDENTIFIER": "app"},
]


def _harness(tmp: Path, cfg: StoreConfig, journal: Path, **journald: Any) -> Harness:
    return Harness(
        tmp,
        cfg,
        inputs=[{"journald": {"files": [str(journal)], "start": "head", **journald}, "service": "app"}],
    )


def test_entries_map_to_ecs(tmp_path: Path, sqlite_store_config: StoreConfig) -> None:
    """MESSAGE, PRIORITY, _SYSTEMD_UNIT, _PID, _HOSTNAME and the realtime stamp become ECS fields."""
    journal = _journal(tmp_path, _ENTRIES)
    h = _harness(tmp_path, sqlite_store_config, journal)
    try:
        h.once()
        docs = {d.source["message"]: d.source for d in h.store.search("")}
    finally:
        h.close()
    assert set(docs) == {"started", "disk failing", "other unit", "chatty"}
    first = docs["started"]
    assert first["@timestamp"] == "2025-12-02T10:00:00.123Z"
    ns = first["app"]  # the input's namespace: names outside the pinned ECS list
    assert first["log"]["level"] == "info"
    assert ns["log"]["syslog"]["severity"] == {"code": 6, "name": "info"}
    assert ns["systemd"]["unit"] == "app.service" and first["process"]["pid"] == 42
    assert first["host"]["name"] == "web1" and first["service"]["name"] == "app"
    assert docs["disk failing"]["log"]["level"] == "error"
    assert docs["chatty"]["app"]["log"]["syslog"]["appname"] == "app"
    assert first["ecs"]["version"] and first["event"]["dataset"] == "app.plain"


def test_units_and_priority_select_entries(tmp_path: Path, sqlite_store_config: StoreConfig) -> None:
    """units and priority pass only the unit's entries at that priority or more urgent."""
    journal = _journal(tmp_path, _ENTRIES)
    h = _harness(tmp_path, sqlite_store_config, journal, units=["app.service"], priority="info")
    try:
        h.once()
        got = sorted(d.source["message"] for d in h.store.search(""))
    finally:
        h.close()
    assert got == ["disk failing", "started"]


def test_cursor_is_durable_and_a_restart_ships_only_new_entries(
    tmp_path: Path, sqlite_store_config: StoreConfig
) -> None:
    """After an acknowledged run the cursor is in the registry; a second run ships only what is new."""
    journal = _journal(tmp_path, _ENTRIES[:2])
    h = _harness(tmp_path, sqlite_store_config, journal)
    try:
        h.once()
        assert h.count() == 2
        reg = Registry(h.config.shipper.registry)
        try:
            inp = h.config.shipper.inputs[0]
            assert inp.journald is not None
            cursor = reg.journal_cursor(source_key(inp.journald))
        finally:
            reg.close()
        assert cursor is not None and ";i=2;" in cursor
        h.once()  # nothing new: nothing sent again
        assert h.count() == 2
        # The journal grows (a second file of the same journal sequence read along with the first).
        more = _journal(tmp_path, _ENTRIES, name="t2.journal")
        h2 = _harness(tmp_path / "again", sqlite_store_config, more)
        h2.store.close()
        h2.store = h.store
        h2.config.shipper.registry = h.config.shipper.registry
        assert h2.config.shipper.inputs[0].journald is not None
        h2.once()  # another file, another sequence: all 4 new (ids differ from the first file's)
        assert h.count() == 6
    finally:
        h.close()


def test_resend_is_a_duplicate(tmp_path: Path, sqlite_store_config: StoreConfig) -> None:
    """Doc ids come from the entry's journal sequence: re-reading the journal stores nothing twice."""
    journal = _journal(tmp_path, _ENTRIES)
    h = _harness(tmp_path, sqlite_store_config, journal)
    try:
        h.once()
        (tmp_path / "registry.db").unlink()  # the cursor is lost: everything is read again
        for extra in ("registry.db-wal", "registry.db-shm"):
            (tmp_path / extra).unlink(missing_ok=True)
        h.once()
        assert h.count() == len(_ENTRIES)
    finally:
        h.close()


def test_entry_id_from_cursor_sequence() -> None:
    """The id depends on the cursor's seqnum id and seqnum only, not on its other parts."""
    a = {"__CURSOR": "s=abc;i=7;b=x;m=1;t=2;x=3"}
    b = {"__CURSOR": "s=abc;i=7;b=y;m=9;t=9;x=9"}
    assert entry_id(a) == entry_id(b) != entry_id({"__CURSOR": "s=abc;i=8;b=x"})
    assert len(entry_id(a)) == 24


def test_binary_message_is_decoded_and_tagged() -> None:
    """A MESSAGE journalctl gives as bytes (not UTF-8) is decoded with replacement and tagged."""
    inp = InputConfig(journald={}, service="s")
    doc = entry_doc({"__CURSOR": "s=a;i=1", "MESSAGE": [104, 105, 255]}, inp, "h", 1000)
    assert doc.source["message"] == "hi\ufffd" and doc.source["tags"] == ["invalid_utf8"]
    assert doc.source["host"]["name"] == "h" and doc.ts == 1000


def test_command_resumes_after_the_cursor() -> None:
    """journalctl resumes --after-cursor; a first start follows from the end (tail) or the head."""
    inp = InputConfig(journald={"units": ["a.service"], "priority": 4})
    assert inp.journald is not None
    cmd = command(inp.journald, "s=x;i=1", follow=True)
    assert "--after-cursor=s=x;i=1" in cmd and "--unit=a.service" in cmd and "--priority=4" in cmd
    assert "--lines=0" in command(inp.journald, None, follow=True)
    head = InputConfig(journald={"start": "head"}).journald
    assert head is not None and "--no-tail" in command(head, None, follow=True)


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        (
            [{"journald": {"priority": "loud"}}],
            "inputs[0].journald.priority: unknown priority 'loud'",
        ),
        ([{"journald": {}, "paths": ["/x"]}], "either paths or journald"),
        ([{"journald": {}, "format": "json"}], "takes no format"),
        ([{}], "needs paths (files to tail) or journald"),
    ],
)
def test_bad_journald_config_is_one_line(tmp_path: Path, inputs: list[Any], error: str) -> None:
    """A bad journald input is a one-line config error naming the file, line and key."""
    from tests.shipper.test_text_formats import load_error

    msg = load_error(tmp_path, inputs)
    assert error in msg and "\n" not in msg and "logwarden.yaml:" in msg
    assert not isinstance(msg, ConfigError)


def test_follow_ships_and_commits_then_stops_journalctl(
    tmp_path: Path, sqlite_store_config: StoreConfig
) -> None:
    """A running shipper follows the journal, commits the cursor after the store acknowledges, and
    ends its journalctl when it stops."""
    journal = _journal(tmp_path, _ENTRIES)
    h = _harness(tmp_path, sqlite_store_config, journal)
    try:
        shipper = h.start()
        h.wait_docs(len(_ENTRIES))
        proc = shipper.journals[0]._proc
        assert proc is not None and proc.poll() is None
        inp = h.config.shipper.inputs[0]
        assert inp.journald is not None
        reg = Registry(h.config.shipper.registry)
        try:
            from tests.shipper.harness import wait_until

            wait_until(lambda: ";i=4;" in (reg.journal_cursor(source_key(inp.journald)) or ""), 10)  # type: ignore[arg-type]
        finally:
            reg.close()
        h.stop()
        assert proc.poll() is not None
    finally:
        h.close()


def test_journalctl_failing_is_said(tmp_path: Path, sqlite_store_config: StoreConfig, caplog: Any) -> None:
    """journalctl that cannot run is a warning naming why, and --once still ends."""
    h = Harness(tmp_path, sqlite_store_config, inputs=[{"journald": {"journalctl": str(tmp_path / "nope")}}])
    try:
        with caplog.at_level("WARNING"):
            h.once()
    finally:
        h.close()
    assert any("journalctl exited" in r.getMessage() for r in caplog.records)
