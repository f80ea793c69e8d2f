#!/usr/bin/env bash
# Scrapes a populated /metrics from a real controller and checks it with Prometheus's own
# promtool: the test API server is seeded with the examples, `kube-devops run` watches it,
# and every exposition-format or naming complaint fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
fi
command -v promtool >/dev/null || { echo "promtool is not installed" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port=18480
source .ci/controller.sh
start_controller "$work" "$port" 18443 ci-metrics
# One review through the webhook so its series are populated too.
curl -fsS --cacert "$work/certs/ca.crt" -H 'Content-Type: application/json' \
  --data '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"ci","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","operation":"CREATE","userInfo":{},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}' \
  https://127.0.0.1:18443/validate >/dev/null
curl -fsS "http://127.0.0.1:${port}/metrics" >"$work/metrics.txt"
grep -q '^kube_devops_namespace_health_score{' "$work/metrics.txt" || {
  echo "metrics are not populated:" >&2; head -40 "$work/metrics.txt" >&2; exit 1; }
promtool --version | head -n 1
if ! promtool check metrics <"$work/metrics.txt"; then
  echo "promtool found problems in /metrics" >&2
  exit 1
fi
echo "promtool: $(grep -c '^kube_devops_' "$work/metrics.txt") kube_devops samples, no complaints"
