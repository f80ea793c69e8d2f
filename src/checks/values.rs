//! The fixed lists the checks compare against, with the rules for comparing: capability
//! names, sensitive host paths and the topology keys that spread pods over failure
//! domains.
//!
//! In: strings as written in a pod spec. Out: whether they match a list.

/// Capabilities whose addition breaks container isolation (`dangerousCapabilities`).
pub const DANGEROUS_CAPABILITIES: [&str; 8] = [
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "BPF",
];

/// The only capability `insecureCapabilities` lets a container add back after dropping
/// `ALL`, as the Pod Security Standards' `restricted` profile does.
pub const SAFE_CAPABILITIES: [&str; 1] = ["NET_BIND_SERVICE"];

/// Topology keys that spread pods over the failure domains that matter: nodes and zones.
pub const DEFAULT_TOPOLOGY_KEYS: [&str; 2] =
    ["kubernetes.io/hostname", "topology.kubernetes.io/zone"];

/// Host directories whose mount, or the mount of anything below them, exposes the node:
/// its root, its configuration and credentials, its kernel interfaces, the runtime
/// sockets under `/var/run` (a link to `/run` on current distributions) and the kubelet's
/// and the runtimes' state (every pod's secrets and image layers).
pub const SENSITIVE_HOST_DIRECTORIES: [&str; 10] = [
    "/etc",
    "/proc",
    "/sys",
    "/boot",
    "/root",
    "/var/run",
    "/run",
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/var/lib/containerd",
];

/// File names of container runtime sockets, wherever they are mounted from.
pub const RUNTIME_SOCKETS: [&str; 5] = [
    "docker.sock",
    "containerd.sock",
    "crio.sock",
    "cri-dockerd.sock",
    "dockershim.sock",
];

/// A capability name without its optional `CAP_` prefix (in any case), as the container
/// runtimes accept it.
pub fn bare_capability(cap: &str) -> &str {
    let cap = cap.trim();
    match cap.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("CAP_") => &cap[4..],
        _ => cap,
    }
}

/// Whether an added capability is in [`DANGEROUS_CAPABILITIES`], compared without regard
/// to case and with or without `CAP_`, so no spelling a runtime accepts slips by.
pub fn is_dangerous_capability(cap: &str) -> bool {
    let bare = bare_capability(cap);
    DANGEROUS_CAPABILITIES
        .iter()
        .any(|d| d.eq_ignore_ascii_case(bare))
}

/// A host path with repeated slashes, `.` components and a trailing slash removed, and
/// `..` applied lexically (the kubelet does not resolve symbolic links either).
pub fn normalize_host_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Whether mounting `path` from the host exposes the node: `/` itself, anything in or
/// below [`SENSITIVE_HOST_DIRECTORIES`], or a runtime socket anywhere.
pub fn is_sensitive_host_path(path: &str) -> bool {
    let path = normalize_host_path(path);
    if path == "/" {
        return true;
    }
    let under = |dir: &str| {
        path == dir
            || path
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let file = path.rsplit('/').next().unwrap_or("");
    SENSITIVE_HOST_DIRECTORIES.iter().any(|d| under(d)) || RUNTIME_SOCKETS.contains(&file)
}

/// Whether an `allowedRegistries` entry admits an image repository (`registry/path`, see
/// [`crate::facts::image::repository`]). An entry is a registry host (`ghcr.io`,
/// `registry.example.com:5000`), optionally with a path prefix that must end at a `/`
/// (`ghcr.io/acme` admits `ghcr.io/acme/api`, not `ghcr.io/acme-labs/api`), or `*.` and a
/// domain for any host below it (`*.example.com`). Hosts are compared without regard to
/// case; `docker.io` (or `index.docker.io`) stands for Docker Hub.
pub fn registry_allows(entry: &str, repository: &str) -> bool {
    let entry = entry.trim().trim_end_matches('/');
    let (host, prefix) = match entry.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (entry, None),
    };
    let host = host.to_ascii_lowercase();
    let host = if host == "index.docker.io" {
        "docker.io".to_owned()
    } else {
        host
    };
    let (repo_host, repo_path) = repository.split_once('/').unwrap_or((repository, ""));
    let host_ok = match host.strip_prefix("*.") {
        Some(domain) => repo_host
            .strip_suffix(domain)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => repo_host == host,
    };
    host_ok
        && prefix.is_none_or(|p| {
            repo_path == p
                || repo_path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_entries_admit_hosts_prefixes_and_subdomains() {
        let allows = |entry, repo| registry_allows(entry, repo);
        assert!(allows("ghcr.io", "ghcr.io/acme/api"));
        assert!(allows("GHCR.io/", "ghcr.io/acme/api"));
        assert!(allows("ghcr.io/acme", "ghcr.io/acme/api"));
        assert!(!allows("ghcr.io/acme", "ghcr.io/acme-labs/api"));
        assert!(allows("ghcr.io/acme/api", "ghcr.io/acme/api"));
        assert!(allows("*.example.com", "eu.registry.example.com/app"));
        assert!(!allows("*.example.com", "example.com/app"));
        assert!(!allows("*.example.com", "badexample.com/app"));
        assert!(allows("docker.io/library", "docker.io/library/nginx"));
        assert!(allows("index.docker.io", "docker.io/library/nginx"));
        assert!(!allows("docker.io/library", "docker.io/bitnami/redis"));
        assert!(allows("registry:5000", "registry:5000/app"));
        assert!(!allows("registry", "registry:5000/app"));
        assert!(!allows("ghcr.io", "ghcr.io.evil.com/app"));
    }

    #[test]
    fn host_paths_are_judged_after_normalising() {
        for sensitive in [
            "/",
            "//",
            "/etc",
            "/etc/",
            "/etc/kubernetes/pki",
            "/proc",
            "/proc/sys/kernel",
            "/var/run",
            "/var/run/docker.sock",
            "/run/containerd/containerd.sock",
            "/var/lib/kubelet/pods",
            "/opt/../etc",
            "/srv/docker.sock",
            "/./sys",
        ] {
            assert!(is_sensitive_host_path(sensitive), "{sensitive}");
        }
        for harmless in [
            "/var/log",
            "/data",
            "/etcetera",
            "/var/running",
            "/opt/app/run",
            "/mnt/docker.sock.d",
            "/var/lib/app",
        ] {
            assert!(!is_sensitive_host_path(harmless), "{harmless}");
        }
    }

    #[test]
    fn capability_names_are_compared_as_runtimes_accept_them() {
        assert_eq!(bare_capability("CAP_SYS_ADMIN"), "SYS_ADMIN");
        assert_eq!(bare_capability("cap_net_raw"), "net_raw");
        assert_eq!(bare_capability(" CHOWN "), "CHOWN");
        assert!(is_dangerous_capability("cap_sys_admin"));
        assert!(is_dangerous_capability("bpf"));
        assert!(!is_dangerous_capability("SYS_ADMINISTRATOR"));
    }
}
