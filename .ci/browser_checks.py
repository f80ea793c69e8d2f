"""What the browser checks share: launching Debian's chromium through Playwright, and
running axe-core in a page.

In: a Playwright instance, a page and axe-core's source. Out: a headless browser, and the
page's axe violations (id, impact, help, the first nodes).
"""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright):
    """Debian's chromium, headless."""
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)


def axe_violations(page, axe_source):
    """axe-core's violations on the page as it is now."""
    # The pages' Content-Security-Policy forbids foreign scripts, so axe is evaluated as a
    # function in the page rather than added as a <script> element.
    page.evaluate(axe_source + "\n;window.__axe = axe;")
    return page.evaluate("""async () => {
      const r = await window.__axe.run(document, {resultTypes: ['violations']});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
