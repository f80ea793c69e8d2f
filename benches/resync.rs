//! Benchmark of the operator's full resync: every namespace evaluated from the stored pod
//! facts and planned against what the cluster holds.
//!
//! In: 100,000 running pods in 1,000 namespaces (100 each: 10 Deployments of 10 replicas,
//! one in three on `:latest`, one in four without probes, a few restarting), one
//! DevOpsPolicy per namespace (the five seed checks and the resource checks), the owner
//! index of their ReplicaSets, and the held state a first reconcile leaves (statuses,
//! audit results, reports through both report APIs). Out: the time of one full resync on
//! one thread, `PodStore::evaluate` + `plan_namespace` for all 1,000 namespaces, and (checked
//! before timing) that it plans no write: a quiet cluster is written nothing.
//!
//! ```sh
//! taskset -c 0 cargo bench --bench resync
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use kube_devops::facts::PodFacts;
use kube_devops::operator::audit::AuditRecord;
use kube_devops::operator::{Held, PolicyState, ReportApi, Write, plan_namespace};
use kube_devops::owners::{OwnerIndex, ParentRef};
use kube_devops::policy::{
    DevOpsPolicySpec, DevOpsPolicyStatus, EffectivePolicy, NamespaceExclusions, PolicySet,
};
use kube_devops::score::store::PodStore;
use kube_devops::testing::pod;

const NAMESPACES: usize = 1_000;
const DEPLOYMENTS: usize = 10;
const REPLICAS: usize = 10;

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap_or_default()
}

/// One pod template per Deployment, as facts.
fn template(d: usize) -> PodFacts {
    let mut b = pod("t")
        .image(if d.is_multiple_of(3) {
            "nginx:latest"
        } else {
            "nginx:1.27"
        })
        .owned_by("ReplicaSet", &format!("rs-{d}"));
    if d.is_multiple_of(4) {
        b = b.without_probes();
    }
    b.status("Running", if d.is_multiple_of(7) { 9 } else { 0 })
        .facts()
}

struct World {
    store: PodStore,
    set: PolicySet,
    owners: OwnerIndex,
    namespaces: Vec<String>,
}

fn world() -> World {
    let spec = DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        require_liveness_probe: Some(true),
        require_readiness_probe: Some(true),
        max_restart_count: Some(3),
        forbid_pending_duration: Some(300),
        checks: Some(
            [
                "cpuRequestsMissing",
                "memoryRequestsMissing",
                "cpuLimitsMissing",
                "memoryLimitsMissing",
            ]
            .iter()
            .map(|c| ((*c).to_owned(), Default::default()))
            .collect(),
        ),
        ..DevOpsPolicySpec::default()
    };
    let namespaces: Vec<String> = (0..NAMESPACES).map(|n| format!("team-{n:04}")).collect();
    let set = PolicySet::new(
        EffectivePolicy::default(),
        "default",
        NamespaceExclusions::default(),
    )
    .with_policies(namespaces.iter().map(|ns| (ns.as_str(), "policy", &spec)));
    let templates: Vec<PodFacts> = (0..DEPLOYMENTS).map(template).collect();
    let mut store = PodStore::new();
    let mut owners = OwnerIndex::new();
    for ns in &namespaces {
        for (d, t) in templates.iter().enumerate() {
            let rs_uid = format!("{ns}-rs-{d}");
            owners.set(
                "ReplicaSet",
                &rs_uid,
                Some(ParentRef {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: format!("web-{d}").into(),
                    uid: format!("{ns}-deploy-{d}").into(),
                }),
            );
            for r in 0..REPLICAS {
                let mut f = t.clone();
                f.object.namespace = ns.clone();
                f.object.name = format!("web-{d}-{r:05}");
                f.uid = Some(format!("{ns}-pod-{d}-{r}"));
                if let Some(o) = f.owners.first_mut() {
                    o.uid = rs_uid.clone();
                }
                store.apply(f, &set, now());
            }
        }
    }
    World {
        store,
        set,
        owners,
        namespaces,
    }
}

const APIS: [ReportApi; 2] = [ReportApi::WgPolicy, ReportApi::OpenReports];

/// One full resync: every namespace evaluated and planned. Returns the writes planned.
fn resync(
    w: &mut World,
    held: &Held,
    statuses: &HashMap<String, DevOpsPolicyStatus>,
    at: Timestamp,
) -> Vec<(String, Write)> {
    let mut writes = Vec::new();
    for ns in &w.namespaces {
        let eval = w.store.evaluate(ns, &w.set, at);
        let policies = [PolicyState {
            name: "policy",
            uid: "uid",
            generation: Some(1),
            error: None,
            status: statuses.get(ns),
            retention: 10,
        }];
        let plan = plan_namespace(
            &eval, &w.set, &policies, &w.owners, held, &APIS, "bench", at,
        );
        writes.extend(plan.writes.into_iter().map(|x| (ns.clone(), x)));
    }
    writes
}

/// What the cluster holds after the first reconcile's writes.
fn held_after(writes: Vec<(String, Write)>) -> (Held, HashMap<String, DevOpsPolicyStatus>) {
    let mut held = Held::default();
    let mut statuses = HashMap::new();
    for (ns, w) in writes {
        match w {
            Write::Status { status, .. } => {
                statuses.insert(ns, *status);
            }
            Write::AuditResult { policy, digest, .. } => held
                .audits
                .entry((ns.clone(), policy))
                .or_default()
                .push(AuditRecord {
                    name: format!("{ns}-a"),
                    created: now(),
                    digest,
                }),
            Write::ApplyReport { key, digest, .. } => held.set_report(&key, Some(digest)),
            Write::DeleteAuditResult { .. } | Write::DeleteReport { .. } => {}
        }
    }
    (held, statuses)
}

fn bench(c: &mut Criterion) {
    let mut w = world();
    let first = resync(&mut w, &Held::default(), &HashMap::new(), now());
    eprintln!(
        "{} pods, {} templates, {} namespaces; the first reconcile plans {} writes",
        w.store.len(),
        w.store.template_count(),
        w.namespaces.len(),
        first.len()
    );
    let (held, statuses) = held_after(first);
    let later = now() + jiff::SignedDuration::from_secs(300);
    let quiet = resync(&mut w, &held, &statuses, later);
    assert!(
        quiet.is_empty(),
        "a quiet resync plans writes: {:?}",
        quiet.first()
    );
    eprintln!("a resync five minutes later plans {} writes", quiet.len());
    let mut group = c.benchmark_group("operator");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("full_resync_1000_policies_100k_pods", |b| {
        b.iter(|| black_box(resync(&mut w, &held, &statuses, later)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
