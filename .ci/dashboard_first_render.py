#!/usr/bin/env python3
"""Times the web dashboard's first render in headless Chromium (a benchmark, not a check).

In: the dashboard's URL (e.g. the one `cargo run --release -p kube-devops-actors --example
dashboard_load -- --hold 120` prints) and a number of runs. Out: per view, the time from
navigation start until the view is drawn (the page marks its main element with the view's
name when it is), in a fresh browser context each run (nothing cached), and the bytes the
page transferred; the median and the worst run.

    target/ci-tools/browser-venv/bin/python .ci/dashboard_first_render.py URL [--runs 10]
"""

import argparse
import statistics
import time

from playwright.sync_api import sync_playwright

from browser_checks import launch

MARK_RENDER = """
new MutationObserver((_, obs) => {
  const main = document.getElementById('content');
  if (main && main.dataset.view && main.dataset.view !== 'error' && !window.__rendered) {
    window.__rendered = performance.now();
    obs.disconnect();
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-view']});
"""

TRANSFERRED = """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
  .filter(e => !e.name.includes('/api/v1/events'))
  .reduce((n, e) => n + (e.encodedBodySize || 0), 0)"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with sync_playwright() as p:
        browser = launch(p)
        for view in ["overview", "namespaces", "namespace/team-007", "checks"]:
            times, sizes = [], []
            for _ in range(args.runs):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.add_init_script(MARK_RENDER)
                page.goto(args.url.rstrip("/") + "/#/" + view)
                # Polled with evaluate: the page's CSP refuses wait_for_function's eval.
                rendered = None
                for _ in range(3000):
                    rendered = page.evaluate("window.__rendered")
                    if rendered is not None:
                        break
                    time.sleep(0.01)
                if rendered is None:
                    raise SystemExit(f"{view}: not rendered within 30 s")
                times.append(rendered)
                page.wait_for_load_state("networkidle")
                sizes.append(page.evaluate(TRANSFERRED))
                context.close()
            print(f"{view}: first render median {statistics.median(times):.0f} ms, "
                  f"worst {max(times):.0f} ms over {args.runs} runs; "
                  f"{max(sizes) / 1024:.1f} KiB transferred")
        browser.close()


if __name__ == "__main__":
    main()
