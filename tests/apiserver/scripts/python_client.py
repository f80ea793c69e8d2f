"""Conformance of the test API server with the official Kubernetes Python client.

Runs list, watch, create, patch (merge and strategic), server-side apply, a status
update and a delete held by finalizers against a running server, and checks each
answer against what kube-apiserver gives. Exits non-zero on the first difference.

usage: python_client.py KUBECONFIG
"""

import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NAMESPACE = "python-client"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def refused(call, status):
    """Runs a call that must fail with an HTTP status; answers the exception."""
    try:
        call()
    except ApiException as error:
        check(error.status == status, f"expected {status}, got {error.status}: {error.body}")
        return error
    raise AssertionError(f"expected {status}, the call succeeded")


def lists_and_creates(core):
    names = [n.metadata.name for n in core.list_namespace().items]
    for expected in ("default", "kube-system", "kube-public", "kube-node-lease"):
        check(expected in names, f"namespace {expected} in {names}")
    nodes = core.list_node().items
    check(len(nodes) == 3, f"three nodes, got {len(nodes)}")
    created = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    check(created.status.phase == "Active", f"a new namespace is Active: {created.status}")
    labels = created.metadata.labels or {}
    check(labels.get("kubernetes.io/metadata.name") == NAMESPACE, f"name label: {labels}")
    error = refused(
        lambda: core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))), 409
    )
    check('"reason":"AlreadyExists"' in error.body.replace(" ", ""), error.body)
    pod = core.create_namespaced_pod(
        NAMESPACE,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="nginx:1.27")]),
        ),
    )
    container = pod.spec.containers[0]
    check(container.image_pull_policy == "IfNotPresent", f"defaulted pull policy: {container}")
    check(pod.spec.restart_policy == "Always" and pod.spec.dns_policy == "ClusterFirst", str(pod.spec))
    selected = core.list_namespaced_pod(NAMESPACE, label_selector="app=web", field_selector="metadata.name=web")
    check([p.metadata.name for p in selected.items] == ["web"], "selectors pick the pod")
    refused(lambda: core.list_namespaced_pod(NAMESPACE, field_selector="spec.dnsPolicy=x"), 400)


def watches(core):
    listed = core.list_namespaced_config_map(NAMESPACE)
    version = listed.metadata.resource_version
    core.create_namespaced_config_map(
        NAMESPACE, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched"), data={"a": "1"})
    )
    core.patch_namespaced_config_map(
        "watched", NAMESPACE, {"data": {"b": "2"}}, _content_type="application/merge-patch+json"
    )
    seen = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map, NAMESPACE, resource_version=version, timeout_seconds=10
    ):
        if event["object"].metadata.name == "watched":
            seen.append((event["type"], dict(event["object"].data)))
        if len(seen) == 2:
            stream.stop()
    check(
        seen == [("ADDED", {"a": "1"}), ("MODIFIED", {"a": "1", "b": "2"})],
        f"the watch from the list's version sees the create and the merge patch: {seen}",
    )


def deployment_body(image, replicas=1, manager_fields=None):
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "app", "image": image}, {"name": "proxy", "image": "envoy:1"}]},
            },
        },
    }
    body["spec"].update(manager_fields or {})
    return body


def applies_and_patches(apps):
    applied = apps.patch_namespaced_deployment(
        "api", NAMESPACE, deployment_body("api:1"), field_manager="py-apply",
        _content_type="application/apply-patch+yaml",
    )
    managers = [(m.manager, m.operation) for m in applied.metadata.managed_fields]
    check(managers == [("py-apply", "Apply")], f"apply creates, owned by its manager: {managers}")
    check(applied.spec.revision_history_limit == 10, "the applied deployment is defaulted")
    error = refused(
        lambda: apps.patch_namespaced_deployment(
            "api", NAMESPACE, deployment_body("api:1", replicas=3), field_manager="other",
            _content_type="application/apply-patch+yaml",
        ),
        409,
    )
    check('conflict with \\"py-apply\\"' in error.body and ".spec.replicas" in error.body, error.body)
    forced = apps.patch_namespaced_deployment(
        "api", NAMESPACE, deployment_body("api:1", replicas=3), field_manager="other", force=True,
        _content_type="application/apply-patch+yaml",
    )
    check(forced.spec.replicas == 3, "force takes the field")
    patched = apps.patch_namespaced_deployment(
        "api", NAMESPACE,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "api:2"}]}}}},
    )
    images = [(c.name, c.image) for c in patched.spec.template.spec.containers]
    check(images == [("app", "api:2"), ("proxy", "envoy:1")], f"a strategic patch merges containers by name: {images}")
    merged = apps.patch_namespaced_deployment(
        "api", NAMESPACE,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "api:3"}]}}}},
        _content_type="application/merge-patch+json",
    )
    names = [c.name for c in merged.spec.template.spec.containers]
    check(names == ["app"], f"a merge patch replaces the list: {names}")
    check(merged.metadata.generation > patched.metadata.generation, "spec changes bump the generation")


def updates_status(core):
    core.create_namespaced_service(
        NAMESPACE,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="edge"),
            spec=client.V1ServiceSpec(type="LoadBalancer", selector={"app": "web"},
                                      ports=[client.V1ServicePort(port=80)]),
        ),
    )
    updated = core.patch_namespaced_service_status(
        "edge", NAMESPACE,
        {"spec": {"selector": {"app": "other"}}, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}},
        _content_type="application/merge-patch+json",
    )
    check(updated.status.load_balancer.ingress[0].ip == "192.0.2.10", "the status subresource writes status")
    check(updated.spec.selector == {"app": "web"}, "and leaves the spec alone")
    port = updated.spec.ports[0]
    check(port.protocol == "TCP" and port.target_port == 80 and port.node_port, f"service defaults: {port}")


def deletes_with_finalizers(core):
    core.create_namespaced_config_map(
        NAMESPACE,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="held", finalizers=["example.com/hold"])),
    )
    core.delete_namespaced_config_map("held", NAMESPACE)
    held = core.read_namespaced_config_map("held", NAMESPACE)
    check(held.metadata.deletion_timestamp is not None, "a held object is marked for deletion")
    check(held.metadata.generation == 2, f"marking it bumps the generation: {held.metadata.generation}")
    core.patch_namespaced_config_map(
        "held", NAMESPACE, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    refused(lambda: core.read_namespaced_config_map("held", NAMESPACE), 404)


def events(core, events_v1):
    events_v1.create_namespaced_event(
        NAMESPACE,
        client.EventsV1Event(
            metadata=client.V1ObjectMeta(name="checked"),
            event_time="2025-01-01T00:00:00.000000Z",
            reporting_controller="example.com/checker", reporting_instance="checker-0",
            action="Check", reason="Checked", type="Normal", note="all good",
            regarding=client.V1ObjectReference(kind="Pod", name="web", namespace=NAMESPACE),
        ),
    )
    core_events = core.list_namespaced_event(NAMESPACE, field_selector="involvedObject.name=web,reason=Checked")
    check([e.message for e in core_events.items] == ["all good"], "one event store for both APIs")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    config.load_kube_config(config_file=sys.argv[1])
    core = client.CoreV1Api()
    try:
        lists_and_creates(core)
        watches(core)
        applies_and_patches(client.AppsV1Api())
        updates_status(core)
        deletes_with_finalizers(core)
        events(core, client.EventsV1Api())
        core.delete_namespace(NAMESPACE)
    except (AssertionError, ApiException) as failure:
        print(f"python client conformance: FAILED: {failure}", file=sys.stderr)
        return 1
    print("python client conformance: 6 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
