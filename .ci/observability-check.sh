#!/usr/bin/env bash
# Proves the Grafana dashboard and the alert rules against a real Prometheus: the test API
# server is seeded with the examples, `kube-devops run` watches it, Prometheus (loopback
# only, a throw-away TSDB, 1 s scrapes) scrapes it with deploy/observability/rules.yaml
# loaded, and every panel query and alert expression is evaluated through Prometheus's HTTP
# API against the expectation in .ci/observability-expectations.json. Then promtool checks
# the rules and runs their unit tests (deploy/observability/rules-test.yaml).
# Debugging: HOLD=SECONDS keeps everything running that long before the queries are judged;
# KEEP_WORK=1 keeps the work directory (logs, certificates, TSDB).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in prometheus promtool; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (Debian package prometheus)" >&2; exit 1; }
done

source .ci/controller.sh
work="$(mktemp -d)"
pids=()
trap 'stop_controller "$work"' EXIT

promtool check rules deploy/observability/rules.yaml
promtool test rules deploy/observability/rules-test.yaml

ops=18580
webhook=18543
prom=18590
start_controller "$work" "$ops" "$webhook" ci-observability

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - ${PWD}/deploy/observability/rules.yaml
scrape_configs:
  - job_name: kube-devops
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:${ops}']
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:${prom}" --log.level=warn >"$work/prom.out" 2>"$work/prom.err" &
pids+=($!)
wait_for 150 curl -fsS "http://127.0.0.1:${prom}/-/ready" ||
  { echo "prometheus is not ready" >&2; cat "$work/prom.err" >&2; exit 1; }
prometheus --version | head -n 1

# Reviews through the webhook once its policies have synced and Prometheus has scraped the
# idle series twice: one allowed and one denied, twice, so that its rates and latencies
# have data.
wait_for 150 curl -fsS --cacert "$work/certs/ca.crt" "https://127.0.0.1:${webhook}/readyz" ||
  { echo "the webhook is not ready" >&2; exit 1; }
scrapes() {
  curl -fsS "http://127.0.0.1:${prom}/api/v1/query" --data-urlencode 'query=count_over_time(up{job="kube-devops"}[1m])' |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}
scraped_twice() { [ "$(scrapes)" -ge 2 ]; }
wait_for 150 scraped_twice
review() {
  curl -fsS --cacert "$work/certs/ca.crt" -H 'Content-Type: application/json' \
    --data "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"$1\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},\"namespace\":\"production\",\"operation\":\"CREATE\",\"userInfo\":{},\"object\":$2}}" \
    "https://127.0.0.1:${webhook}/validate"
}
for round in 1 2; do
  review allowed '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"ok"},"spec":{"containers":[{"name":"c","image":"nginx:1.27.0","readinessProbe":{"httpGet":{"path":"/","port":80}},"livenessProbe":{"httpGet":{"path":"/","port":80}},"resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"200m","memory":"128Mi"}},"securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]}}}],"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}}}' >"$work/allowed.json"
  review denied '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},"spec":{"containers":[{"name":"c","image":"nginx:latest"}]}}' >"$work/denied.json"
  [ "$round" = 2 ] || sleep 2
done
grep -q '"allowed":true' "$work/allowed.json" || { echo "the compliant pod was not allowed: $(cat "$work/allowed.json")" >&2; exit 1; }
grep -q '"allowed":false' "$work/denied.json" || { echo "the :latest pod was not denied: $(cat "$work/denied.json")" >&2; exit 1; }

[ -z "${HOLD:-}" ] || { echo "holding: prometheus http://127.0.0.1:${prom} ops ${ops}"; sleep "${HOLD}"; }
python3 .ci/observability_queries.py --prometheus "http://127.0.0.1:${prom}" \
  --dashboard deploy/observability/dashboard.json \
  --expectations .ci/observability-expectations.json
