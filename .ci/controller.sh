# Sourced by the CI checks that need a running controller. Defines:
#   wait_for TRIES CMD...   runs CMD every 0.2 s until it succeeds, at most TRIES times;
#                           returns CMD's last status.
#   start_controller WORK OPS_PORT WEBHOOK_PORT IDENTITY [RUN_FLAGS...]
#                           builds the binaries, starts the test API server seeded with the
#                           CRDs, the controller's namespace, WORK/seed (the caller may add
#                           objects there first) and deploy/examples, generates a
#                           serving certificate (WORK/certs) and starts `kube-devops run`
#                           (ops and webhook on loopback), and waits until it is ready. The
#                           process ids are appended to the caller's `pids` array.
#   stop_controller WORK    stops every process of the caller's `pids` array and removes
#                           WORK (kept, and named, when KEEP_WORK is set): an EXIT trap.

wait_for() {
  local tries="$1"
  shift
  for _ in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  "$@" >/dev/null
}

start_controller() {
  local work="$1" ops="$2" webhook="$3" identity="$4"
  shift 4
  cargo build -q -p kube-apiserver-test --bin kube-apiserver-test
  cargo build -q -p kube-devops-actors --bin kube-devops
  mkdir -p "$work/seed"
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-devops\n' >"$work/seed/namespace.yaml"
  target/debug/kube-apiserver-test --port 0 --seed deploy/crds --seed "$work/seed" --seed deploy/examples \
    --kubeconfig-out "$work/kc.yaml" >"$work/server.out" 2>"$work/server.err" &
  pids+=($!)
  wait_for 100 test -s "$work/kc.yaml"
  target/debug/kube-devops webhook cert-generate --out-dir "$work/certs" --ip-san 127.0.0.1 >/dev/null
  target/debug/kube-devops --kubeconfig "$work/kc.yaml" run --http-addr "127.0.0.1:${ops}" \
    --webhook-addr "127.0.0.1:${webhook}" --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" \
    --namespace kube-devops --identity "$identity" "$@" >"$work/run.out" 2>"$work/run.err" &
  pids+=($!)
  wait_for 150 curl -fsS "http://127.0.0.1:${ops}/readyz" ||
    { echo "kube-devops run is not ready" >&2; cat "$work/run.err" >&2; return 1; }
}

stop_controller() {
  local work="$1"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
