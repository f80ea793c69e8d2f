use super::*;
use crate::facts::PodFacts;
use crate::operator::testkit::{later, latest, now, policy, set};
use crate::score::store::PodStore;
use crate::testing::pod;

fn shop() -> PolicySet {
    set(&[("shop", "p", latest())])
}

const APIS: [ReportApi; 1] = [ReportApi::WgPolicy];

/// Plans shop for pods on `images` under `set`.
fn plan_shop(
    images: &[&str],
    set: &PolicySet,
    policies: &[PolicyState<'_>],
    held: &Held,
    at: Timestamp,
) -> NamespacePlan {
    let mut store = PodStore::new();
    for (i, image) in images.iter().enumerate() {
        let mut f: PodFacts = pod(&format!("pod-{i}"))
            .ns("shop")
            .image(image)
            .status("Running", 0)
            .facts();
        f.uid = Some(format!("uid-{i}"));
        store.apply(f, set, at);
    }
    let eval = store.evaluate("shop", set, at);
    plan_namespace(
        &eval,
        set,
        policies,
        &OwnerIndex::new(),
        held,
        &APIS,
        "prod",
        at,
    )
}

/// Applies a plan's writes to `held` and returns the status written, as the cluster would.
fn perform(plan: &NamespacePlan, held: &mut Held, at: Timestamp) -> Option<DevOpsPolicyStatus> {
    let mut status = None;
    for (i, w) in plan.writes.iter().enumerate() {
        match w {
            Write::Status { status: s, .. } => status = Some((**s).clone()),
            Write::AuditResult { policy, digest, .. } => held
                .audits
                .entry(("shop".into(), policy.clone()))
                .or_default()
                .push(AuditRecord {
                    name: format!("{policy}-{at}-{i}"),
                    created: at,
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

fn kinds(plan: &NamespacePlan) -> Vec<&'static str> {
    plan.writes
        .iter()
        .map(|w| match w {
            Write::Status { .. } => "status",
            Write::AuditResult { .. } => "audit",
            Write::DeleteAuditResult { .. } => "prune",
            Write::ApplyReport { .. } => "report",
            Write::DeleteReport { .. } => "delete-report",
        })
        .collect()
}

#[test]
fn a_new_policy_gets_a_status_an_audit_result_and_reports() {
    let held = Held::default();
    let plan = plan_shop(
        &["nginx:latest", "nginx:1.27"],
        &shop(),
        &[policy(None, None, 10)],
        &held,
        now(),
    );
    assert_eq!(kinds(&plan), ["status", "audit", "report", "report"]);
    assert_eq!(plan.statuses[0].1.violations, Some(1));
}

#[test]
fn a_quiet_namespace_plans_no_writes_at_the_next_resync() {
    let images = ["nginx:latest", "nginx:1.27"];
    let mut held = Held::default();
    let first = plan_shop(&images, &shop(), &[policy(None, None, 10)], &held, now());
    let status = perform(&first, &mut held, now());
    let again = plan_shop(
        &images,
        &shop(),
        &[policy(status.as_ref(), None, 10)],
        &held,
        later(),
    );
    assert!(again.writes.is_empty(), "{:?}", again.writes);
}

#[test]
fn a_change_writes_a_new_audit_result_and_retention_prunes_the_oldest() {
    let mut held = Held::default();
    let mut status = None;
    for round in 0..5 {
        let images: Vec<&str> = (0..=round).map(|_| "nginx:latest").collect();
        let plan = plan_shop(
            &images,
            &shop(),
            &[policy(status.as_ref(), None, 3)],
            &held,
            now(),
        );
        // Five results within one second: ordered by their evaluation time, not names.
        let at = now() + jiff::SignedDuration::from_millis(100 * round);
        status = perform(&plan, &mut held, at).or(status);
    }
    let kept = &held.audits[&("shop".to_owned(), "p".to_owned())];
    assert_eq!(kept.len(), 3);
    let mut created: Vec<i128> = kept
        .iter()
        .map(|r| r.created.duration_since(now()).as_millis())
        .collect();
    created.sort();
    assert_eq!(created, [200, 300, 400]);
}

#[test]
fn reports_of_vanished_workloads_and_of_unpoliced_namespaces_are_deleted() {
    let mut held = Held::default();
    let stale = ReportKey {
        api: ReportApi::WgPolicy,
        namespace: "shop".into(),
        name: "kube-devops-gone".into(),
    };
    held.set_report(&stale, Some(1));
    let plan = plan_shop(
        &["nginx:1.27"],
        &shop(),
        &[policy(None, None, 10)],
        &held,
        now(),
    );
    assert!(
        plan.writes
            .contains(&Write::DeleteReport { key: stale.clone() })
    );
    // The namespace's last policy went: every report there goes.
    let mut after = shop();
    after.set_namespace("shop", []);
    let mut held2 = Held::default();
    perform(&plan, &mut held2, now());
    let plan2 = plan_shop(&["nginx:1.27"], &after, &[], &held2, now());
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
            .names(ReportApi::WgPolicy, "shop")
            .map_or(0, |m| m.len())
    );
}
