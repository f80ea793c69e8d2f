# Sourced by the CI checks that open pages in a browser. Installs (once, under
# target/ci-tools) Playwright for Python from PyPI, without its browsers (Debian's chromium
# is used), and axe-core from npm; sets `browser_python` (the venv's interpreter) and
# `axe_js` (axe.min.js).
command -v chromium >/dev/null || { echo "chromium is not installed (Debian package chromium)" >&2; exit 1; }
browser_tools="${PWD}/target/ci-tools"
browser_venv="${browser_tools}/browser-venv"
browser_axe="${browser_tools}/axe"
if [ ! -x "${browser_venv}/bin/python" ]; then
  python3 -m venv "${browser_venv}"
fi
# The Python package only: its browsers are never downloaded (chromium comes from Debian).
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "${browser_venv}/bin/pip" install --quiet --disable-pip-version-check "playwright==1.65.2"
if [ ! -f "${browser_axe}/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "${browser_axe}"
  (cd "${browser_axe}" && npm install --silent --no-audit --no-fund --no-save axe-core@4.14.1)
fi
browser_python="${browser_venv}/bin/python"
axe_js="${browser_axe}/node_modules/axe-core/axe.min.js"
