"""The Sources page, ``/ui/sources``: filled in by the next commits."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.console.web import page, render


@page
async def sources_page(request: Request) -> Response:
    return render(request, "sources.html")


def routes() -> list[BaseRoute]:
    return [Route("/sources", sources_page)]
