#!/usr/bin/env bash
# Opens the HTML report (`analyze -o html`) in a real browser: Debian's chromium, driven by
# Playwright for Python (PyPI; no browser is downloaded), with axe-core (npm) injected.
# The numbers on the page must equal `analyze -o json` of the same input, axe-core must
# report no serious or critical violation in the light and the dark theme, a report of
# hostile names must run no script, and screenshots are kept under target/ci-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v chromium >/dev/null || { echo "chromium is not installed (Debian package chromium)" >&2; exit 1; }
tools="${PWD}/target/ci-tools"
venv="${tools}/browser-venv"
axe_dir="${tools}/axe"
if [ ! -x "${venv}/bin/python" ]; then
  python3 -m venv "${venv}"
fi
# The Python package only: its browsers are never downloaded (chromium comes from Debian).
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "${venv}/bin/pip" install --quiet --disable-pip-version-check "playwright==1.65.2"
if [ ! -f "${axe_dir}/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "${axe_dir}"
  (cd "${axe_dir}" && npm install --silent --no-audit --no-fund --no-save axe-core@4.14.1)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
artifacts="${PWD}/target/ci-artifacts"
mkdir -p "${artifacts}"

cargo build -q -p kube-devops-actors --bin kube-devops
now=2026-06-01T00:00:00Z
# analyze exits 0 here (no --fail-on); any other status is a failure.
target/debug/kube-devops analyze --path deploy/examples --now "$now" -o html >"${artifacts}/report.html"
target/debug/kube-devops analyze --path deploy/examples --now "$now" -o json >"$work/report.json"

mkdir -p "$work/hostile"
cat >"$work/hostile/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: "<script>window.pwned=1</script>"
  namespace: "evil<img src=x onerror=window.pwned=2>"
spec:
  containers:
  - name: "c<b>"
    image: "nginx:latest\"><script>window.pwned=3</script>"
YAML
target/debug/kube-devops analyze --path "$work/hostile" --now "$now" -o html >"$work/hostile.html"

"${venv}/bin/python" .ci/html_report_check.py \
  --report "${artifacts}/report.html" --json "$work/report.json" \
  --hostile "$work/hostile.html" \
  --axe "${axe_dir}/node_modules/axe-core/axe.min.js" --artifacts "${artifacts}"
