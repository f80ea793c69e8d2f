#!/usr/bin/env bash
# Opens the HTML report (`analyze -o html`) in a real browser: Debian's chromium, driven by
# Playwright for Python (PyPI; no browser is downloaded), with axe-core (npm) injected.
# The numbers on the page must equal `analyze -o json` of the same input, axe-core must
# report no serious or critical violation in the light and the dark theme, a report of
# hostile names must run no script, and screenshots are kept under target/ci-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

source .ci/browser.sh

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

"${browser_python}" .ci/html_report_check.py \
  --report "${artifacts}/report.html" --json "$work/report.json" \
  --hostile "$work/hostile.html" \
  --axe "${axe_js}" --artifacts "${artifacts}"
