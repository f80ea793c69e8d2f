#!/usr/bin/env bash
# Opens the web dashboard in a real browser: Debian's chromium, driven by Playwright for
# Python (PyPI; no browser is downloaded), with axe-core (npm) injected, the same tools as
# .ci/html-report-check.sh. The test API server is seeded with the examples (and one pod
# with an exemption), `kube-devops run` serves the dashboard under a base path, and
# .ci/dashboard_check.py checks every view against the JSON API and /api/v1/scores, a
# filter, a deep link, a pod created while the page is open appearing without a reload,
# axe-core in the light and the dark theme, and keeps screenshots under
# target/ci-artifacts/.
# Debugging: HOLD=SECONDS keeps everything running that long before the browser checks;
# KEEP_WORK=1 keeps the work directory (logs, certificates).
set -euo pipefail
cd "$(dirname "$0")/.."

source .ci/browser.sh
source .ci/controller.sh

work="$(mktemp -d)"
pids=()
trap 'stop_controller "$work"' EXIT
artifacts="${PWD}/target/ci-artifacts"
mkdir -p "${artifacts}" "$work/seed"

# A pod whose :latest finding is exempt until a fixed date: the namespace view must show it
# as exempt, with the reason and the expiry.
cat >"$work/seed/exempt-pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: legacy-reporter
  namespace: staging
  annotations:
    devops.stochastic.io/ignore: latestTag
    devops.stochastic.io/ignore-reason: vendor image without version tags
    devops.stochastic.io/ignore-until: "2099-12-31"
spec:
  containers:
  - name: reporter
    image: vendor/reporter:latest
YAML

ops=18780
webhook=18743
base=/kube-devops
start_controller "$work" "$ops" "$webhook" ci-dashboard --dashboard-base-path "$base"

[ -z "${HOLD:-}" ] || { echo "holding: dashboard http://127.0.0.1:${ops}${base}/"; sleep "${HOLD}"; }
"${browser_python}" .ci/dashboard_check.py \
  --origin "http://127.0.0.1:${ops}" --base "$base" --kubeconfig "$work/kc.yaml" \
  --axe "${axe_js}" --artifacts "${artifacts}"
