//! A corpus of realistic workload manifests, for measuring the offline audit.
//!
//! In: an output directory, a workload count (default 10,000) and an optional seed. Out:
//! YAML files of [`DOCS_PER_FILE`] documents each (`workloads-000.yaml`, ...), spread over
//! [`NAMESPACES`]. The mix follows what real repositories hold: mostly Deployments, then
//! Pods, Jobs, CronJobs, StatefulSets and DaemonSets; one to three containers, sometimes
//! init containers or a native sidecar; about a third compliant, the rest with floating
//! tags, missing probes or resources, or security problems. Workload `i` depends only on
//! the seed and `i`, so the same seed always writes the same bytes, whatever the count.
//! The audit benchmark builds its inputs with the same functions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Documents per corpus file.
pub const DOCS_PER_FILE: usize = 100;

/// Seed used when none is given.
pub const DEFAULT_SEED: u64 = 0x6b75_6265_2d64_6576;

/// Namespaces the workloads are spread over.
pub const NAMESPACES: [&str; 20] = [
    "checkout",
    "payments",
    "catalog",
    "search",
    "accounts",
    "orders",
    "shipping",
    "billing",
    "inventory",
    "reviews",
    "recommendations",
    "notifications",
    "identity",
    "analytics",
    "reporting",
    "frontend",
    "gateway",
    "media",
    "batch",
    "observability",
];

const APPS: [&str; 12] = [
    "api",
    "web",
    "worker",
    "consumer",
    "scheduler",
    "cache",
    "gateway",
    "indexer",
    "sync",
    "exporter",
    "db",
    "queue",
];

const SIDECAR_IMAGES: [&str; 3] = [
    "ghcr.io/envoyproxy/envoy:v1.31.2",
    "docker.io/fluent/fluent-bit:3.1.9",
    "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0",
];

/// SplitMix64: small, fast and good enough to vary manifests deterministically.
struct Rng(u64);

impl Rng {
    fn for_workload(seed: u64, index: usize) -> Self {
        let mut rng = Rng(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// How carefully a workload was written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hygiene {
    /// Passes every check of the catalogue.
    Good,
    /// One or two problems.
    Fair,
    /// Many problems.
    Poor,
}

impl Hygiene {
    /// Percent chance of one given problem at this hygiene.
    fn odds(self, fair: u64, poor: u64) -> u64 {
        match self {
            Hygiene::Good => 0,
            Hygiene::Fair => fair,
            Hygiene::Poor => poor,
        }
    }
}

/// A YAML writer that keeps the indentation of the block it is in.
struct Yaml {
    text: String,
    indent: usize,
}

impl Yaml {
    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        for _ in 0..self.indent {
            self.text.push(' ');
        }
        let _ = self.text.write_fmt(args);
        self.text.push('\n');
    }

    fn nested(&mut self, by: usize, body: impl FnOnce(&mut Yaml)) {
        self.indent += by;
        body(self);
        self.indent -= by;
    }
}

macro_rules! y {
    ($w:expr, $($arg:tt)*) => { $w.line(format_args!($($arg)*)) };
}

/// The kinds in the mix, with their share in percent.
const KINDS: [(&str, u64); 6] = [
    ("Deployment", 45),
    ("Pod", 12),
    ("StatefulSet", 10),
    ("DaemonSet", 8),
    ("Job", 12),
    ("CronJob", 13),
];

/// One workload manifest (a single YAML document, without the `---` marker).
pub fn workload(seed: u64, index: usize) -> String {
    let mut rng = Rng::for_workload(seed, index);
    let mut roll = rng.below(100);
    let kind = KINDS
        .iter()
        .find(|(_, share)| {
            let hit = roll < *share;
            roll = roll.saturating_sub(*share);
            hit
        })
        .map_or("Deployment", |(k, _)| k);
    let hygiene = match rng.below(100) {
        0..35 => Hygiene::Good,
        35..75 => Hygiene::Fair,
        _ => Hygiene::Poor,
    };
    let namespace = NAMESPACES[rng.below(NAMESPACES.len() as u64) as usize];
    let app = rng.pick(&APPS);
    let name = format!("{namespace}-{app}-{index:05}");
    let version = format!("{}.{}.{}", rng.below(4), rng.below(20), rng.below(10));
    let (api, batch) = match kind {
        "Pod" => ("v1", false),
        "Job" | "CronJob" => ("batch/v1", true),
        _ => ("apps/v1", false),
    };
    let mut w = Yaml {
        text: String::with_capacity(4096),
        indent: 0,
    };
    y!(w, "apiVersion: {api}");
    y!(w, "kind: {kind}");
    y!(w, "metadata:");
    w.nested(2, |w| {
        y!(w, "name: {name}");
        // Many repositories leave the namespace to `kubectl apply -n`.
        if !rng.chance(5) {
            y!(w, "namespace: {namespace}");
        }
        labels(w, &name, namespace, &version);
        if hygiene != Hygiene::Good && rng.chance(6) {
            y!(w, "annotations:");
            w.nested(2, |w| {
                y!(w, "devops.stochastic.io/ignore: latestTag,hostPathSet");
                y!(
                    w,
                    "devops.stochastic.io/ignore-reason: \"vendor image, tracked in OPS-{index}\""
                );
                if rng.chance(50) {
                    y!(w, "devops.stochastic.io/ignore-until: \"2030-01-31\"");
                }
            });
        } else if rng.chance(30) {
            y!(w, "annotations:");
            w.nested(2, |w| {
                y!(w, "kubernetes.io/change-cause: \"release {version}\"")
            });
        }
    });
    let template = |w: &mut Yaml, rng: &mut Rng| {
        y!(w, "template:");
        w.nested(2, |w| {
            y!(w, "metadata:");
            w.nested(2, |w| {
                y!(w, "labels:");
                w.nested(2, |w| {
                    y!(w, "app.kubernetes.io/name: {name}");
                    y!(w, "app.kubernetes.io/version: \"{version}\"");
                });
                if rng.chance(25) {
                    y!(w, "annotations:");
                    w.nested(2, |w| {
                        y!(w, "prometheus.io/scrape: \"true\"");
                        y!(w, "prometheus.io/port: \"9090\"");
                    });
                }
            });
            y!(w, "spec:");
            w.nested(2, |w| {
                pod_spec(w, rng, hygiene, batch, namespace, app, &version)
            });
        });
    };
    y!(w, "spec:");
    w.nested(2, |w| match kind {
        "Pod" => pod_spec(w, &mut rng, hygiene, false, namespace, app, &version),
        "Job" => {
            y!(w, "backoffLimit: {}", rng.below(6));
            y!(w, "ttlSecondsAfterFinished: 3600");
            template(w, &mut rng);
        }
        "CronJob" => {
            y!(
                w,
                "schedule: \"{} */{} * * *\"",
                rng.below(60),
                1 + rng.below(12)
            );
            y!(w, "concurrencyPolicy: Forbid");
            y!(w, "successfulJobsHistoryLimit: 3");
            y!(w, "jobTemplate:");
            w.nested(2, |w| {
                y!(w, "spec:");
                w.nested(2, |w| {
                    y!(w, "backoffLimit: 2");
                    template(w, &mut rng);
                });
            });
        }
        _ => {
            match kind {
                "DaemonSet" => {
                    y!(w, "updateStrategy:");
                    w.nested(2, |w| y!(w, "type: RollingUpdate"));
                }
                "StatefulSet" => {
                    y!(w, "serviceName: {name}");
                    y!(w, "replicas: {}", 1 + rng.below(5));
                }
                _ => {
                    y!(w, "replicas: {}", 1 + rng.below(6));
                    y!(w, "revisionHistoryLimit: 5");
                }
            }
            y!(w, "selector:");
            w.nested(2, |w| {
                y!(w, "matchLabels:");
                w.nested(2, |w| y!(w, "app.kubernetes.io/name: {name}"));
            });
            template(w, &mut rng);
            if kind == "StatefulSet" {
                y!(w, "volumeClaimTemplates:");
                w.nested(2, |w| {
                    y!(w, "- metadata:");
                    y!(w, "    name: data");
                    y!(w, "  spec:");
                    y!(w, "    accessModes: [\"ReadWriteOnce\"]");
                    y!(w, "    resources:");
                    y!(w, "      requests:");
                    y!(w, "        storage: {}Gi", 1 + rng.below(100));
                });
            }
        }
    });
    w.text
}

fn labels(w: &mut Yaml, name: &str, namespace: &str, version: &str) {
    y!(w, "labels:");
    w.nested(2, |w| {
        y!(w, "app.kubernetes.io/name: {name}");
        y!(w, "app.kubernetes.io/part-of: {namespace}");
        y!(w, "app.kubernetes.io/version: \"{version}\"");
        y!(w, "app.kubernetes.io/managed-by: kustomize");
    });
}

fn pod_spec(
    w: &mut Yaml,
    rng: &mut Rng,
    hygiene: Hygiene,
    batch: bool,
    namespace: &str,
    app: &str,
    version: &str,
) {
    y!(w, "serviceAccountName: {namespace}-{app}");
    if batch {
        y!(
            w,
            "restartPolicy: {}",
            if rng.chance(50) { "Never" } else { "OnFailure" }
        );
    }
    let host_network = rng.chance(hygiene.odds(2, 12));
    if host_network {
        y!(w, "hostNetwork: true");
        y!(w, "dnsPolicy: ClusterFirstWithHostNet");
    }
    if rng.chance(hygiene.odds(1, 6)) {
        y!(w, "hostPID: true");
    }
    // Half of the careful manifests promise non-root once for the whole pod.
    let pod = Pod {
        hygiene,
        batch,
        non_root: hygiene == Hygiene::Good && rng.chance(50),
    };
    if pod.non_root {
        y!(w, "securityContext:");
        w.nested(2, |w| {
            y!(w, "runAsNonRoot: true");
            y!(w, "runAsUser: {}", 10000 + rng.below(1000));
            y!(w, "fsGroup: 2000");
        });
    }
    if rng.chance(30) {
        y!(w, "initContainers:");
        w.nested(2, |w| {
            for i in 0..1 + rng.below(2) {
                let image = format!("registry.example.com/{namespace}/migrate:{version}");
                container(w, rng, pod, Role::Init, &format!("init-{i}"), &image);
            }
            if !batch && rng.chance(20) {
                let image = rng.pick(&SIDECAR_IMAGES);
                container(w, rng, pod, Role::Sidecar, "proxy", image);
            }
        });
    }
    y!(w, "containers:");
    w.nested(2, |w| {
        let image = format!("registry.example.com/{namespace}/{app}:{version}");
        container(w, rng, pod, Role::Main, app, &image);
        let first = rng.below(SIDECAR_IMAGES.len() as u64) as usize;
        for i in 0..rng.below(3) as usize {
            let image = SIDECAR_IMAGES[(first + i) % SIDECAR_IMAGES.len()];
            let name = image.rsplit('/').next().and_then(|n| n.split(':').next());
            container(w, rng, pod, Role::Helper, name.unwrap_or("helper"), image);
        }
    });
    y!(w, "volumes:");
    w.nested(2, |w| {
        y!(w, "- name: config");
        y!(w, "  configMap:");
        y!(w, "    name: {namespace}-{app}-config");
        y!(w, "- name: tmp");
        y!(w, "  emptyDir: {{}}");
        if rng.chance(hygiene.odds(4, 20)) {
            y!(w, "- name: host-logs");
            y!(w, "  hostPath:");
            y!(w, "    path: /var/log");
            y!(w, "    type: Directory");
        }
    });
}

/// What every container of one pod shares.
#[derive(Clone, Copy)]
struct Pod {
    hygiene: Hygiene,
    /// Run-to-completion pod: no probes expected.
    batch: bool,
    /// The pod-level securityContext already promises non-root.
    non_root: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Init,
    Sidecar,
    Main,
    Helper,
}

fn container(w: &mut Yaml, rng: &mut Rng, pod: Pod, role: Role, name: &str, image: &str) {
    let hygiene = pod.hygiene;
    let image = match rng.below(100) {
        n if n < hygiene.odds(8, 25) => {
            format!("{}:latest", image.split(':').next().unwrap_or(image))
        }
        n if n < hygiene.odds(12, 40) => image.split(':').next().unwrap_or(image).to_owned(),
        _ => image.to_owned(),
    };
    y!(w, "- name: {name}");
    w.nested(2, |w| {
        y!(w, "image: {image}");
        if rng.chance(hygiene.odds(15, 50)) {
            y!(w, "imagePullPolicy: IfNotPresent");
        } else {
            y!(w, "imagePullPolicy: Always");
        }
        if role == Role::Sidecar {
            y!(w, "restartPolicy: Always");
        }
        y!(w, "args:");
        y!(w, "  - --log-level=info");
        y!(w, "  - --config=/etc/{name}/config.yaml");
        let serves = matches!(role, Role::Main | Role::Helper | Role::Sidecar);
        if serves {
            y!(w, "ports:");
            y!(w, "  - name: http");
            y!(w, "    containerPort: {}", 8080 + rng.below(10));
            y!(w, "    protocol: TCP");
            if rng.chance(hygiene.odds(2, 10)) {
                y!(w, "    hostPort: 80");
            }
        }
        y!(w, "env:");
        y!(w, "  - name: LOG_FORMAT");
        y!(w, "    value: json");
        y!(w, "  - name: POD_NAME");
        y!(w, "    valueFrom:");
        y!(w, "      fieldRef:");
        y!(w, "        fieldPath: metadata.name");
        if rng.chance(40) {
            y!(w, "  - name: DATABASE_PASSWORD");
            y!(w, "    valueFrom:");
            y!(w, "      secretKeyRef:");
            y!(w, "        name: {name}-db");
            y!(w, "        key: password");
        }
        if !rng.chance(hygiene.odds(20, 60)) {
            let limits = !rng.chance(hygiene.odds(30, 50));
            y!(w, "resources:");
            w.nested(2, |w| {
                y!(w, "requests:");
                y!(w, "  cpu: {}m", 50 * (1 + rng.below(10)));
                y!(w, "  memory: {}Mi", 64 * (1 + rng.below(16)));
                if limits {
                    y!(w, "limits:");
                    y!(w, "  cpu: \"{}\"", 1 + rng.below(4));
                    y!(w, "  memory: {}Mi", 1024 + 256 * rng.below(8));
                }
            });
        }
        // Only long-running containers of long-running pods are expected to carry probes;
        // careless manifests leave them out anyway.
        if role != Role::Init && !pod.batch {
            if !rng.chance(hygiene.odds(25, 60)) {
                probe(w, "livenessProbe", "/healthz", 15);
            }
            if !rng.chance(hygiene.odds(25, 60)) {
                probe(w, "readinessProbe", "/ready", 5);
            }
        }
        if !rng.chance(hygiene.odds(15, 45)) {
            y!(w, "securityContext:");
            w.nested(2, |w| {
                if !pod.non_root {
                    if rng.chance(hygiene.odds(10, 30)) {
                        y!(w, "runAsUser: 0");
                    } else {
                        y!(w, "runAsNonRoot: true");
                        y!(w, "runAsUser: {}", 10000 + rng.below(1000));
                    }
                }
                if rng.chance(hygiene.odds(2, 10)) {
                    y!(w, "privileged: true");
                }
                let escalation = rng.chance(hygiene.odds(10, 30));
                y!(w, "allowPrivilegeEscalation: {escalation}");
                let writable = rng.chance(hygiene.odds(20, 50));
                y!(w, "readOnlyRootFilesystem: {}", !writable);
                y!(w, "capabilities:");
                y!(w, "  drop: [\"ALL\"]");
                if rng.chance(hygiene.odds(3, 12)) {
                    y!(w, "  add: [\"NET_ADMIN\", \"NET_BIND_SERVICE\"]");
                }
            });
        }
        y!(w, "volumeMounts:");
        y!(w, "  - name: config");
        y!(w, "    mountPath: /etc/{name}");
        y!(w, "    readOnly: true");
        y!(w, "  - name: tmp");
        y!(w, "    mountPath: /tmp");
    });
}

fn probe(w: &mut Yaml, field: &str, path: &str, delay: u32) {
    y!(w, "{field}:");
    w.nested(2, |w| {
        y!(w, "httpGet:");
        y!(w, "  path: {path}");
        y!(w, "  port: http");
        y!(w, "initialDelaySeconds: {delay}");
        y!(w, "periodSeconds: 10");
        y!(w, "failureThreshold: 3");
    });
}

/// Workloads `first..first + count` as one multi-document YAML stream.
pub fn corpus_file(seed: u64, first: usize, count: usize) -> String {
    let mut text = String::with_capacity(count * 4096);
    for index in first..first + count {
        text.push_str("---\n");
        text.push_str(&workload(seed, index));
    }
    text
}

/// Writes `count` workloads into `dir`, [`DOCS_PER_FILE`] to a file. Returns the files.
pub fn write_corpus(dir: &Path, count: usize, seed: u64) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    for (n, first) in (0..count).step_by(DOCS_PER_FILE).enumerate() {
        let path = dir.join(format!("workloads-{n:03}.yaml"));
        let docs = DOCS_PER_FILE.min(count - first);
        std::fs::write(&path, corpus_file(seed, first, docs))?;
        files.push(path);
    }
    Ok(files)
}

const USAGE: &str = "usage: gen_corpus OUT_DIR [COUNT (default 10000)] [SEED]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let count = match args.get(1).map(|c| c.parse::<usize>()) {
        None => 10_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("COUNT {:?}: {e}\n{USAGE}", args[1]);
            return ExitCode::from(2);
        }
    };
    let seed = match args.get(2).map(|s| s.parse::<u64>()) {
        None => DEFAULT_SEED,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("SEED {:?}: {e}\n{USAGE}", args[2]);
            return ExitCode::from(2);
        }
    };
    match write_corpus(Path::new(dir), count, seed) {
        Ok(files) => {
            let bytes: u64 = files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            eprintln!(
                "wrote {count} workloads in {} files ({bytes} bytes) to {dir}",
                files.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write the corpus to {dir}: {e}");
            ExitCode::FAILURE
        }
    }
}
