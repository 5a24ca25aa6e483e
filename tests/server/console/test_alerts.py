"""The console's Alerts pages over a real server: rules with their state, a rule's page, silences,
the notification log, and what each refuses (bad filters and forms, POSTs without CSRF or session)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from alerter.notify.state import FailureRecord, MessageRecord, Silence
from alerter.notify.state.sqlite import SqliteNotifyState
from tests.alerter.notify.receivers import WebhookReceiver
from tests.server.console.alerting import alerting_home, evaluate, fixture_docs, now_utc, ship
from tests.server.console.client import Client, Page
from tests.server.harness import Running, serve, server_config

TOKEN = "console-token-0123456789"


@dataclass
class Alerting:
    srv: Running
    now: datetime
    home: Path


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alerting]:
    """A tokenless server whose rule web-errors fires on web1 (the engine ran once against it)."""
    home = tmp_path_factory.mktemp("alerting")
    config = alerting_home(home)
    (home / "rules" / "broken.yaml").write_text("name: broken\nquery: x\ncondition: {count: {gt: nope}}\n")
    with serve(config) as srv:
        now = now_utc()
        ship(srv.url, fixture_docs(now))
        evaluate(srv.url, config, now)
        yield Alerting(srv, now, home)


def _rows(page: Page) -> list[tuple[str, str, str]]:
    """(rule, state, group) of each row of the alerts table."""
    rows = re.findall(
        r'<tr class="alert-row" data-state="([^"]+)" data-rule="([^"]+)">(.*?)</tr>', page.text, re.S
    )
    out = []
    for state, rule, cells in rows:
        group = re.search(r'data-label="group" class="mono">([^<]*)<', cells)
        out.append((rule, state, group.group(1) if group else ""))
    return out


def _text(page: Page) -> str:
    """The page's text without tags (entities as the template escaped them)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def test_the_alerts_page_lists_every_rule_with_state_value_threshold_and_times(alerting: Alerting) -> None:
    """Each rule is a row: the firing group with its value against the threshold, the quiet rule ok,
    with last and next evaluation; a rule file that does not load is named on the page."""
    page = Client(alerting.srv.url).get("/ui/alerts")
    assert page.status == 200
    assert _rows(page) == [("web-errors", "firing", "host.name=web1"), ("quiet", "ok", "-")]
    firing = re.search(r'data-rule="web-errors">(.*?)</tr>', page.text, re.S)
    assert firing is not None
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", firing.group(1)))
    assert " 5 " in cells and "&gt; 2" in cells and "critical" in cells
    times = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", cells)
    assert len(times) == 2 and times[0] < times[1]  # last evaluation, then the next one
    assert "broken.yaml" in page.text and "condition.count.gt" in page.text
    assert 'href="/ui/silences?rule=web-errors&amp;match=host.name%3Dweb1#new"' in page.text


@pytest.mark.parametrize(
    ("query", "rules"),
    [
        ("state=firing", ["web-errors"]),
        ("state=ok", ["quiet"]),
        ("state=pending", []),
        ("severity=info", ["quiet"]),
        ("label=team%3Dweb", ["web-errors"]),
        ("label=host.name%3Dweb1", ["web-errors"]),
        ("state=firing&severity=info", []),
    ],
)
def test_the_alerts_page_filters_by_state_severity_and_label(
    alerting: Alerting, query: str, rules: list[str]
) -> None:
    """state, severity and label (KEY=VALUE on labels or group fields) narrow the rows; none left says so."""
    page = Client(alerting.srv.url).get(f"/ui/alerts?{query}")
    assert page.status == 200
    assert [r for r, _, _ in _rows(page)] == rules
    assert ('id="no-match"' in page.text) == (not rules)


@pytest.mark.parametrize(
    ("query", "says"),
    [("state=burning", "state: expected one of firing"), ("label=team", "label: expected KEY=VALUE")],
)
def test_a_bad_filter_is_a_400_naming_it(alerting: Alerting, query: str, says: str) -> None:
    """A filter the page cannot apply is one line naming the parameter, not an empty table."""
    page = Client(alerting.srv.url).get(f"/ui/alerts?{query}")
    assert page.status == 400 and says in page.text and "Traceback" not in page.text


def test_without_alerter_rules_the_alerts_page_says_so(tmp_path: Path) -> None:
    """A server config with no alerter.rules: the page says so instead of showing an empty list."""
    with serve(server_config(tmp_path)) as srv:
        page = Client(srv.url).get("/ui/alerts")
    assert page.status == 200 and 'id="no-rules"' in page.text
    assert "sets no alerter.rules" in page.text and "server.yaml" in page.text


def test_the_rule_page_shows_chart_transitions_evidence_and_a_logs_link(alerting: Alerting) -> None:
    """web-errors' page: the 24 h line chart with its threshold line, the ok -> firing transition,
    the latest evaluation's sample lines and top values, and the Logs link that shows those lines."""
    page = Client(alerting.srv.url).get("/ui/alerts/web-errors")
    assert page.status == 200
    assert '<svg class="line-chart"' in page.text and 'class="threshold"' in page.text
    assert '<polyline class="value"' in page.text or '<circle class="value"' in page.text
    transitions = page.text[page.text.index('id="transitions"') :]
    assert "host.name=web1" in transitions and re.search(r"ok &rarr; <span[^>]*>firing<", transitions)
    samples = re.search(r'<pre class="samples">(.*?)</pre>', page.text, re.S)
    assert samples is not None and samples.group(1).count("upstream failed") == 3
    assert "web2" not in samples.group(1)
    assert re.search(r"/checkout</td><td class=\"num\">3<", page.text)
    link = re.search(r'id="open-in-logs" href="([^"]+)"', page.text)
    assert link is not None
    url = urlsplit(link.group(1).replace("&amp;", "&"))
    params = parse_qs(url.query)
    assert url.path == "/ui/logs" and params["q"] == ['(log.level:error) AND host.name:"web1"']
    start, end = (datetime.fromisoformat(params[k][0].replace("Z", "+00:00")) for k in ("from", "to"))
    assert end - start == timedelta(hours=1) and start <= alerting.now - timedelta(minutes=10) < end
    logs = Client(alerting.srv.url).get(f"{url.path}?{url.query}")
    assert logs.status == 200 and 'id="hit-count" data-count="5"' in logs.text  # web1's five errors


def test_the_rule_page_uses_the_window_and_query_a_notification_links_to(alerting: Alerting) -> None:
    """from, to and query in the URL (a notification's link) choose the evidence shown and linked."""
    path = (
        "/ui/alerts/web-errors?fingerprint=x&query=host.name%3Aweb2"
        "&from=2020-01-01T00:00:00Z&to=2020-01-01T01:00:00Z"
    )
    page = Client(alerting.srv.url).get(path)
    assert page.status == 200 and "2020-01-01T00:00:00.000Z" in page.text
    assert "No line matches in this window" in page.text
    assert "q=host.name%3Aweb2&amp;from=2020-01-01T00%3A00%3A00.000Z" in page.text


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/ui/alerts/nope", 404, "no rule named &#39;nope&#39;"),
        ("/ui/alerts/web-errors?from=yesterday&to=now", 400, "from/to: expected ISO times"),
        (
            "/ui/alerts/web-errors?query=host.name%3A%28web1&from=2020-01-01T00:00:00Z&to=2020-01-01T01:00:00Z",
            400,
            "query: query error at column",
        ),
        ("/ui/notifications?outcome=lost", 400, "outcome: expected sent or failed"),
    ],
)
def test_a_bad_rule_or_window_or_log_filter_is_one_line(
    alerting: Alerting, path: str, status: int, says: str
) -> None:
    """An unknown rule is a 404, a bad window or log filter a 400, each naming what is wrong."""
    page = Client(alerting.srv.url).get(path)
    assert page.status == status and says in page.text


def test_a_firing_alerts_silence_link_prefills_the_form(alerting: Alerting) -> None:
    """The Silence link of web1's alert opens the form with the rule and its group as a matcher."""
    page = Client(alerting.srv.url).get("/ui/silences?rule=web-errors&match=host.name%3Dweb1")
    assert page.status == 200 and 'id="no-silences"' in page.text
    assert page.field("rule") == "web-errors"
    assert re.search(r'<textarea id="matchers" name="matchers"[^>]*>host.name=web1</textarea>', page.text)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Running]:
    """A tokenless loopback server of this test's own (silences are changed)."""
    with serve(alerting_home(tmp_path)) as srv:
        yield srv


def _add(client: Client, **fields: str) -> Page:
    form = client.get("/ui/silences")
    values = {"rule": "web-errors", "matchers": "host.name=web1", "duration": "2h", "comment": "deploy"}
    values |= {"author": "ana", "csrf": form.field("csrf"), **fields}
    return client.post("/ui/silences", values)


def test_a_silence_is_added_listed_and_expired(fresh: Running, tmp_path: Path) -> None:
    """Adding one (CSRF token from the page) stores it in the notify state; expiring ends it now."""
    client = Client(fresh.url)
    added = _add(client)
    assert added.status == 303 and "/ui/silences?created=" in added.location
    state = SqliteNotifyState(tmp_path / "server.db")
    try:
        [silence] = state.silences(now_utc())
        assert (silence.rule, silence.match_text(), silence.author, silence.comment) == (
            "web-errors",
            "host.name=web1",
            "ana",
            "deploy",
        )
        assert timedelta(minutes=119) < silence.ends_at - silence.starts_at <= timedelta(hours=2)
        listed = client.get(urlsplit(added.location).path + "?" + urlsplit(added.location).query)
        assert f'data-id="{silence.id}" data-status="active"' in listed.text and "added" in listed.text
        expired = client.post(f"/ui/silences/{silence.id}/expire", {"csrf": listed.field("csrf")})
        assert expired.status == 303 and state.silences(now_utc()) == []
        again = client.get("/ui/silences")
        assert f'data-id="{silence.id}" data-status="expired"' in again.text
        gone = client.post(f"/ui/silences/{silence.id}/expire", {"csrf": again.field("csrf")})
        assert gone.status == 404 and "no active silence" in gone.text
    finally:
        state.close()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"rule": ""}, "rule: name the rule"),
        ({"rule": "web-erors"}, "rule: no rule named &#39;web-erors&#39;"),
        ({"matchers": "host.name=web1\nhost.name=~web[1"}, "matchers, line 2:"),
        ({"matchers": "just-a-word"}, "matchers, line 1:"),
        ({"duration": "soon"}, "duration:"),
        ({"duration": "0s"}, "duration: must be longer than zero"),
        ({"comment": ""}, "comment: say why"),
        ({"author": ""}, "author: say who"),
    ],
)
def test_a_bad_silence_form_is_a_400_naming_the_field_and_keeps_the_input(
    fresh: Running, fields: dict[str, str], says: str
) -> None:
    """Each wrong field: the form again (400) with one line naming it, what was typed kept, nothing added."""
    client = Client(fresh.url)
    page = _add(client, **fields)
    assert page.status == 400 and says in page.text, _text(page)[-400:]
    assert 'id="no-silences"' in page.text
    assert page.field("duration") == fields.get("duration", "2h")


def test_a_glob_silence_is_not_checked_against_rule_names(fresh: Running) -> None:
    """A glob (here every rule) needs no existing rule of that name: it may be meant for later ones."""
    assert _add(Client(fresh.url), rule="*", matchers="").status == 303


def test_a_silence_post_without_the_csrf_token_is_refused(fresh: Running, tmp_path: Path) -> None:
    """No token, a wrong one, or another site's Origin: a 403 page saying why, and nothing added."""
    client = Client(fresh.url)
    no_token = _add(client, csrf="")
    wrong = _add(client, csrf="forged")
    elsewhere = client.post(
        "/ui/silences",
        {"rule": "web-errors", "duration": "1h", "comment": "x", "author": "y", "csrf": _csrf(client)},
        {"Origin": "https://evil.example"},
    )
    expire = client.post("/ui/silences/abc/expire", {})
    for page in (no_token, wrong, elsewhere, expire):
        assert page.status == 403 and "not" in page.text
    assert "CSRF" in no_token.text and "another site" in elsewhere.text
    state = SqliteNotifyState(tmp_path / "server.db")
    try:
        assert state.silences(now_utc(), "all") == []
    finally:
        state.close()


def _csrf(client: Client) -> str:
    return client.get("/ui/silences").field("csrf")


def test_with_tokens_silences_need_a_login_and_are_signed_by_it(tmp_path: Path) -> None:
    """Tokens configured: the page redirects to the login; a POST without a session is refused;
    logged in, the silence's author is the token's name whatever the form says."""
    server = {"auth": {"tokens": [{"name": "ops-phone", "token": TOKEN}]}}
    with serve(alerting_home(tmp_path, server)) as srv:
        client = Client(srv.url)
        assert client.get("/ui/silences").location.startswith("/ui/login?next=")
        assert client.post("/ui/silences", {"rule": "web-errors", "csrf": "x"}).status == 303  # to the login
        login = client.get("/ui/login")
        client.post("/ui/login", {"token": TOKEN, "next": "/ui/silences", "csrf": login.field("csrf")})
        form = client.get("/ui/silences")
        assert form.status == 200 and form.field("author") == "ops-phone"
        added = _add(client, author="someone-else")
        assert added.status == 303
        listed = client.get("/ui/silences")
        assert ">ops-phone<" in listed.text and "someone-else" not in listed.text


def test_the_notification_log_shows_sent_and_failed_with_the_reason(fresh: Running, tmp_path: Path) -> None:
    """Sent messages and failed deliveries (reason, attempt), newest first; filtered by outcome, channel."""
    now = now_utc()
    state = SqliteNotifyState(tmp_path / "server.db")
    try:
        state.record_message(
            MessageRecord("m1", "hook", "FIRING web-errors host.name=web1", 1, now - timedelta(minutes=5))
        )
        state.record_failure(
            FailureRecord(
                "f1",
                "pager",
                "FIRING web-errors",
                1,
                now - timedelta(minutes=1),
                "HTTP 503 from the receiver",
                3,
            )
        )
    finally:
        state.close()
    client = Client(fresh.url)
    page = client.get("/ui/notifications")
    assert page.status == 200
    rows = re.findall(r'<tr class="log-row" data-outcome="(\w+)">(.*?)</tr>', page.text, re.S)
    assert [o for o, _ in rows] == ["failed", "sent"]
    assert "HTTP 503 from the receiver (attempt 3)" in rows[0][1] and "pager" in rows[0][1]
    assert "FIRING web-errors host.name=web1" in rows[1][1] and "hook" in rows[1][1]
    failed = client.get("/ui/notifications?outcome=failed")
    assert failed.text.count('class="log-row"') == 1 and "HTTP 503" in failed.text
    by_channel = client.get("/ui/notifications?channel=hook")
    assert by_channel.text.count('class="log-row"') == 1 and 'data-outcome="sent"' in by_channel.text


def test_an_empty_notification_log_says_so(fresh: Running) -> None:
    """No message yet: a sentence naming the retention, not an empty table."""
    page = Client(fresh.url).get("/ui/notifications")
    assert page.status == 200 and 'id="no-log"' in page.text and "in the last 1w" in page.text


def test_an_active_silence_shows_its_matchers_and_time_left(fresh: Running, tmp_path: Path) -> None:
    """A silence added elsewhere (alerter silence add) is listed with its matchers, end and time left."""
    now = now_utc()
    state = SqliteNotifyState(tmp_path / "server.db")
    try:
        state.add_silence(
            Silence(
                "s1",
                "web-*",
                {"team": "web"},
                now,
                now + timedelta(hours=1, minutes=30),
                "maintenance",
                "bo",
                now,
            )
        )
    finally:
        state.close()
    page = Client(fresh.url).get("/ui/silences")
    row = re.search(r'data-id="s1" data-status="active">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert "web-*" in row.group(1) and "team=web" in row.group(1) and re.search(r">1h(29|30)m<", row.group(1))


def test_with_base_url_a_notification_links_to_the_rule_page_showing_its_lines(tmp_path: Path) -> None:
    """notify.base_url set to the console: the webhook receives a message whose link is
    {base_url}/ui/alerts/{rule}?..., and that link opens the rule's page on the alert's window and group."""
    receiver = WebhookReceiver().start()
    try:
        with serve(alerting_home(tmp_path)) as srv:
            notify = {
                "base_url": srv.url,
                "channels": [{"name": "hook", "url": f"json://{receiver.url}/hook"}],
            }
            config = alerting_home(tmp_path, notify=notify)
            now = now_utc()
            ship(srv.url, fixture_docs(now))
            evaluate(srv.url, config, now, notify=True)
            [delivery] = receiver.delivered
            message = delivery.json()["message"]
            found = re.search(r"^link: (\S+)$", message, re.M)
            assert found is not None, message
            link = urlsplit(found.group(1))
            assert f"{link.scheme}://{link.netloc}" == srv.url and link.path == "/ui/alerts/web-errors"
            params = parse_qs(link.query)
            assert params["query"] == ['(log.level:error) AND host.name:"web1"']
            page = Client(srv.url).get(f"{link.path}?{link.query}")
            log = Client(srv.url).get("/ui/notifications")
    finally:
        receiver.stop()
    assert page.status == 200 and "web-errors" in page.text
    start = params["from"][0].replace(".000Z", "")
    assert re.search(rf'Window <span class="mono">{re.escape(start)}', page.text)
    samples = re.search(r'<pre class="samples">(.*?)</pre>', page.text, re.S)
    assert samples is not None and "upstream failed" in samples.group(1) and "web2" not in samples.group(1)
    assert 'data-outcome="sent"' in log.text and "web-errors" in log.text


def test_a_tokenless_network_server_shows_silences_read_only_and_refuses_adding(tmp_path: Path) -> None:
    """insecure: true without tokens: the form says the console is read-only, its button is disabled,
    and a POST is a 403 naming server.auth.tokens."""
    with serve(alerting_home(tmp_path, {"listen": "0.0.0.0:9200", "insecure": True})) as srv:
        client = Client(srv.url)
        form = client.get("/ui/silences")
        refused = _add(client)
    assert "This console is read-only" in form.text and re.search(r'id="add-silence"\s+disabled', form.text)
    assert refused.status == 403 and "server.auth.tokens" in refused.text
