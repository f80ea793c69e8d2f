#!/usr/bin/env python3
"""Evaluates every Grafana panel query and every loaded alert expression through a live
Prometheus's HTTP API (/api/v1/query) and compares each answer with its expectation.

In: the Prometheus URL, the dashboard JSON, and the expectations file, which maps each
query id (``panel:<title>/<refId>``, ``alert:<name>``) to ``data`` (a vector with a number
in it), ``nan`` (a vector of NaN only: a quantile of a histogram that has observed nothing)
or ``empty`` (a valid empty vector). Out: a line per query, and exit status 1 when a query
fails, answers other than expected, or has no expectation (or an expectation names a
query that no longer exists). Alert expressions are read from Prometheus's own
/api/v1/rules, so they are the rules Prometheus actually loaded; their evaluation health
must be ``ok``.
"""

import argparse
import json
import math
import sys
import time
import urllib.parse
import urllib.request

# Rates need two scrapes and the first score needs the initial sync: how long to wait for
# the queries expected to hold data before judging.
SETTLE_SECONDS = 40


def get(base, path, **params):
    url = f"{base}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body}")
    return body["data"]


def panel_queries(dashboard):
    out = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out[f"panel:{panel['title']}/{target['refId']}"] = target["expr"]
    return out


def alert_rules(base):
    rules = {}
    for group in get(base, "/api/v1/rules")["groups"]:
        for rule in group["rules"]:
            if rule["type"] == "alerting":
                rules[f"alert:{rule['name']}"] = rule
    return rules


def evaluate(base, expr):
    """("data"|"nan"|"empty", None) for a vector answer, (None, error) otherwise."""
    try:
        data = get(base, "/api/v1/query", query=expr)
    except Exception as e:  # noqa: BLE001 - any failure is reported per query
        return None, str(e)
    if data["resultType"] != "vector":
        return None, f"answer is a {data['resultType']}, not a vector"
    evaluate.last = data["result"]
    if not data["result"]:
        return "empty", None
    if all(math.isnan(float(r["value"][1])) for r in data["result"]):
        return "nan", None
    return "data", None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--expectations", required=True)
    args = ap.parse_args()
    with open(args.dashboard) as f:
        queries = panel_queries(json.load(f))
    with open(args.expectations) as f:
        expected = json.load(f)

    deadline = time.monotonic() + SETTLE_SECONDS
    scraped = 'count_over_time(up{job="kube-devops"}[1m]) >= 3 and up{job="kube-devops"} == 1'
    while evaluate(args.prometheus, scraped)[0] != "data":
        if time.monotonic() > deadline:
            print("Prometheus has not scraped kube-devops three times", file=sys.stderr)
            return 1
        time.sleep(0.5)
    while True:
        rules = alert_rules(args.prometheus)
        all_queries = dict(queries, **{k: r["query"] for k, r in rules.items()})
        waiting = [
            k for k, e in all_queries.items()
            if expected.get(k) == "data" and evaluate(args.prometheus, e)[0] != "data"
        ]
        evaluated = all(r.get("lastEvaluation", "").startswith("2") for r in rules.values())
        if (not waiting and evaluated) or time.monotonic() > deadline:
            break
        time.sleep(1)

    problems = []
    for key in sorted(set(expected) - set(all_queries)):
        problems.append(f"{key}: expectation for a query that does not exist")
    for key, expr in sorted(all_queries.items()):
        got, error = evaluate(args.prometheus, expr)
        want = expected.get(key)
        if error:
            problems.append(f"{key}: {error}\n    {expr}")
        elif want is None:
            problems.append(f"{key}: no expectation (answer was {got})\n    {expr}")
        elif got != want:
            problems.append(f"{key}: expected {want}, got {got}\n    {expr}")
        sample = ""
        if got == "data":
            first = evaluate.last[0]
            sample = f"  ({len(evaluate.last)} series, e.g. {first['metric']} = {first['value'][1]})"
        print(f"{got or 'ERROR':5} {key}{sample}")
    for key, rule in sorted(rules.items()):
        if rule.get("health") != "ok":
            problems.append(f"{key}: rule health {rule.get('health')}: {rule.get('lastError')}")

    states = {s: sum(1 for k in all_queries if expected.get(k) == s) for s in ("data", "nan", "empty")}
    print(f"{len(all_queries)} queries ({len(queries)} panel, {len(rules)} alert) expected: "
          + ", ".join(f"{n} {s}" for s, n in states.items()))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print("every query answered as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
