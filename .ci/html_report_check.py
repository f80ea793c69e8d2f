#!/usr/bin/env python3
"""Checks the HTML report in headless Chromium (Debian's, through Playwright).

In: the report of the examples, the JSON report of the same input, a report of hostile
names, axe-core's axe.min.js and a directory for screenshots. Out: exit status 0 when, in
the light and the dark theme, the page requests nothing but itself, its numbers equal the
JSON report's, axe-core finds no serious or critical violation, and the hostile report runs
no script and shows the hostile names as text; screenshots of both themes are written.
"""

import argparse
import json
import pathlib
import sys

from playwright.sync_api import sync_playwright

from browser_checks import axe_violations, launch

READ_PAGE = """() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const metric = (m) => text(document.querySelector(`[data-metric="${m}"]`));
  const field = (row, f) => text(row.querySelector(`[data-field="${f}"]`));
  const workloads = [...document.querySelectorAll('details.workload')];
  return {
    clusterScore: metric('cluster-score'),
    clusterStatus: metric('cluster-status'),
    workloads: metric('workloads'),
    findings: metric('findings'),
    exempted: metric('exempted'),
    severities: Object.fromEntries(['low', 'medium', 'high', 'critical'].map(s => [s, metric('severity-' + s)])),
    namespaces: [...document.querySelectorAll('tr[data-namespace-row]')].map(r => ({
      name: field(r, 'name'), score: field(r, 'score'),
      workloads: field(r, 'workloads'), findings: field(r, 'findings')})),
    checks: Object.fromEntries([...document.querySelectorAll('tr[data-check]')].map(
      r => [r.dataset.check, field(r, 'findings')])),
    workloadCount: workloads.length,
    countedSum: workloads.reduce((n, w) => n + Number(w.dataset.counted), 0),
    exemptSum: workloads.reduce((n, w) => n + Number(w.dataset.exempt), 0),
    exemptRows: document.querySelectorAll('tr[data-exempt-row]').length,
    findingRows: document.querySelectorAll('details.workload tbody tr').length,
    scripts: document.scripts.length,
  };
}"""


def expected(report):
    sev = report["severities"]
    return {
        "clusterScore": f"{report['clusterScore']:.1f}",
        "clusterStatus": report["clusterStatus"],
        "workloads": str(report["workloadsAnalyzed"]),
        "findings": str(report["totalFindings"]),
        "exempted": str(report["exempted"]),
        "severities": {s: str(sev.get(s, 0)) for s in ["low", "medium", "high", "critical"]},
        "namespaces": [
            {"name": n["name"], "score": f"{n['score']:.1f}",
             "workloads": str(n["workloads"]), "findings": str(n["findings"])}
            for n in report["namespaces"]
        ],
        "checks": {c["id"]: str(report["counts"].get(c["id"], 0)) for c in report["policy"]},
        "workloadCount": len(report["workloads"]),
        "countedSum": report["totalFindings"],
        "exemptSum": report["exempted"],
        "exemptRows": report["exempted"],
        "findingRows": sum(len(w["findings"]) for w in report["workloads"]),
        "scripts": 0,
    }


def open_page(browser, path, scheme, problems):
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900},
                                  bypass_csp=False)
    page = context.new_page()
    url = path.resolve().as_uri()
    page.on("request", lambda r: r.url != url and problems.append(f"{scheme}: page requested {r.url}"))
    page.on("pageerror", lambda e: problems.append(f"{scheme}: page error {e}"))
    page.goto(url)
    return context, page


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True, type=pathlib.Path)
    ap.add_argument("--json", required=True, type=pathlib.Path)
    ap.add_argument("--hostile", required=True, type=pathlib.Path)
    ap.add_argument("--axe", required=True, type=pathlib.Path)
    ap.add_argument("--artifacts", required=True, type=pathlib.Path)
    args = ap.parse_args()
    want = expected(json.loads(args.json.read_text()))
    axe_source = args.axe.read_text()
    problems = []

    with sync_playwright() as p:
        browser = launch(p)
        for scheme in ["light", "dark"]:
            context, page = open_page(browser, args.report, scheme, problems)
            got = page.evaluate(READ_PAGE)
            before = len(problems)
            for key, value in want.items():
                if got[key] != value:
                    problems.append(f"{scheme}: {key}: page shows {got[key]!r}, JSON says {value!r}")
            shot = args.artifacts / f"html-report-{scheme}.png"
            page.screenshot(path=str(shot), full_page=True)
            violations = axe_violations(page, axe_source)
            for v in violations:
                line = f"{scheme}: axe {v['impact']} {v['id']}: {v['help']} at {v['nodes']}"
                print(line)
                if v["impact"] in ("serious", "critical"):
                    problems.append(line)
            verdict = "numbers equal the JSON report" if len(problems) == before else "PROBLEMS"
            print(f"{scheme}: {verdict}, {len(violations)} axe findings, screenshot {shot}")
            context.close()

        context, page = open_page(browser, args.hostile, "light", problems)
        state = page.evaluate("""() => ({pwned: window.pwned === undefined ? null : window.pwned,
            scripts: document.scripts.length, images: document.images.length,
            text: document.body.textContent})""")
        if state["pwned"] is not None or state["scripts"] or state["images"]:
            problems.append(f"hostile report ran or built markup: {state['pwned']!r}, "
                            f"{state['scripts']} scripts, {state['images']} images")
        for name in ["<script>window.pwned=1</script>", "evil<img src=x onerror=window.pwned=2>"]:
            if name not in state["text"]:
                problems.append(f"hostile report does not show {name!r} as text")
        print("hostile names: shown as text, no script ran")
        context.close()
        browser.close()

    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print("HTML report: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
