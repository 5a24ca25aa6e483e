"""The logwarden server: one process that many hosts ship to, and that the programs query.

It receives the Elasticsearch ``_bulk`` subset shippers speak (``server.bulk``) into one embedded
SQLite store, and answers the Store protocol over HTTP (``server.api``) so that ``logq``, the alerter
and the shipper on any host use ``store: {server: ...}`` unchanged. ``logwarden serve -c FILE``
runs it (``server.cli``); ``server.app.create_app`` builds the ASGI app (Starlette, on uvicorn).
"""
