"""Rule templates (Jinja2, sandboxed) with a time budget and an output cap.

A rule's ``summary`` is written by whoever edits rules/, and it renders on the alerter's evaluation
threads. The sandbox already refuses unsafe attribute access; this module also bounds what a
template may cost, so one template cannot stall every rule due on a tick or post a 30 MB message:

- ``render`` stops a render after ``BUDGET_S`` of wall time (an exception is raised in the rendering
  thread at its next bytecode: template loops are Python code) and raises ``TemplateLimit``;
- the output is streamed and cut at ``MAX_CHARS``: a longer output raises ``TemplateLimit``;
- ``*`` and ``**`` are intercepted so a template cannot build a huge string or number first.

``TemplateLimit`` fails the rule (state ``error``, a meta-alert after the configured failures),
never the whole tick. A template that went over a limit once is refused from then on (``refused``)
until its text changes (the rule file is edited) or the alerter restarts: otherwise a rule whose
summary renders only on announcements would fail one tick, then pass silently the next. Other
render errors are the caller's to handle.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

BUDGET_S = 1.0
MAX_CHARS = 4096
# A product of a sequence and a number may build at most this many items (strings: characters).
_MAX_PRODUCT = 100_000
_MAX_EXPONENT = 1_000


class TemplateLimit(Exception):
    """A template over its time budget or output size; ``str()`` says which."""


class _Timeout(BaseException):
    # A BaseException, so that no ``except Exception`` inside Jinja or a filter swallows it.
    pass


class _LimitedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
            raise TemplateLimit(f"template computes a power over {_MAX_EXPONENT}")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                sized = isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int)
                if sized and len(seq) * n > _MAX_PRODUCT:
                    raise TemplateLimit(f"template builds a value of over {_MAX_PRODUCT:,} items")
        return super().call_binop(context, operator, left, right)


TEMPLATES = _LimitedEnvironment(autoescape=False)


# Template source -> why it was refused. Bounded by the number of distinct summaries.
_refused: dict[str, str] = {}


def refused(source: str) -> str | None:
    """Why this template is refused (it went over a limit before), or None."""
    return _refused.get(source)


@lru_cache(maxsize=4096)
def compiled(source: str) -> Template:
    # Compiling costs ~3 ms; a busy tick renders hundreds of summaries from a few templates.
    return TEMPLATES.from_string(source)


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else ctypes.c_void_p(0)
    )


@contextmanager
def _budget(seconds: float) -> Iterator[None]:
    """Raise _Timeout in this thread if the block runs longer than ``seconds``."""
    me = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                _raise_in(me, _Timeout)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["done"] = True
            if state["fired"]:
                _raise_in(me, None)  # fired but maybe not yet raised here: withdraw it
        timer.cancel()


def render(source: str, context: dict[str, Any]) -> str:
    """Render ``source`` with ``context``; TemplateLimit when over the budget or the output cap."""
    if source in _refused:
        raise TemplateLimit(_refused[source])
    try:
        return _render(source, context, BUDGET_S, MAX_CHARS)
    except TemplateLimit as e:
        _refused[source] = str(e)
        raise


def _render(source: str, context: dict[str, Any], budget_s: float, max_chars: int) -> str:
    template = compiled(source)
    parts: list[str] = []
    size = 0
    try:
        with _budget(budget_s):
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > max_chars:
                    raise TemplateLimit(f"template output is over {max_chars:,} characters")
                parts.append(chunk)
    except _Timeout:
        raise TemplateLimit(f"template took longer than {budget_s:g} s to render") from None
    return "".join(parts)
