"""A tailing harness: verbs that do to log files what applications and logrotate do, plus waits.

Lines are JSON with a ``seq`` field so a test can check that the store holds each written line once.
Verbs: ``write``, ``append``, ``rotate`` (rename / copytruncate, with compress + delaycompress),
``truncate``, ``delete``; waits: ``wait_until``, ``wait_docs``, ``wait_offset``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from logstore import Store, open_store
from logstore.config import StoreConfig
from logwarden.config import Config
from shipper.config import ShipperConfig
from shipper.registry import Registry
from shipper.service import Shipper

REPO = Path(__file__).resolve().parents[2]


def wait_until(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class LogDir:
    """The files side: an application writing numbered JSON lines, and logrotate."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.seq = 0
        self.lock = threading.Lock()

    def path(self, name: str) -> Path:
        return self.root / name

    def lines(self, n: int, **extra: Any) -> list[str]:
        out = []
        for _ in range(n):
            out.append(json.dumps({"seq": self.seq, "msg": f"line {self.seq}", "level": 30, **extra}))
            self.seq += 1
        return out

    def write(self, name: str, n: int, **extra: Any) -> None:
        with self.lock, open(self.path(name), "w") as f:
            f.writelines(line + "\n" for line in self.lines(n, **extra))

    def append(self, name: str, n: int, **extra: Any) -> None:
        with self.lock, open(self.path(name), "a") as f:
            f.writelines(line + "\n" for line in self.lines(n, **extra))

    def append_raw(self, name: str, data: bytes) -> None:
        with self.lock, open(self.path(name), "ab") as f:
            f.write(data)

    def rotate(self, name: str, mode: str = "rename", compress: bool = True) -> None:
        """logrotate with ``rotate 1000``, ``compress``, ``delaycompress`` and rename or copytruncate."""
        with self.lock:
            self._rotate(name, mode, compress)

    def _rotate(self, name: str, mode: str, compress: bool) -> None:
        base = self.path(name)
        n = 1
        while self.path(f"{name}.{n + 1}.gz").exists() or self.path(f"{name}.{n + 1}").exists():
            n += 1
        for i in range(n, 1, -1):
            for suffix in (".gz", ""):
                src = self.path(f"{name}.{i}{suffix}")
                if src.exists():
                    src.rename(self.path(f"{name}.{i + 1}{suffix}"))
        one = self.path(f"{name}.1")
        if one.exists():
            if compress:
                # gzip writes the .gz in place, then unlinks the original (as logrotate's gzip does).
                with open(one, "rb") as src_f, gzip.open(self.path(f"{name}.2.gz"), "wb") as dst:
                    shutil.copyfileobj(src_f, dst)
                one.unlink()
            else:
                one.rename(self.path(f"{name}.2"))
        if mode == "rename":
            base.rename(one)
            base.touch()
        elif mode == "copytruncate":
            shutil.copyfile(base, one)
            with open(base, "r+b") as f:
                f.truncate(0)
        else:
            raise ValueError(mode)

    def truncate(self, name: str) -> None:
        with self.lock, open(self.path(name), "r+b") as f:
            f.truncate(0)

    def delete(self, name: str) -> None:
        with self.lock:
            self.path(name).unlink()


class Harness:
    """A LogDir plus an in-process shipper on a real store."""

    def __init__(self, tmp: Path, store_config: StoreConfig, **shipper: Any) -> None:
        self.logs = LogDir(tmp / "logs")
        self.store_config = store_config
        settings: dict[str, Any] = {
            "inputs": [{"paths": [str(tmp / "logs" / "*.log*")], "format": "json", "service": "test"}],
            "registry": str(tmp / "registry.db"),
            "scan_interval": "100ms",
            "batch": {"max_wait": "50ms", "max_docs": 500},
            "retry": {"initial": "10ms", "max": "200ms"},
            "shutdown_timeout": "5s",
        }
        settings.update(shipper)
        self.config = Config(store=store_config, shipper=ShipperConfig.model_validate(settings))
        self.store: Store = open_store(store_config)
        self.shipper: Shipper | None = None
        self.thread: threading.Thread | None = None

    def start(self, store: Store | None = None) -> Shipper:
        assert self.thread is None
        self.shipper = Shipper(self.config, store or self.store)
        self.thread = threading.Thread(target=self.shipper.run, daemon=True)
        self.thread.start()
        return self.shipper

    def stop(self) -> None:
        if self.shipper is not None and self.thread is not None:
            self.shipper.stop()
            self.thread.join(timeout=20)
            assert not self.thread.is_alive(), "shipper did not stop"
        self.shipper = None
        self.thread = None

    def once(self) -> None:
        Shipper(self.config, self.store, once=True).run()

    def close(self) -> None:
        self.stop()
        self.store.close()

    def seqs(self) -> list[int]:
        self.store.refresh()
        ns = self.config.shipper.inputs[0].field_namespace  # where the lines' own fields are
        return [int(h.source[ns]["seq"]) for h in self.store.search("") if "seq" in h.source.get(ns, {})]

    def count(self) -> int:
        self.store.refresh()
        return self.store.count("")

    def wait_docs(self, n: int, timeout: float = 20.0) -> None:
        wait_until(lambda: self.count() >= n, timeout, f"{n} docs in the store")
        assert self.count() == n, f"expected exactly {n} docs, store has {self.count()}"

    def committed(self) -> dict[str, int]:
        reg = Registry(self.config.shipper.registry)
        try:
            return {r.path: r.offset for r in reg.files()}
        finally:
            reg.close()

    def wait_offset(self, name: str, offset: int | None = None, timeout: float = 20.0) -> None:
        path = str(self.logs.path(name))
        want = os.path.getsize(path) if offset is None else offset
        wait_until(lambda: self.committed().get(path, -1) >= want, timeout, f"{name} committed to {want}")

    def assert_exactly_once(self, written: int) -> None:
        seqs = self.seqs()
        assert len(seqs) == written, f"store has {len(seqs)} docs, {written} lines were written"
        assert sorted(seqs) == list(range(written)), "some lines are missing or doubled"


def iter_ids(store: Store) -> Iterator[str]:
    for h in store.search(""):
        yield h.id


class ShipperProcess:
    """``shipper run`` as a real process, killed and restarted on cue."""

    def __init__(self, cfg: Path, log: IO[bytes]) -> None:
        self.cfg = cfg
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shipper.cli", "run", "-c", str(self.cfg)],
            env=env,
            stdout=self.log,
            stderr=self.log,
            cwd=str(REPO),
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
