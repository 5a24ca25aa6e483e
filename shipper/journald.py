"""journald inputs: the systemd journal, read with ``journalctl -o json``, one doc per entry.

Why journalctl and not a library: ``systemd-python`` and ``cysystemd`` compile against libsystemd
(headers, a C compiler, a matching version) and do not install on a fresh machine from a wheel;
journalctl is on every systemd machine, reads every journal format that machine writes, and its
JSON output is stable. Its cost (a process, JSON per entry) is small next to delivery.

Guarantees:
- Entries are read in journal order by ``journalctl --follow`` (``--once``: to the end, then done),
  restricted to the input's units (``-u``) and priority (``-p``).
- The cursor is durable and moves only on acknowledgement, in order, like file offsets: each entry
  gets a sequence number within this run (the pipeline's "offset" of the input's pseudo-file
  ``journald:<source>``), and when the pipeline commits up to one, that entry's cursor is written to
  the registry (``shipper_journal``). A restart continues ``--after-cursor`` it.
- Doc ids are deterministic: blake2b-96 of the entry's journal sequence (``s=`` seqnum id and ``i=``
  seqnum of its cursor; the whole cursor when it has neither), so an entry re-sent after a crash is
  a duplicate, stored once.
- journalctl exiting while following is an event (``JournalReaderExited``, its last stderr line) and
  it is started again after a pause from the last entry read; nothing read is lost.
- Fields (ECS where ECS has them): ``MESSAGE`` -> ``message``; ``PRIORITY`` -> ``log.level`` (emerg,
  alert, crit, error, warning, notice, info, debug) and ``log.syslog.severity.code``/``name``;
  ``SYSLOG_FACILITY`` -> ``log.syslog.facility.code``; ``SYSLOG_IDENTIFIER`` -> ``log.syslog.appname``;
  ``_SYSTEMD_UNIT`` -> ``systemd.unit``; ``_PID`` -> ``process.pid``; ``_COMM`` -> ``process.name``;
  ``_EXE`` -> ``process.executable``; ``_HOSTNAME`` -> ``host.name`` (the shipper's host name when
  the entry has none); ``__REALTIME_TIMESTAMP`` -> ``@timestamp``; ``_BOOT_ID`` -> ``host.boot.id``;
  plus ``ecs.version`` and ``event.dataset`` (``<service>.plain`` unless the input sets ``dataset``).
  Names outside the pinned ECS list (``systemd.unit``, ``log.syslog.*``, ``host.boot.id``) sit in the
  input's namespace, as every parser's do (``<namespace>.systemd.unit``).
  A MESSAGE that is not UTF-8 (journalctl gives its bytes as numbers) is decoded with replacement
  and tagged ``invalid_utf8``.
"""

from __future__ import annotations

import hashlib
import queue
import subprocess
import threading
import time
from collections import deque
from typing import IO, Any

import orjson

from logstore.ecs import ECS_VERSION
from logstore.observe import emit
from logstore.types import Doc
from shipper import metrics
from shipper.config import InputConfig, JournaldConfig
from shipper.ecs import Shaper
from shipper.events import JournalReaderExited
from shipper.parsers import INVALID_UTF8, PARSE_ERROR
from shipper.parsers._time import format_ms
from shipper.pipeline import Pipeline
from shipper.registry import Registry

_SEVERITY = ("emerg", "alert", "crit", "error", "warning", "notice", "info", "debug")
_RESTART_AFTER = 5.0
_QUEUE_LINES = 10_000  # read ahead at most this many entries (journalctl then waits on its pipe)
_ROUND_LINES = 2_000


def source_key(jc: JournaldConfig) -> str:
    """The registry key of a journald input: what it selects, so another selection starts afresh."""
    parts = [
        "units=" + ",".join(sorted(jc.units)),
        f"priority={jc.priority if jc.priority is not None else ''}",
        "directory=" + (jc.directory or ""),
        "files=" + ",".join(jc.files),
    ]
    return "journald:" + ";".join(parts)


def command(jc: JournaldConfig, cursor: str | None, follow: bool) -> list[str]:
    """The journalctl command line of an input, resuming after ``cursor`` when there is one."""
    cmd = [jc.journalctl, "-o", "json", "--no-pager", "--all"]
    if follow:
        cmd.append("--follow")
    if jc.directory:
        cmd.append(f"--directory={jc.directory}")
    cmd.extend(f"--file={f}" for f in jc.files)
    for unit in jc.units:
        cmd.append(f"--unit={unit}")
    if jc.priority is not None:
        cmd.append(f"--priority={jc.priority}")
    if cursor:
        cmd.append(f"--after-cursor={cursor}")
    elif jc.start == "tail":
        cmd.append("--lines=0")
    elif follow:
        cmd.append("--no-tail")  # --follow alone would start at the last 10 entries
    return cmd


def entry_id(entry: dict[str, Any]) -> str:
    """The doc id of an entry (see the module docstring)."""
    cursor = str(entry.get("__CURSOR", ""))
    parts = dict(p.split("=", 1) for p in cursor.split(";") if "=" in p)
    key = f"{parts['s']};{parts['i']}" if "s" in parts and "i" in parts else cursor
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def _text(value: Any) -> tuple[str | None, bool]:
    if isinstance(value, str):
        return value, False
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        raw = bytes(value)
        try:
            return raw.decode(), False
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace"), True
    return None, False


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 19 else None


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        have = into.get(key)
        if isinstance(have, dict) and isinstance(value, dict):
            _merge(have, value)
        elif have is None:
            into[key] = value


def entry_doc(entry: dict[str, Any], inp: InputConfig, host: str, now_ms: int) -> Doc:
    """The doc of one journal entry (fields: see the module docstring). The mapped fields go
    through the input's ``Shaper`` like a parser's: those in the pinned ECS list stay, the others
    (``systemd.unit``, ``log.syslog.*``, ``host.boot.id``) sit in the input's namespace."""
    did = entry_id(entry)
    message, bad = _text(entry.get("MESSAGE"))
    us = _int(entry.get("__REALTIME_TIMESTAMP"))
    ts = us // 1000 if us is not None else now_ms
    hostname, _ = _text(entry.get("_HOSTNAME"))
    doc: dict[str, Any] = {
        "@timestamp": format_ms(ts),
        "message": message if message is not None else "",
        "event": {"id": did, "dataset": inp.event_dataset},
        "host": {"name": hostname or host},
        "service": {"name": inp.service},
        "ecs": {"version": ECS_VERSION},
        **inp.fields,
    }
    mapped: dict[str, Any] = {}
    log: dict[str, Any] = {}
    syslog: dict[str, Any] = {}
    prio = _int(entry.get("PRIORITY"))
    if prio is not None and prio < 8:
        log["level"] = _SEVERITY[prio]
        syslog["severity"] = {"code": prio, "name": _SEVERITY[prio]}
    facility = _int(entry.get("SYSLOG_FACILITY"))
    if facility is not None:
        syslog["facility"] = {"code": facility}
    ident, _ = _text(entry.get("SYSLOG_IDENTIFIER"))
    if ident:
        syslog["appname"] = ident
    if syslog:
        log["syslog"] = syslog
    if log:
        mapped["log"] = log
    unit, _ = _text(entry.get("_SYSTEMD_UNIT"))
    if unit:
        mapped["systemd"] = {"unit": unit}
    process: dict[str, Any] = {}
    pid = _int(entry.get("_PID"))
    if pid is not None:
        process["pid"] = pid
    for key, name in (("_COMM", "name"), ("_EXE", "executable")):
        value, _ = _text(entry.get(key))
        if value:
            process[name] = value
    if process:
        mapped["process"] = process
    boot, _ = _text(entry.get("_BOOT_ID"))
    if boot:
        mapped["host"] = {"boot": {"id": boot}}
    ecs, ns = Shaper(inp.field_namespace).split(mapped)
    _merge(doc, ecs)
    if ns:
        doc[inp.field_namespace] = ns
    tags = [INVALID_UTF8] if bad else []
    if message is None:
        tags.append(PARSE_ERROR)
    if tags:
        doc["tags"] = tags
    raw = orjson.dumps(doc)
    return Doc(did, ts, doc, raw, 10 not in raw)


class Journal:
    """One journald input: its journalctl process, the entries read, and the cursors to commit."""

    def __init__(
        self, index: int, inp: InputConfig, host: str, registry: Registry, pipeline: Pipeline, follow: bool
    ) -> None:
        assert inp.journald is not None
        self.index = index
        self.inp = inp
        self.jc = inp.journald
        self.host = host
        self.registry = registry
        self.pipeline = pipeline
        self.follow = follow
        self.source = source_key(self.jc)
        self.fid = self.source  # the pipeline's file id of this input
        self.cursor = registry.journal_cursor(self.source)  # the last entry read
        self.seq = 0  # entries read in this run
        self._cursors: deque[tuple[int, str]] = deque()  # (seq + 1, cursor) not yet committed
        self._lock = threading.Lock()
        self._lines: queue.Queue[bytes | None] = queue.Queue(_QUEUE_LINES)
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._stderr: list[str] = []
        self._restart_at = 0.0
        self.exited = False  # --once: journalctl finished and every line was taken
        self.lines_read = 0

    # -- the journalctl process --------------------------------------------------------------------

    def start(self) -> None:
        cmd = command(self.jc, self.cursor, self.follow)
        try:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as e:
            self._stderr = [f"cannot run {cmd[0]}: {e}"]
            self._lines.put(None)
            return
        self._proc = proc
        self._thread = threading.Thread(target=self._pump, args=(proc,), name="shipper-journal", daemon=True)
        self._thread.start()

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        """Lines of journalctl's stdout into the queue (blocks when it is full: backpressure)."""
        assert proc.stdout is not None and proc.stderr is not None
        err = proc.stderr
        threading.Thread(target=self._drain_stderr, args=(err,), daemon=True).start()
        for line in proc.stdout:
            self._lines.put(line)
        proc.wait()
        self._lines.put(None)

    def _drain_stderr(self, err: IO[bytes]) -> None:
        for line in err:
            self._stderr = [*self._stderr[-4:], line.decode("utf-8", "replace").strip()]

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Unblock the pump if it waits on a full queue.
        while self._thread is not None and self._thread.is_alive():
            try:
                self._lines.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)

    # -- reading -----------------------------------------------------------------------------------

    def read_round(self) -> bool:
        """Entries read since the last round into the pipeline. True if any came."""
        if self._proc is None and not self.exited and time.monotonic() >= self._restart_at:
            self.start()
        entries: list[bytes] = []
        ended = False
        while len(entries) < _ROUND_LINES:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                ended = True
                break
            entries.append(line)
        if entries:
            self._ship(entries)
        if ended:
            self._ended()
        return bool(entries)

    def _ended(self) -> None:
        code = self._proc.returncode if self._proc is not None else -1
        self._proc = None
        if not self.follow and code == 0:
            self.exited = True
            return
        reason = self._stderr[-1] if self._stderr else "no message"
        code = code if code is not None else -1
        emit(JournalReaderExited(input=self.index, code=code, reason=reason[:300]))
        if not self.follow:
            self.exited = True  # --once: said, and nothing more to read
            return
        self._restart_at = time.monotonic() + _RESTART_AFTER

    def _ship(self, lines: list[bytes]) -> None:
        now_ms = int(time.time() * 1000)
        docs: list[Doc] = []
        events: list[tuple[int, int, bytes, tuple[str, ...]]] = []
        cursors: list[tuple[int, str]] = []
        for line in lines:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # not an entry (journalctl writes entries only): nothing to ship or commit
            if type(entry) is not dict or not isinstance(entry.get("__CURSOR"), str):
                continue
            self.seq += 1
            docs.append(entry_doc(entry, self.inp, self.host, now_ms))
            events.append((self.seq - 1, self.seq, b"", ()))
            cursors.append((self.seq, entry["__CURSOR"]))
            self.cursor = entry["__CURSOR"]
        if not docs:
            return
        with self._lock:
            self._cursors.extend(cursors)
        self.pipeline.add_many(docs, events, self.fid, f"journald:{self.index}")
        self.lines_read += len(docs)
        metrics.LINES_READ.inc(len(docs))

    def committed(self, end: int) -> None:
        """The pipeline acknowledged every entry below sequence ``end``: persist its cursor."""
        cursor = None
        with self._lock:
            while self._cursors and self._cursors[0][0] <= end:
                cursor = self._cursors.popleft()[1]
        if cursor is not None:
            self.registry.journal_commit(self.source, cursor)


def journals(
    inputs: list[InputConfig], host: str, registry: Registry, pipeline: Pipeline, follow: bool
) -> list[Journal]:
    """A ``Journal`` for each journald input."""
    return [Journal(i, inp, host, registry, pipeline, follow) for i, inp in enumerate(inputs) if inp.journald]
