"""The Logs (Discover) page, ``/ui/logs``: filled in by the next commits."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.console.web import page, render


@page
async def logs_page(request: Request) -> Response:
    return render(request, "logs.html")


def routes() -> list[BaseRoute]:
    return [Route("/logs", logs_page)]
