#!/usr/bin/env bash
# Runs python_client.py (the official Kubernetes Python client) against the test API
# server binary: installs the client into a virtualenv in DIR, starts the server, runs
# the script, stops the server. Exits with the script's status.
#   usage: python-client.sh DIR SERVER_BINARY
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 DIR SERVER_BINARY" >&2
    exit 2
fi
dir="$1"
server_binary="$2"
here="$(cd "$(dirname "$0")" && pwd)"

if [ ! -x "$dir/bin/python" ]; then
    python3 -m venv "$dir" >&2
fi
"$dir/bin/pip" install --quiet --disable-pip-version-check kubernetes >&2

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$server_binary" --kubeconfig-out "$work/kubeconfig" > "$work/url" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
    if [ -s "$work/url" ]; then
        break
    fi
    sleep 0.1
done
if [ ! -s "$work/url" ]; then
    echo "the test API server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
echo "test API server at $(head -n 1 "$work/url")" >&2
"$dir/bin/python" "$here/python_client.py" "$work/kubeconfig"
