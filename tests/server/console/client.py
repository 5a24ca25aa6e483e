"""A cookie-keeping HTTP client for the console's non-browser tests (urllib; redirects not followed).

It sends what a browser would (``Accept: text/html``, the cookies the server set, form bodies) and
shows every answer as it is, a 303 included, so a test can check where the console sends a user.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Page:
    status: int
    headers: Any
    text: str

    @property
    def location(self) -> str:
        return str(self.headers.get("Location") or "")

    def meta(self, name: str) -> str:
        m = re.search(rf'<meta name="{re.escape(name)}" content="([^"]*)"', self.text)
        assert m is not None, f"no meta {name!r} in the page"
        return m.group(1)

    @property
    def json(self) -> Any:
        return orjson.loads(self.text)

    def field(self, name: str) -> str:
        """The value of the (first) hidden or text input called ``name`` in the page."""
        m = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', self.text)
        assert m is not None, f"no input {name!r} in the page"
        return m.group(1)


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Page:
        hdrs = {"Accept": "text/html", **(headers or {})}
        return self._call(urllib.request.Request(self.base + path, headers=hdrs))

    def post(self, path: str, form: dict[str, str], headers: dict[str, str] | None = None) -> Page:
        body = urllib.parse.urlencode(form).encode()
        hdrs = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html", **(headers or {})}
        return self._call(urllib.request.Request(self.base + path, data=body, headers=hdrs, method="POST"))

    def cookie(self, name: str) -> http.cookiejar.Cookie | None:
        return next((c for c in self.jar if c.name == name), None)

    def _call(self, req: urllib.request.Request) -> Page:
        try:
            with self.opener.open(req, timeout=30) as resp:
                return Page(resp.status, resp.headers, resp.read().decode())
        except urllib.error.HTTPError as e:
            return Page(e.code, e.headers, e.read().decode())
