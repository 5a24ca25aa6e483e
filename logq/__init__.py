"""logq, the query CLI: Lucene queries over the logwarden store, from an alert to the lines behind it.

Public surface: ``logq.cli.main`` (the console script) and ``logq.cli.run`` (the same, with injected
streams, config and stop event, for tests and embedding). Modules: ``timerange`` (--since/--from/--to
and date math), ``render`` (output formats), ``aggs`` (count, count-by, histogram, field discovery),
``follow`` (-f), ``keys`` (time/level/message key guessing).
"""
