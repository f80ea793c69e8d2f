//! The cluster's Node objects: `node-1` .. `node-N`, registered at start as kubelets
//! register them. In: how many. Out: Nodes with the labels, addresses, capacity,
//! allocatable, conditions and node info a healthy kubelet reports, so schedulers,
//! DaemonSets and `kubectl get nodes` see a believable cluster.

use serde_json::{Value, json};

use crate::discovery::GIT_VERSION;

/// The name of the `i`-th node (from 1).
pub fn node_name(i: usize) -> String {
    format!("node-{i}")
}

/// The InternalIP of the `i`-th node (from 1).
pub fn node_ip(i: usize) -> String {
    format!("10.0.0.{}", i + 1)
}

/// The `i`-th node (from 1), as its kubelet registers it.
pub fn node(i: usize, now: &str) -> Value {
    let name = node_name(i);
    let resources = json!({
        "cpu": "4", "memory": "16318404Ki", "pods": "110", "ephemeral-storage": "102625208Ki",
        "hugepages-1Gi": "0", "hugepages-2Mi": "0",
    });
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {
            "podCIDR": format!("10.244.{}.0/24", i - 1),
            "podCIDRs": [format!("10.244.{}.0/24", i - 1)],
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node_ip(i)},
                {"type": "Hostname", "address": name},
            ],
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": format!("00000000-0000-0000-0000-{i:012}"),
                "containerRuntimeVersion": "containerd://2.0.3",
                "kernelVersion": "6.1.0-31-amd64",
                "kubeProxyVersion": GIT_VERSION,
                "kubeletVersion": GIT_VERSION,
                "machineID": format!("{i:032x}"),
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": format!("00000000-0000-0000-0000-{i:012}"),
            },
        },
    })
}
