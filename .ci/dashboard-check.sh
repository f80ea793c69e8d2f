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

command -v chromium >/dev/null || { echo "chromium is not installed (Debian package chromium)" >&2; exit 1; }
tools="${PWD}/target/ci-tools"
venv="${tools}/browser-venv"
axe_dir="${tools}/axe"
if [ ! -x "${venv}/bin/python" ]; then
  python3 -m venv "${venv}"
fi
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "${venv}/bin/pip" install --quiet --disable-pip-version-check "playwright==1.65.2"
if [ ! -f "${axe_dir}/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "${axe_dir}"
  (cd "${axe_dir}" && npm install --silent --no-audit --no-fund --no-save axe-core@4.14.1)
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"; [ -z "${KEEP_WORK:-}" ] || echo "kept $work"
}
trap cleanup EXIT
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
source .ci/controller.sh
start_controller "$work" "$ops" "$webhook" ci-dashboard --dashboard-base-path "$base"

[ -z "${HOLD:-}" ] || { echo "holding: dashboard http://127.0.0.1:${ops}${base}/"; sleep "${HOLD}"; }
"${venv}/bin/python" .ci/dashboard_check.py \
  --origin "http://127.0.0.1:${ops}" --base "$base" --kubeconfig "$work/kc.yaml" \
  --axe "${axe_dir}/node_modules/axe-core/axe.min.js" --artifacts "${artifacts}"
