"""The web console, under ``/ui/``: server-rendered pages over the server's read-only store.

The URL is the state: each page reads its query string (``q``, ``from``, ``to``, ...), so a link
reproduces a view. Pages read through the Store protocol (``server.app.context(request).reader``),
so the console works the same over SQLite, a logwarden server and Elasticsearch.

Adding a page: a module with ``routes()`` (paths relative to ``/ui``) whose handlers are wrapped in
``web.page``, its templates extending ``base.html`` (blocks ``title``, ``content``, ``scripts``),
one line in ``routes()`` below, and its nav entry in ``PAGES``. POST handlers call
``session.check_csrf`` and put ``{{ csrf }}`` in a hidden ``csrf`` field.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

# The nav bar, in order: (path, label). A page module's entry goes here, by hand (Logs, Alerts, Sources).
PAGES: list[tuple[str, str]] = [
    ("/ui/logs", "Logs"),
    ("/ui/alerts", "Alerts"),
    ("/ui/silences", "Silences"),
    ("/ui/notifications", "Notifications"),
    ("/ui/sources", "Sources"),
]


async def _home(request: object) -> Response:
    return RedirectResponse("/ui/logs", status_code=303)


def routes() -> list[BaseRoute]:
    """The console's routes: one ``Mount("/ui")``. Put it before ``compat.routes()`` (its ``/{index}``)."""
    from server.console import alerts, logs, session, sources, web

    return [
        Mount(
            "/ui",
            routes=[
                Route("/", _home),
                Mount("/static", StaticFiles(packages=[("server.console", "static")]), name="static"),
                *session.routes(),
                *logs.routes(),
                *alerts.routes(),
                *sources.routes(),
                Route("/{rest:path}", web.not_found, methods=["GET", "HEAD", "POST"]),
            ],
        )
    ]
