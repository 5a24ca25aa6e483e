"""Helpers shared by the deploy tests: load the example scripts (not a package) and wait with a deadline."""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
COMPOSE = ROOT / "compose"
DEPLOY = ROOT / "deploy"

T = TypeVar("T")


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py under the module name ``logwarden_example_<name>``."""
    mod_name = f"logwarden_example_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the class body runs.
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def wait_until(check: Callable[[], T | None], timeout: float, interval: float = 0.2, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy or the deadline passes (then fail)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check}")
        time.sleep(interval)


def free_port() -> int:
    """A free loopback TCP port (aiosmtpd's Controller cannot bind port 0 and report it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
