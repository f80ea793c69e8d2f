"""The chart's ServiceMonitor, Grafana dashboard ConfigMap and PrometheusRule are what
`kube-devops observability generate-all` prints.

Compares the chart rendered with the observability switches on (release and namespace
kube-devops) with the generator's output, object by object: the ServiceMonitor's and the
PrometheusRule's `spec`, the ConfigMap's `data` (the dashboard JSON, parsed) and the
labels the generator sets (the chart adds Helm's own). The metrics Service the chart
renders must carry every label the ServiceMonitor selects and the port it names.

Usage: python chart_observability_check.py RENDERED_YAML GENERATED_YAML
"""

import json
import sys

import yaml


def objects(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def fail(message):
    print(f"chart observability check: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    rendered, generated = objects(sys.argv[1]), objects(sys.argv[2])
    checked = 0
    for kind, part in (("ServiceMonitor", "spec"), ("PrometheusRule", "spec"), ("ConfigMap", "data")):
        want = by_kind(generated, kind)
        got = [o for o in by_kind(rendered, kind) if kind != "ConfigMap" or "grafana_dashboard" in o["metadata"].get("labels", {})]
        if len(want) != 1 or len(got) != 1:
            fail(f"{kind}: {len(got)} rendered, {len(want)} generated; expected one each")
        w, g = want[0][part], got[0][part]
        if kind == "ConfigMap":
            w = {k: json.loads(v) for k, v in w.items()}
            g = {k: json.loads(v) for k, v in g.items()}
        if w != g:
            fail(f"{kind} {part} differs from `observability generate-all`")
        missing = {k: v for k, v in want[0]["metadata"]["labels"].items() if got[0]["metadata"]["labels"].get(k) != v}
        if missing:
            fail(f"{kind} lacks the generator's labels {missing}")
        checked += 1
    monitor = by_kind(rendered, "ServiceMonitor")[0]["spec"]
    selected = [
        s for s in by_kind(rendered, "Service")
        if all(s["metadata"].get("labels", {}).get(k) == v for k, v in monitor["selector"]["matchLabels"].items())
    ]
    if len(selected) != 1:
        fail(f"the ServiceMonitor selects {len(selected)} rendered Services, expected the metrics Service")
    ports = {p.get("name") for p in selected[0]["spec"]["ports"]}
    for endpoint in monitor["endpoints"]:
        if endpoint["port"] not in ports:
            fail(f"the ServiceMonitor scrapes port {endpoint['port']!r}, the Service has {sorted(ports)}")
    print(f"chart observability check: {checked} objects equal the generator's; the ServiceMonitor selects {selected[0]['metadata']['name']}")


if __name__ == "__main__":
    main()
