"""Finding files and knowing which is which (the prospector).

Identity: a file is the blake2b fingerprint of its first bytes (up to ``fingerprint_bytes``), with
device + inode as a hint. A scan (the source of truth; inotify only wakes it early) decides:

1. A path whose (dev, inode) is known and whose first bytes still match that file's fingerprint is that
   file, wherever it moved (rename rotation). A matching inode whose first bytes changed, or whose
   size fell below what was read, is a *different* file now (truncation, copytruncate, inode reuse):
   the old identity is released and the path gets a new one.
2. A path not known by inode whose first bytes match a released or vanished file is that file (a
   copytruncate copy, a rotation while the shipper was stopped, or its ``.gz`` after compress +
   delaycompress), and reading resumes where it stopped.
3. A path whose first bytes match a file still being read elsewhere is a copy and is ignored.
4. Otherwise it is a new file, read from 0. A ``.gz`` that matches no known file at all (created,
   rotated and compressed while the shipper was down or paused) is new too, once it is complete;
   registry rows are kept while any matched path (the .gz included) still holds the file, so an
   archive of something already shipped is always recognized.

All paths go through ``os``; nothing here reads past the fingerprint.
"""

from __future__ import annotations

import fnmatch
import glob
import gzip
import hashlib
import os
import stat
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from logstore.observe import emit
from shipper.config import InputConfig
from shipper.events import FileUnreadable, InputDirMissing, SymlinkSkipped
from shipper.registry import FileRow, Registry

# How often a problem that persists is said again (per file, per directory): an unreadable file is
# usually a logrotate ``create`` mode someone can fix now; a missing directory is often an app not
# installed or started yet, and an hourly line is enough to keep it visible without flooding the log.
UNREADABLE_WARN_EVERY = 60.0
MISSING_DIR_WARN_EVERY = 3600.0


def fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def fid_hasher(fid: str) -> Any:
    from shipper.build import id_hasher

    return id_hasher(fid)


def _open_same(path: str, st: os.stat_result) -> IO[bytes] | None:
    """``path`` opened for reading if it is still the file ``st`` describes, else None.

    Why: rotation renames files between a scan's stat and its reads (app.log.2.gz becomes .3.gz and
    the next archive takes its name); reading by path then would judge one file by another's bytes.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError:
        return None
    now = os.fstat(f.fileno())
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        f.close()
        return None
    return f


def read_head(path: str, n: int, gz: bool, st: os.stat_result) -> bytes:
    """The first ``n`` bytes of the file's content (decompressed for .gz); b'' when unreadable or
    when ``path`` no longer holds the file ``st`` describes."""
    f = _open_same(path, st)
    if f is None:
        return b""
    try:
        with f:
            if gz:
                with gzip.GzipFile(fileobj=f, mode="rb") as g:
                    return g.read(n)
            return f.read(n)
    except (OSError, EOFError, zlib.error):
        return b""


def gz_isize(path: str, st: os.stat_result) -> int | None:
    """The uncompressed size mod 2**32 from a gzip trailer, without decompressing."""
    f = _open_same(path, st)
    if f is None:
        return None
    try:
        with f:
            f.seek(-4, os.SEEK_END)
            return int(struct.unpack("<I", f.read(4))[0])
    except (OSError, struct.error):
        return None


def gz_complete(path: str, st: os.stat_result) -> bool:
    """Whether a .gz decompresses to its end (a compressor may still be writing it)."""
    f = _open_same(path, st)
    if f is None:
        return False
    try:
        with f, gzip.GzipFile(fileobj=f, mode="rb") as g:
            while g.read(1 << 20):
                pass
        return True
    except (OSError, EOFError, zlib.error):
        return False


@dataclass(frozen=True, slots=True)
class Match:
    """A regular file an input's globs match now; ``target`` is where it points when it is a symlink;
    ``problem`` is why this process cannot read it (it is then not shipped, and said so)."""

    path: str
    input: int
    target: str | None = None
    problem: str | None = None

    @property
    def followed(self) -> bool:
        return self.target is None


@dataclass(frozen=True, slots=True)
class MissingDir:
    """An input pattern whose directory is not there (or cannot be listed): it matches nothing now."""

    input: int
    pattern: str
    directory: str
    problem: str


def pattern_dir(pattern: str) -> str:
    """The deepest directory of a glob pattern without a glob character in it (``.`` for none)."""
    base = os.path.dirname(os.path.expanduser(pattern)) or "."
    while any(c in base for c in "*?["):
        base = os.path.dirname(base) or "."
    return base


def dir_problem(path: str) -> str | None:
    """Why the files in directory ``path`` cannot be listed and read by this process, or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such directory"
    except PermissionError:
        return "permission denied: a directory on the way to it has no search (x) permission"
    except OSError as e:
        return e.strerror or str(e)
    if not stat.S_ISDIR(st.st_mode):
        return "not a directory"
    if not os.access(path, os.R_OK | os.X_OK):
        return "permission denied: no read (r) and search (x) permission on the directory"
    return None


def missing_dirs(inputs: Sequence[InputConfig]) -> list[MissingDir]:
    """The inputs' patterns whose directory cannot be listed now (a glob there silently matches nothing)."""
    out: list[MissingDir] = []
    for idx, inp in enumerate(inputs):
        for pattern in inp.paths:
            base = pattern_dir(pattern)
            problem = dir_problem(base)
            if problem is not None:
                out.append(MissingDir(idx, pattern, base, problem))
    return out


def _file_problem(path: str) -> str | None:
    # access(2), not open(2): a scan checks every matched file, and opening each would cost more.
    if os.access(path, os.R_OK):
        return None
    return "permission denied: no read permission on the file"


def matches(inputs: Sequence[InputConfig]) -> list[Match]:
    """Every regular file the inputs match now, links included (``expand`` decides about those) and
    unreadable ones with their ``problem``; a path belongs to its first input."""
    out: list[Match] = []
    seen: set[str] = set()
    for idx, inp in enumerate(inputs):
        for pattern in inp.paths:
            for path in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
                if path in seen or any(fnmatch.fnmatch(path, ex) for ex in inp.exclude):
                    continue
                try:
                    if not stat.S_ISREG(os.stat(path).st_mode):
                        continue
                    target = os.path.realpath(path) if os.path.islink(path) else None
                except PermissionError:  # listed, but its directory may not be entered
                    seen.add(path)
                    out.append(
                        Match(path, idx, None, "permission denied: no search (x) permission on its directory")
                    )
                    continue
                except OSError:
                    continue  # gone since the glob listed it
                seen.add(path)
                out.append(Match(path, idx, target, _file_problem(path)))
    return out


def followed(inputs: Sequence[InputConfig], m: Match) -> bool:
    """Whether ``m`` is shipped: a symlink only with its input's ``follow_symlinks`` (a link in a log
    directory may point anywhere, /etc/shadow included)."""
    return m.target is None or inputs[m.input].follow_symlinks


def expand(inputs: Sequence[InputConfig]) -> list[tuple[str, int]]:
    """(path, input index) of every regular file the inputs match now and ship (see ``followed``)."""
    return [(m.path, m.input) for m in matches(inputs) if followed(inputs, m) and m.problem is None]


GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str, st: os.stat_result) -> bool:
    """Whether the file starts with gzip's magic bytes: compression is told by content, not by name
    (``app.log.gz.tmp`` while logrotate compresses; a ``.gz`` that is plain text)."""
    f = _open_same(path, st)
    if f is None:
        return False
    try:
        with f:
            return f.read(2) == GZIP_MAGIC
    except OSError:
        return False


@dataclass(eq=False)
class FileState:
    """One file identity in memory: its registry row plus how far it is *read* (ahead of committed)."""

    row: FileRow
    read_offset: int
    hasher: Any
    seen: bool = False  # matched by the last scan
    harvester: Any = None  # shipper.reader.Harvester while open
    last_data: float = 0.0  # monotonic time of the last bytes read

    @property
    def fid(self) -> str:
        return self.row.fid

    @property
    def wants_read(self) -> bool:
        if self.row.done:
            return False
        if self.harvester is not None:
            return True
        # A .gz's plain size is unknown until it is read to its end (which marks it done).
        return self.seen and (self.row.gz or self.row.size > self.read_offset)


@dataclass
class ScanResult:
    new: list[FileState] = field(default_factory=list)
    released: list[FileState] = field(default_factory=list)  # identity changed under an open reader
    forgotten: list[str] = field(default_factory=list)


class Tracker:
    """The set of known files; ``scan`` reconciles it with the file system (see module docstring)."""

    def __init__(
        self, registry: Registry, inputs: Sequence[InputConfig], fingerprint_bytes: int, host: str = ""
    ) -> None:
        self.registry = registry
        # A new file's id (and so its docs' ids) is salted with the host's name: two hosts whose files
        # begin alike (same app, same first lines) must not make the same doc ids in one store, where
        # the second host's docs would be taken for duplicates and dropped. Files already in the
        # registry keep their ids.
        self.host = host
        self.inputs = list(inputs)
        self.n = fingerprint_bytes
        self.states: dict[str, FileState] = {}
        self._gz_verified: dict[tuple[int, int], tuple[int, int, str]] = {}
        # (dev, ino) -> gzip or not, by its first bytes: once per file, not a read per file per scan.
        # Only files the last scan matched are kept, so a deleted file's reused inode is read afresh.
        self._gz_magic: dict[tuple[int, int], bool] = {}
        self._gz_magic_seen: dict[tuple[int, int], bool] = {}
        self._links_warned: set[str] = set()
        self._warned_at: dict[str, float] = {}  # path or directory -> when its problem was last said
        self._skipped: dict[str, str] | None = None  # as last written to the registry
        for row in registry.files():
            if row.done and row.offset < row.size:
                row.done = False  # read to its end before a crash, but not all of it acknowledged
            self.states[row.fid] = FileState(row, row.offset, fid_hasher(row.fid))

    def release(self, s: FileState, result: ScanResult) -> None:
        """``s`` is no longer what its inode holds (its content changed): only a fingerprint match
        can find it again; an open one goes to ``result.released``."""
        s.row.ino = -1
        s.row.dev = -1
        s.seen = False
        if s.harvester is not None:
            result.released.append(s)

    def scan(self, now: float, clean_after: float) -> ScanResult:
        result = ScanResult()
        by_ino: dict[tuple[int, int], FileState] = {}
        for s in self.states.values():
            s.seen = False
            if s.row.ino >= 0:
                key = (s.row.dev, s.row.ino)
                other = by_ino.get(key)
                # Stale rows keep the inode of a deleted file, which may be reused: an open reader
                # proves its row is the live one.
                if other is None or other.harvester is None:
                    by_ino[key] = s
        leftovers: list[tuple[str, int, os.stat_result, bool]] = []
        self._gz_magic_seen = {}
        for path, idx in self._expand(now):
            try:
                st = os.stat(path)
            except OSError:
                continue
            gz = self._gzip(path, st)
            known = by_ino.get((st.st_dev, st.st_ino))
            if known is not None and known.row.gz == gz and not known.seen:
                fp_len = known.row.fp_len
                if self._verify(known, path, st, gz):
                    self._claim(known, path, st, idx, gz, now, force=known.row.fp_len != fp_len)
                    continue
                self.release(known, result)
            leftovers.append((path, idx, st, gz))
        self._gz_magic = self._gz_magic_seen
        # Plain files first: a live copy is a better place to resume than its compressed twin.
        leftovers.sort(key=lambda c: c[3])
        for path, idx, st, gz in leftovers:
            if st.st_size == 0:
                continue
            head = read_head(path, self.n, gz, st)
            if not head:
                continue
            match = self._match(head, claimed=False)
            if match is not None:
                self._claim(match, path, st, idx, gz, now)
                if gz:
                    self._maybe_done_gz(match, path, st)
                continue
            if self._match(head, claimed=True) is not None:
                continue  # a twin of a file being read is a copy
            if gz and not gz_complete(path, st):
                continue  # still being compressed; its head may be all there is so far
            result.new.append(self._new(path, st, idx, head, now, gz))
        for s in list(self.states.values()):
            if s.seen or s.harvester is not None:
                continue
            if now - s.row.last_seen > clean_after:
                del self.states[s.fid]
                result.forgotten.append(s.fid)
        if result.forgotten:
            self.registry.delete(result.forgotten)
        return result

    def _expand(self, now: float) -> list[tuple[str, int]]:
        """``expand``, saying on stderr which matches are skipped and why (silence is a bug): a symlink
        once, an unreadable file or a missing directory again while it lasts (see *_WARN_EVERY)."""
        out: list[tuple[str, int]] = []
        skipped: dict[str, str] = {}
        for d in missing_dirs(self.inputs):
            skipped[d.pattern] = f"directory {d.directory}: {d.problem}"
            if self._due(d.directory, now, MISSING_DIR_WARN_EVERY):
                emit(InputDirMissing(directory=d.directory, pattern=d.pattern, error=d.problem))
        for m in matches(self.inputs):
            if m.problem is not None:
                skipped[m.path] = m.problem
                if self._due(m.path, now, UNREADABLE_WARN_EVERY):
                    emit(FileUnreadable(path=m.path, error=m.problem))
            elif followed(self.inputs, m):
                out.append((m.path, m.input))
            elif m.path not in self._links_warned:
                self._links_warned.add(m.path)
                emit(SymlinkSkipped(path=m.path, target=m.target))
        if skipped != self._skipped:
            self.registry.set_skipped(skipped)  # for `shipper status`, a separate process
            self._skipped = skipped
        return out

    def _due(self, key: str, now: float, every: float) -> bool:
        last = self._warned_at.get(key)
        if last is not None and now - last < every:
            return False
        self._warned_at[key] = now
        return True

    def _gzip(self, path: str, st: os.stat_result) -> bool:
        key = (st.st_dev, st.st_ino)
        gz = self._gz_magic.get(key)
        if gz is None:
            gz = is_gzip(path, st)
        if st.st_size >= 2:  # an empty file may still become either
            self._gz_magic_seen[key] = gz
        return gz

    def _verify(self, s: FileState, path: str, st: os.stat_result, gz: bool) -> bool:
        # A .gz does not change, but its inode may be a reused one: check its first bytes too (once
        # per size + mtime, as decompressing every archive on every scan adds up).
        stamp = (st.st_size, st.st_mtime_ns, s.fid)
        if gz and self._gz_verified.get((st.st_dev, st.st_ino)) == stamp:
            return True
        if not gz and (st.st_size < s.read_offset or st.st_size < s.row.fp_len):
            return False
        head = read_head(path, self.n, gz, st)
        if len(head) < s.row.fp_len or fingerprint(head[: s.row.fp_len]) != s.row.fp_hash:
            return False
        if gz:
            self._gz_verified[(st.st_dev, st.st_ino)] = stamp
        if len(head) > s.row.fp_len:
            # Grow the fingerprint up to fingerprint_bytes: more bytes, fewer false matches.
            s.row.fp_len = len(head)
            s.row.fp_hash = fingerprint(head)
        return True

    def _match(self, head: bytes, claimed: bool) -> FileState | None:
        for s in self.states.values():
            busy = s.seen or s.harvester is not None
            if busy != claimed:
                continue
            if s.row.fp_len <= len(head) and fingerprint(head[: s.row.fp_len]) == s.row.fp_hash:
                return s
        return None

    def _claim(
        self, s: FileState, path: str, st: os.stat_result, idx: int, gz: bool, now: float, force: bool = False
    ) -> None:
        changed = force or (s.row.path, s.row.dev, s.row.ino, s.row.gz, s.row.input) != (
            path,
            st.st_dev,
            st.st_ino,
            gz,
            idx,
        )
        s.seen = True
        s.row.path, s.row.dev, s.row.ino, s.row.gz, s.row.input = path, st.st_dev, st.st_ino, gz, idx
        if not gz:
            s.row.size = st.st_size
        s.row.last_seen = now
        if changed:
            self.registry.upsert(s.row)

    def _maybe_done_gz(self, s: FileState, path: str, st: os.stat_result) -> None:
        isize = gz_isize(path, st)
        if isize is not None and isize == s.read_offset % (1 << 32):
            # Everything it holds was read from the plain file already (a restart re-reads from the
            # committed offset if that was not all acknowledged: see __init__).
            s.row.done = True
            s.row.size = s.read_offset
            self.registry.upsert(s.row)

    def _new(self, path: str, st: os.stat_result, idx: int, head: bytes, now: float, gz: bool) -> FileState:
        fp = fingerprint(head)
        base = fingerprint(f"{self.host}\x00{fp}".encode()) if self.host else fp
        fid, n = base, 0
        while fid in self.states or self.registry.fid_exists(fid):
            n += 1
            fid = fingerprint(f"{base}:{n}".encode())
        row = FileRow(
            fid, path, st.st_dev, st.st_ino, gz, len(head), fp, 0, 0 if gz else st.st_size, idx, now
        )
        self.registry.upsert(row)  # before any doc with this id leaves
        s = FileState(row, 0, fid_hasher(fid), seen=True)
        self.states[fid] = s
        return s

    def persist(self) -> None:
        for s in self.states.values():
            self.registry.upsert(s.row)
