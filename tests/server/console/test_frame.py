"""The console's frame: where /ui/ and / lead, the login and its session cookie, CSRF, the packaged assets."""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from tests.server.console.client import Client
from tests.server.harness import Running, serve, server_config
from tests.server.http import call

TOKEN = "console-token-0123456789"
REPO = Path(__file__).parents[3]


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A tokenless loopback server: the console needs no login."""
    with serve(server_config(tmp_path_factory.mktemp("open"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A server with a client token: the console needs a login."""
    home = tmp_path_factory.mktemp("locked")
    with serve(server_config(home, {"auth": {"tokens": [{"name": "ops", "token": TOKEN}]}})) as srv:
        yield srv


def _login(srv: Running) -> Client:
    client = Client(srv.url)
    form = client.get("/ui/login?next=%2Fui%2Fsources")
    page = client.post("/ui/login", {"token": TOKEN, "next": "/ui/sources", "csrf": form.field("csrf")})
    assert page.status == 303 and page.location.endswith("/ui/sources"), page.text
    return client


def test_ui_root_leads_to_the_logs_page(open_server: Running) -> None:
    """/ui and /ui/ lead to /ui/logs, which renders the frame with its nav."""
    client = Client(open_server.url)
    assert client.get("/ui/").location.endswith("/ui/logs")
    page = client.get("/ui/logs")
    assert page.status == 200 and 'href="/ui/sources"' in page.text and 'aria-current="page"' in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_a_browser_asking_for_root_goes_to_the_console(locked_server: Running) -> None:
    """GET / with Accept: text/html and no token goes to /ui/; without it, a client still gets a JSON 401."""
    client = Client(locked_server.url)
    page = client.get("/")
    assert page.status == 303 and page.location == "/ui/"
    es = call(locked_server.url + "/")
    assert es.status == 401 and es.json["error"]["type"] == "security_exception"


def test_with_tokens_pages_redirect_to_login_and_other_paths_keep_their_token(locked_server: Running) -> None:
    """Tokens configured: a console page redirects to the login form, a console API call is a 401,
    and paths outside /ui/ still need the Authorization header."""
    client = Client(locked_server.url)
    page = client.get("/ui/logs?q=error")
    assert page.status == 303 and page.location == "/ui/login?next=%2Fui%2Flogs%3Fq%3Derror"
    api = client.get("/ui/api/hits", {"Accept": "application/json"})
    assert api.status == 401 and "log in" in api.json["error"]
    assert call(locked_server.url + "/_logwarden/v1/health").status == 401


def test_login_sets_a_signed_httponly_strict_cookie_that_opens_pages(locked_server: Running) -> None:
    """A good token logs in: the cookie is HttpOnly, SameSite=Strict, scoped to /ui, holds no token."""
    client = _login(locked_server)
    cookie = client.cookie("lw_session")
    assert cookie is not None and cookie.path == "/ui" and TOKEN not in str(cookie.value)
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "strict"
    page = client.get("/ui/sources")
    assert page.status == 200 and ">ops<" in page.text  # the client's name, in the header


def test_a_wrong_token_is_a_401_form_saying_why(locked_server: Running) -> None:
    """A token the server does not know: the form again, 401, with the reason and no cookie."""
    client = Client(locked_server.url)
    form = client.get("/ui/login")
    page = client.post("/ui/login", {"token": "not-a-token-0123456789", "csrf": form.field("csrf")})
    assert page.status == 401 and "not one of server.auth.tokens" in page.text
    assert client.cookie("lw_session") is None


def test_a_login_posted_from_another_site_is_refused(locked_server: Running) -> None:
    """A login form sent from another origin (login CSRF) is a 403, even with the right token."""
    client = Client(locked_server.url)
    form = client.get("/ui/login")
    page = client.post(
        "/ui/login", {"token": TOKEN, "csrf": form.field("csrf")}, {"Origin": "https://evil.example"}
    )
    assert page.status == 403 and client.cookie("lw_session") is None


def test_a_tampered_session_cookie_is_no_session(locked_server: Running) -> None:
    """Changing a byte of the cookie's body breaks its signature: back to the login form."""
    client = _login(locked_server)
    cookie = client.cookie("lw_session")
    assert cookie is not None and cookie.value is not None
    body, _, sig = cookie.value.partition(".")
    cookie.value = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + sig
    assert client.get("/ui/logs").status == 303


def test_a_post_without_the_csrf_token_is_refused(locked_server: Running) -> None:
    """Logging out (a POST) without the form's CSRF token is a 403 page; with it, the cookie goes."""
    client = _login(locked_server)
    refused = client.post("/ui/logout", {})
    assert refused.status == 403 and "CSRF" in refused.text
    csrf = client.get("/ui/logs").field("csrf")
    done = client.post("/ui/logout", {"csrf": csrf})
    assert done.status == 303 and client.cookie("lw_session") is None


def test_a_tokenless_network_server_refuses_every_console_post(tmp_path: Path) -> None:
    """insecure: true without tokens: the console says it is read-only and refuses POSTs (403)."""
    config = server_config(tmp_path, {"listen": "0.0.0.0:9200", "insecure": True})
    with serve(config) as srv:
        client = Client(srv.url)
        page = client.get("/ui/logs")
        refused = client.post("/ui/logout", {"csrf": page.meta("csrf")})
    assert "read-only" in page.text
    assert refused.status == 403 and "read-only" in refused.text


def test_an_unknown_console_path_is_an_html_404(open_server: Running) -> None:
    """A path under /ui/ that is no page: an HTML 404 naming it (not Elasticsearch's JSON)."""
    page = Client(open_server.url).get("/ui/nothing-here")
    assert page.status == 404 and "no console page at /ui/nothing-here" in page.text


def test_the_assets_are_served_and_in_the_package(open_server: Running) -> None:
    """Every template and static file is a resource of the installed package, matched by the
    package-data globs of pyproject.toml (so the wheel has it); the CSS and JS are served."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = resources.files("server.console")
    shipped = [f"{d}/{p.name}" for d in ("templates", "static") for p in package.joinpath(d).iterdir()]
    assert any(name.endswith("base.html") for name in shipped)
    assert [n for n in shipped if not any(fnmatch.fnmatch(n, g) for g in globs["server.console"])] == []
    for name in ("console.css", "console.js"):
        assert call(f"{open_server.url}/ui/static/{name}").status == 200


def test_without_a_browser_the_browser_tests_say_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """No /usr/bin/chromium: the skip reason names the path and how to install it."""
    from tests.server.console import conftest

    monkeypatch.setattr(conftest, "CHROMIUM", Path("/nonexistent/chromium"))
    reason = conftest.browser_missing()
    assert reason is not None and "/nonexistent/chromium" in reason and "install-peers" in reason
