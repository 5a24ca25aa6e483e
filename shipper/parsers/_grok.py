"""A small table of grok patterns (the common part of Logstash's ``grok-patterns``), compiled to one
Python regex per input.

Why not a library: the grok packages on PyPI are unmaintained (pygrok's last release is from 2016)
and pull in the ``regex`` module; the patterns people use are a short list. ``%{NAME}`` matches,
``%{NAME:field}`` captures into ``field`` (dots nest: ``%{IP:source.ip}``), ``%{NAME:field:int}``
(or ``:float``) converts the capture. Plain ``(?P<name>...)`` groups work as in ``format: regex``.
An unknown pattern name is a ``GrokError`` naming it (a config error at load time).
"""

from __future__ import annotations

import re

_MON = (
    r"\b(?:[Jj]an(?:uary|uar)?|[Ff]eb(?:ruary|ruar)?|[Mm](?:a|ä)?r(?:ch|z)?|[Aa]pr(?:il)?|[Mm]a(?:y|i)?"
    r"|[Jj]un(?:e|i)?|[Jj]ul(?:y|i)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo](?:c|k)?t(?:ober)?"
    r"|[Nn]ov(?:ember)?|[Dd]e(?:c|z)(?:ember)?)\b"
)
PATTERNS: dict[str, str] = {
    "USERNAME": r"[a-zA-Z0-9._-]+",
    "USER": r"%{USERNAME}",
    "INT": r"(?:[+-]?(?:[0-9]+))",
    "NUMBER": r"(?:[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+))",
    "POSINT": r"\b(?:[1-9][0-9]*)\b",
    "WORD": r"\b\w+\b",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "QS": r"(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')",
    "QUOTEDSTRING": r"%{QS}",
    "UUID": r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}",
    "IPV4": r"(?<![0-9])(?:(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})(?![0-9])",
    "IPV6": r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:%{IPV4}|[0-9A-Fa-f]{0,4})(?:%\w+)?",
    "IP": r"(?:%{IPV6}|%{IPV4})",
    "HOSTNAME": r"\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*(?:\.?|\b)",
    "IPORHOST": r"(?:%{IP}|%{HOSTNAME})",
    "HOSTPORT": r"%{IPORHOST}:%{POSINT}",
    "PATH": r"(?:/[^\s]*)+",
    "URIPROTO": r"[A-Za-z](?:[A-Za-z0-9+\-.]+)+",
    "URIPATH": r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+",
    "URIPARAM": r"\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*",
    "URIPATHPARAM": r"%{URIPATH}(?:%{URIPARAM})?",
    "URI": r"%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{IPORHOST})?(?::%{POSINT})?(?:%{URIPATHPARAM})?",
    "MONTH": _MON,
    "MONTHNUM": r"(?:0?[1-9]|1[0-2])",
    "MONTHDAY": r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])",
    "DAY": r"(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)",
    "YEAR": r"(?:\d\d){1,2}",
    "HOUR": r"(?:2[0123]|[01]?[0-9])",
    "MINUTE": r"(?:[0-5][0-9])",
    "SECOND": r"(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)",
    "TIME": r"(?<![0-9])%{HOUR}:%{MINUTE}(?::%{SECOND})(?![0-9])",
    "ISO8601_TIMEZONE": r"(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))",
    "TIMESTAMP_ISO8601": r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?"
    r"%{ISO8601_TIMEZONE}?",
    "HTTPDATE": r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}",
    "SYSLOGTIMESTAMP": r"%{MONTH} +%{MONTHDAY} %{TIME}",
    "LOGLEVEL": r"(?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo?(?:rmation)?"
    r"|INFO?(?:RMATION)?|[Ww]arn?(?:ing)?|WARN?(?:ING)?|[Ee]rr?(?:or)?|ERR?(?:OR)?|[Cc]rit?(?:ical)?"
    r"|CRIT?(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?)",
    # The Apache/nginx access log lines, captured into ECS names.
    "COMMONAPACHELOG": r"%{IPORHOST:source.address} (?:-|%{USER}) (?:-|%{USER:user.name}) "
    r"\[%{HTTPDATE:timestamp}\] \"(?:%{WORD:http.request.method} %{NOTSPACE:url.original}"
    r"(?: HTTP/%{NUMBER:http.version})?|%{DATA})\" %{INT:http.response.status_code:int} "
    r"(?:-|%{INT:http.response.body.bytes:int})",
    "COMBINEDAPACHELOG": r"%{COMMONAPACHELOG} \"(?:-|%{DATA:http.request.referrer})\" "
    r"\"(?:-|%{DATA:user_agent.original})\"",
}
_REF = re.compile(r"%\{(\w+)(?::([\w.@\-]+))?(?::(int|float))?\}")


class GrokError(ValueError):
    """A grok expression that cannot be compiled (one line naming the problem)."""


def compile_grok(expr: str) -> tuple[re.Pattern[str], dict[str, tuple[str, str | None]]]:
    """The regex of a grok expression, and for each of its generated group names the field it
    fills (dotted) and its conversion (``int``, ``float`` or None)."""
    captures: dict[str, tuple[str, str | None]] = {}

    def expand(text: str, depth: int) -> str:
        if depth > 20:
            raise GrokError("grok patterns nest too deeply (a pattern refers to itself?)")

        def one(m: re.Match[str]) -> str:
            name, field, conv = m.group(1), m.group(2), m.group(3)
            body = PATTERNS.get(name)
            if body is None:
                raise GrokError(f"unknown grok pattern %{{{name}}} (known: {', '.join(sorted(PATTERNS))})")
            inner = expand(body, depth + 1)
            if field is None:
                return f"(?:{inner})"
            group = f"g{len(captures)}"
            captures[group] = (field, conv)
            return f"(?P<{group}>{inner})"

        return _REF.sub(one, text)

    source = expand(expr, 0)
    try:
        return re.compile(source), captures
    except re.error as e:
        raise GrokError(f"not a valid grok expression: {e}") from None
