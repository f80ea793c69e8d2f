//! Benchmark of `/metrics`: the text exposition of a controller scoring 1,000 namespaces,
//! each with a DevOpsPolicy.
//!
//! In: every series the controller writes for 1,000 namespaces (their health scores, and
//! for one policy in each its score, violations, violations by severity and enforcement
//! mode: 8,000 series) besides the process's fixed families. Out: the time of one
//! `Metrics::encode`, the body of one scrape (about 700 KB).
//!
//! ```sh
//! taskset -c 0 cargo bench -p kube-devops-actors --bench metrics
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kube_devops_actors::metrics::Metrics;

const NAMESPACES: usize = 1_000;

fn scored_cluster() -> Metrics {
    let m = Metrics::new().expect("metrics register");
    for i in 0..NAMESPACES {
        let ns = format!("team-{i:04}");
        let score = 60.0 + (i % 400) as f64 / 10.0;
        m.namespace_health_score.set([&ns], score);
        m.policy_health_score.set([&ns, "baseline"], score);
        m.policy_violations.set([&ns, "baseline"], (i % 17) as f64);
        for (s, severity) in ["critical", "high", "medium", "low"].iter().enumerate() {
            m.policy_violations_by_severity
                .set([&ns, "baseline", severity], ((i + s) % 5) as f64);
        }
        m.enforcement_mode.set([&ns, "baseline"], (i % 3) as f64);
    }
    m.cluster_health_score.set(81.5);
    m
}

fn exposition(c: &mut Criterion) {
    let m = scored_cluster();
    let size = m.encode().len();
    assert!(
        size > 500_000,
        "the exposition holds every series: {size} bytes"
    );
    c.bench_function("metrics/encode_1000_namespaces", |b| {
        b.iter(|| black_box(m.encode()))
    });
}

criterion_group!(benches, exposition);
criterion_main!(benches);
