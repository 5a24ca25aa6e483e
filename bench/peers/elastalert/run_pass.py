"""Run every ElastAlert2 rule over one fixed window, the way ``elastalert --start S --end E`` does, timed.

Runs INSIDE the ElastAlert2 venv (bench/out/elastalert-venv), never in logwarden's .venv.
``elastalert --start --end`` drives the same ``handle_rule_execution`` from an APScheduler job and
exits when the end time is in the past, possibly before the jobs ran; calling it directly runs the
identical per-rule code path (query, rule type, alert, writeback of ``elastalert_status``) once per
rule, in order, with nothing else in between, so each rule's time is its own.

    python run_pass.py CONFIG START END PASSES   ->  one JSON object on stdout

Per pass and rule: wall seconds around ``handle_rule_execution``, ElastAlert's own ``time_taken``
(from the status doc it writes back), query hits, and the query_key values it alerted on. Pass 1 pays
for the client's first connection; later passes re-create each rule's type object so they start
from the same clean state (no "already seen" hits, no realert silence).
"""

import json
import logging
import sys
import time
from typing import Any

from elastalert.elastalert import ElastAlerter
from elastalert.util import lookup_es_key, ts_to_dt


def main() -> None:
    config, start, end, passes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    logging.getLogger("elasticsearch").setLevel(logging.WARNING)
    ea = ElastAlerter(["--config", config, "--verbose", "--start", start, "--end", end])
    alerts: list[tuple[str, str]] = []
    errors: list[str] = []
    status: dict[str, float] = {}

    real_alert = ea.alert

    def alert(matches: Any, rule: Any, *args: Any, **kwargs: Any) -> Any:
        for m in matches:
            alerts.append((rule["name"], str(lookup_es_key(m, rule.get("query_key") or ""))))
        return real_alert(matches, rule, *args, **kwargs)

    real_writeback = ea.writeback

    def writeback(doc_type: str, body: Any, *args: Any, **kwargs: Any) -> Any:
        if doc_type == "elastalert_status" and "time_taken" in body:
            status[body["rule_name"]] = float(body["time_taken"])
        return real_writeback(doc_type, body, *args, **kwargs)

    real_error = ea.handle_error

    def handle_error(message: Any, data: Any = None) -> Any:
        errors.append(str(message))
        return real_error(message, data)

    real_uncaught = ea.handle_uncaught_exception

    def handle_uncaught(exception: BaseException, rule: Any) -> Any:
        errors.append(f"{rule.get('name')}: {type(exception).__name__}: {exception}")
        return real_uncaught(exception, rule)

    ea.alert = alert
    ea.writeback = writeback
    ea.handle_error = handle_error
    ea.handle_uncaught_exception = handle_uncaught

    out: list[dict[str, dict[str, object]]] = []
    for n in range(passes):
        one: dict[str, dict[str, object]] = {}
        for rule in list(ea.rules):
            if n:
                rule["type"] = type(rule["type"])(rule, None)
                rule["processed_hits"] = {}
            rule["initial_starttime"] = ts_to_dt(start)
            alerts.clear()
            status.pop(rule["name"], None)
            t0 = time.perf_counter()
            ea.handle_rule_execution(rule)
            wall = time.perf_counter() - t0
            one[rule["name"]] = {
                "wall": wall,
                "time_taken": status.get(rule["name"]),
                "hits": ea.thread_data.cumulative_hits,
                "alerted": sorted({qk for name, qk in alerts if name == rule["name"]}),
            }
        out.append(one)
    print(json.dumps({"passes": out, "errors": errors, "disabled": [r["name"] for r in ea.disabled_rules]}))


if __name__ == "__main__":
    main()
