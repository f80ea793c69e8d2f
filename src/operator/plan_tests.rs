use super::*;
use crate::facts::PodFacts;
use crate::policy::{DevOpsPolicySpec, EffectivePolicy, NamespaceExclusions};
use crate::score::store::PodStore;
use crate::testing::pod;

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn later() -> Timestamp {
    "2026-06-01T00:05:00Z".parse().unwrap()
}

fn set() -> PolicySet {
    let latest = DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        ..DevOpsPolicySpec::default()
    };
    PolicySet::new(
        EffectivePolicy::default(),
        "default",
        NamespaceExclusions::default(),
    )
    .with_policies([("shop", "p", &latest)])
}

fn store(images: &[&str]) -> PodStore {
    let mut store = PodStore::new();
    for (i, image) in images.iter().enumerate() {
        let mut f: PodFacts = pod(&format!("pod-{i}"))
            .ns("shop")
            .image(image)
            .status("Running", 0)
            .facts();
        f.uid = Some(format!("uid-{i}"));
        store.apply(&f, &set(), now());
    }
    store
}

fn policy(status: Option<&DevOpsPolicyStatus>, retention: u32) -> PolicyState<'_> {
    PolicyState {
        name: "p",
        uid: "uid-p",
        generation: Some(1),
        error: None,
        status,
        retention,
    }
}

const APIS: [ReportApi; 1] = [ReportApi::WgPolicy];

/// Applies a plan's writes to `held` and returns the status written, as the cluster would.
fn perform(plan: &NamespacePlan, held: &mut Held, at: &str) -> Option<DevOpsPolicyStatus> {
    let mut status = None;
    for (i, w) in plan.writes.iter().enumerate() {
        match w {
            Write::Status { status: s, .. } => status = Some(s.clone()),
            Write::AuditResult { policy, digest, .. } => held
                .audits
                .entry(("shop".into(), policy.clone()))
                .or_default()
                .push(AuditRecord {
                    name: format!("{policy}-{at}-{i}"),
                    created: at.to_owned(),
                    digest: *digest,
                }),
            Write::DeleteAuditResult { policy, name } => {
                if let Some(v) = held.audits.get_mut(&("shop".into(), policy.clone())) {
                    v.retain(|r| &r.name != name);
                }
            }
            Write::ApplyReport { key, digest, .. } => held.set_report(key, Some(*digest)),
            Write::DeleteReport { key } => held.set_report(key, None),
        }
    }
    status
}

#[test]
fn a_new_policy_gets_a_status_an_audit_result_and_reports() {
    let s = set();
    let eval = store(&["nginx:latest", "nginx:1.27"]).evaluate("shop", &s, now());
    let plan = plan_namespace(
        &eval,
        &s,
        &[policy(None, 10)],
        &OwnerIndex::new(),
        &Held::default(),
        &APIS,
        "prod",
        now(),
    );
    let kinds: Vec<&str> = plan
        .writes
        .iter()
        .map(|w| match w {
            Write::Status { .. } => "status",
            Write::AuditResult { .. } => "audit",
            Write::DeleteAuditResult { .. } => "prune",
            Write::ApplyReport { .. } => "report",
            Write::DeleteReport { .. } => "delete-report",
        })
        .collect();
    assert_eq!(kinds, ["status", "audit", "report", "report"]);
    assert_eq!(plan.statuses[0].1.violations, Some(1));
}

#[test]
fn a_quiet_namespace_plans_no_writes_at_the_next_resync() {
    let s = set();
    let mut st = store(&["nginx:latest", "nginx:1.27"]);
    let mut held = Held::default();
    let first = plan_namespace(
        &st.evaluate("shop", &s, now()),
        &s,
        &[policy(None, 10)],
        &OwnerIndex::new(),
        &held,
        &APIS,
        "prod",
        now(),
    );
    let status = perform(&first, &mut held, "t1");
    let again = plan_namespace(
        &st.evaluate("shop", &s, later()),
        &s,
        &[policy(status.as_ref(), 10)],
        &OwnerIndex::new(),
        &held,
        &APIS,
        "prod",
        later(),
    );
    assert!(again.writes.is_empty(), "{:?}", again.writes);
}

#[test]
fn a_change_writes_a_new_audit_result_and_retention_prunes_the_oldest() {
    let s = set();
    let mut held = Held::default();
    let mut status = None;
    for round in 0..5 {
        let images: Vec<&str> = (0..=round).map(|_| "nginx:latest").collect();
        let eval = store(&images).evaluate("shop", &s, now());
        let plan = plan_namespace(
            &eval,
            &s,
            &[policy(status.as_ref(), 3)],
            &OwnerIndex::new(),
            &held,
            &APIS,
            "prod",
            now(),
        );
        status = perform(&plan, &mut held, &format!("2026-06-01T00:0{round}:00Z")).or(status);
    }
    let kept = &held.audits[&("shop".to_owned(), "p".to_owned())];
    assert_eq!(kept.len(), 3);
    let created: Vec<&str> = kept.iter().map(|r| r.created.as_str()).collect();
    assert_eq!(
        created,
        [
            "2026-06-01T00:02:00Z",
            "2026-06-01T00:03:00Z",
            "2026-06-01T00:04:00Z"
        ]
    );
}

#[test]
fn reports_of_vanished_workloads_and_of_unpoliced_namespaces_are_deleted() {
    let s = set();
    let mut held = Held::default();
    let stale = ReportKey {
        api: ReportApi::WgPolicy,
        namespace: "shop".into(),
        name: "kube-devops-gone".into(),
    };
    held.set_report(&stale, Some(1));
    let eval = store(&["nginx:1.27"]).evaluate("shop", &s, now());
    let plan = plan_namespace(
        &eval,
        &s,
        &[policy(None, 10)],
        &OwnerIndex::new(),
        &held,
        &APIS,
        "prod",
        now(),
    );
    assert!(
        plan.writes
            .contains(&Write::DeleteReport { key: stale.clone() })
    );
    // The namespace's last policy went: every report there goes.
    let mut after = s.clone();
    after.set_namespace("shop", []);
    let mut held2 = Held::default();
    perform(&plan, &mut held2, "t");
    let plan2 = plan_namespace(
        &eval,
        &after,
        &[],
        &OwnerIndex::new(),
        &held2,
        &APIS,
        "prod",
        now(),
    );
    assert!(!plan2.writes.is_empty());
    assert!(
        plan2
            .writes
            .iter()
            .all(|w| matches!(w, Write::DeleteReport { .. }))
    );
    assert_eq!(
        plan2.writes.len(),
        held2
            .reports
            .values()
            .flat_map(|m| m.values())
            .map(|m| m.len())
            .sum::<usize>()
    );
}
