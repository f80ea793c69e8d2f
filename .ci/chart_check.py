"""Renders the Helm chart with Helm's own Go SDK (the helm-python-sdk wheel) and proves it.

For the default values and each value set below: `helm lint --strict` has no warning or
error, every rendered object passes kubernetes-validate --strict against Kubernetes 1.33,
and the rendered streams are written to OUT_DIR/<set>.yaml for the dogfood and apply steps.
The default render (CRDs included) must equal deploy/manifests/kube-devops.yaml object
for object, once Helm's own bookkeeping labels are dropped.

Usage: python chart_check.py CHART_DIR MANIFESTS OUT_DIR
"""

import copy
import json
import sys
from pathlib import Path

import kubernetes_validate
import yaml
from helm_python.chart import Chart, lint

KUBE_VERSION = "1.33.0"
RELEASE = "kube-devops"
NAMESPACE = "kube-devops"
# Labels only Helm adds; the raw manifests do not carry them.
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")
# Kinds from CRDs that are not part of Kubernetes: no schema ships for them.
NO_SCHEMA_GROUPS = ("cert-manager.io/", "monitoring.coreos.com/")

VALUE_SETS = {
    "default": {},
    "cert-manager": {"certManager": {"enabled": True}},
    "enforcement": {"enforcement": {"enabled": True}},
    "observability": {
        "serviceMonitor": {"enabled": True},
        "observability": {"grafanaDashboard": {"enabled": True}, "prometheusRule": {"enabled": True}},
    },
    "network-policy-fail-closed": {
        "networkPolicy": {"enabled": True},
        "webhook": {"failurePolicy": "Fail", "caBundle": "Y2E="},
        "excludeNamespaces": ["*-system", "vault"],
    },
    "no-webhook": {"webhook": {"enabled": False}},
}


def documents(text):
    return [d for d in yaml.safe_load_all(text) if d]


def render(chart, values, with_crds):
    rendered = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    if with_crds:
        for crd in chart.crds:
            objects.extend(documents(crd["data"]))
    for path in sorted(rendered):
        if path.endswith(".yaml"):
            objects.extend(documents(rendered[path]))
    return objects


def without_helm_labels(obj):
    obj = copy.deepcopy(obj)
    metas = [obj.get("metadata", {})]
    template = obj.get("spec", {}).get("template")
    if isinstance(template, dict):
        metas.append(template.get("metadata", {}))
    for meta in metas:
        labels = meta.get("labels", {})
        for label in HELM_LABELS:
            labels.pop(label, None)
    return obj


def key(obj):
    meta = obj.get("metadata", {})
    return (obj.get("kind"), meta.get("namespace", ""), meta.get("name"))


def validate(name, objects):
    failures = 0
    skipped = set()
    for obj in objects:
        if obj.get("apiVersion", "").startswith(NO_SCHEMA_GROUPS):
            skipped.add(obj["kind"])
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            failures += 1
            print(f"  {name}: {key(obj)} invalid: {e.message} at {list(e.path)}")
    note = f" (no schema for {', '.join(sorted(skipped))})" if skipped else ""
    print(f"  {name}: {len(objects)} objects, {failures} invalid for {KUBE_VERSION} --strict{note}")
    return failures


def main():
    chart_dir, manifests, out_dir = sys.argv[1:4]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    problems = 0
    with Chart.load(chart_dir) as chart:
        for name, values in VALUE_SETS.items():
            report = lint(chart_dir, values, strict=True, namespace=NAMESPACE,
                          kube_version=f"v{KUBE_VERSION}")
            bad = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
            for m in bad:
                print(f"  {name}: helm lint: {m}")
            problems += len(bad)
            objects = render(chart, values, with_crds=True)
            problems += validate(name, objects)
            with open(out / f"{name}.yaml", "w") as f:
                yaml.safe_dump_all(objects, f, sort_keys=False)
            if name == "default":
                helm = {key(o): without_helm_labels(o) for o in objects}
                with open(manifests) as f:
                    raw = {key(o): o for o in documents(f.read())}
                # JSON round trip: both sides compared as plain data.
                for k in sorted(set(helm) | set(raw), key=str):
                    a = json.dumps(helm.get(k), sort_keys=True)
                    b = json.dumps(raw.get(k), sort_keys=True)
                    if a != b:
                        problems += 1
                        print(f"  default render and {manifests} differ on {k}:")
                        print(f"    helm: {a}\n    raw:  {b}")
                print(f"  default render: {len(helm)} objects, raw manifests: {len(raw)} objects")
    if problems:
        print(f"chart check: {problems} problems")
        sys.exit(1)
    print(f"chart check: {len(VALUE_SETS)} value sets lint clean and valid; "
          "default render equals the raw manifests")


if __name__ == "__main__":
    main()
