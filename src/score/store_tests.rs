use super::*;
use crate::checks::CheckId;
use crate::facts::PodFacts;
use crate::policy::{DevOpsPolicySpec, EffectivePolicy, NamespaceExclusions};
use crate::testing::pod;

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn with_uid(mut f: PodFacts, uid: &str) -> PodFacts {
    f.uid = Some(uid.to_owned());
    f
}

fn replica(ns: &str, name: &str, image: &str) -> PodFacts {
    with_uid(
        pod(name)
            .ns(ns)
            .label("app", "web")
            .image(image)
            .owned_by("ReplicaSet", "web-1")
            .status("Running", 0)
            .facts(),
        &format!("uid-{ns}-{name}"),
    )
}

fn defaults() -> PolicySet {
    PolicySet::new(
        EffectivePolicy::default(),
        "default",
        NamespaceExclusions::default(),
    )
}

/// The score of `pods` judged one by one, without the store.
fn direct(pods: &[PodFacts], policies: &PolicySet) -> Option<Score> {
    let mut agg = Aggregate::default();
    for f in pods {
        let policy = policies.resolve(&f.object.namespace).policy().unwrap();
        agg.add(pod_score(&evaluate(f, policy, now())).penalty);
    }
    agg.score()
}

#[test]
fn stored_pods_score_as_if_judged_one_by_one() {
    let policies = defaults();
    let pods = vec![
        replica("shop", "a", "nginx:latest"),
        replica("shop", "b", "nginx:1.27"),
        with_uid(
            pod("c")
                .ns("shop")
                .without_probes()
                .status("Running", 9)
                .facts(),
            "c",
        ),
    ];
    let mut store = PodStore::new();
    for f in &pods {
        store.apply(f.clone(), &policies, now());
    }
    assert_eq!(store.len(), 3);
    assert_eq!(store.namespace("shop"), direct(&pods, &policies));
    assert_eq!(store.cluster(), direct(&pods, &policies));
}

#[test]
fn the_facts_a_store_gives_back_judge_exactly_as_the_originals() {
    let policies = defaults();
    let original = with_uid(
        pod("slow")
            .ns("shop")
            .image("nginx:latest")
            .without_liveness()
            .status("Pending", 7)
            .created("2026-05-31T23:00:00Z")
            .facts(),
        "slow",
    );
    let mut store = PodStore::new();
    store.apply(original.clone(), &policies, now());
    let eval = store.evaluate("shop", &policies, now());
    let policy = policies.resolve("shop").policy().unwrap();
    assert_eq!(eval.pods.len(), 1);
    assert_eq!(&*eval.pods[0].name, "slow");
    assert_eq!(eval.pods[0].findings, evaluate(&original, policy, now()));
    // Restarts and the pending time made it through.
    let checks: Vec<CheckId> = eval.pods[0].findings.iter().map(|f| f.check).collect();
    assert!(checks.contains(&CheckId::HighRestarts), "{checks:?}");
    assert!(checks.contains(&CheckId::LongPending), "{checks:?}");
}

#[test]
fn replicas_share_one_template_and_a_different_one_gets_its_own() {
    let policies = defaults();
    let mut store = PodStore::new();
    for i in 0..10 {
        store.apply(
            replica("shop", &format!("r{i}"), "nginx:1.27"),
            &policies,
            now(),
        );
    }
    assert_eq!(store.template_count(), 1);
    store.apply(replica("shop", "odd", "nginx:1.28"), &policies, now());
    assert_eq!(store.template_count(), 2);
    for i in 0..10 {
        store.delete(&format!("uid-shop-r{i}"));
    }
    store.delete("uid-shop-odd");
    assert!(store.is_empty());
    assert!(
        store.templates.is_empty(),
        "the sharing table empties with its pods"
    );
}

#[test]
fn excluded_and_terminated_pods_are_not_held() {
    let policies = defaults();
    let mut store = PodStore::new();
    assert_eq!(
        store.apply(replica("kube-system", "a", "x:1"), &policies, now()),
        None
    );
    let done = with_uid(pod("d").ns("shop").status("Succeeded", 0).facts(), "d");
    assert_eq!(store.apply(done, &policies, now()), None);
    // A held pod that terminates is forgotten.
    let running = with_uid(pod("e").ns("shop").status("Running", 0).facts(), "e");
    store.apply(running, &policies, now());
    let finished = with_uid(pod("e").ns("shop").status("Failed", 0).facts(), "e");
    let change = store.apply(finished, &policies, now()).unwrap();
    assert_eq!(change.after, None);
    assert!(store.is_empty());
    assert_eq!(
        store.namespace("shop"),
        None,
        "an emptied namespace has no score"
    );
}

#[test]
fn a_policy_change_re_judges_a_namespace_from_its_stored_facts() {
    let mut policies = defaults();
    let mut store = PodStore::new();
    let privileged = with_uid(
        pod("p")
            .ns("shop")
            .container_security(serde_json::json!({"privileged": true, "runAsNonRoot": true}))
            .status("Running", 0)
            .facts(),
        "p",
    );
    store.apply(privileged, &policies, now());
    assert_eq!(store.namespace("shop").unwrap().to_string(), "100.0");
    let spec = DevOpsPolicySpec {
        checks: Some(
            [("runAsPrivileged".to_owned(), Default::default())]
                .into_iter()
                .collect(),
        ),
        ..DevOpsPolicySpec::default()
    };
    policies.set_namespace("shop", [("strict", &spec)]);
    let eval = store.evaluate("shop", &policies, now());
    assert_eq!(eval.counted().count(), 1);
    assert!(store.namespace("shop").unwrap().value() < 100.0);
    assert_eq!(store.namespace("shop"), eval.score);
}

#[test]
fn retain_forgets_the_pods_a_relist_did_not_see() {
    let policies = defaults();
    let mut store = PodStore::new();
    for name in ["a", "b", "c"] {
        store.apply(replica("shop", name, "nginx:1.27"), &policies, now());
    }
    let gone = store.retain(|uid| uid != "uid-shop-b");
    assert_eq!(gone.len(), 1);
    assert_eq!(store.len(), 2);
    assert!(store.pod("uid-shop-b").is_none());
    // Slots are reused and positions stay consistent after removals.
    store.apply(replica("shop", "d", "nginx:1.27"), &policies, now());
    store.delete("uid-shop-a");
    let eval = store.evaluate("shop", &policies, now());
    let names: Vec<&str> = eval.pods.iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["c", "d"]);
}

#[test]
fn pending_pods_are_judged_again_as_time_passes() {
    let policies = defaults();
    let mut store = PodStore::new();
    let pending = with_uid(
        pod("p")
            .ns("shop")
            .status("Pending", 0)
            .created("2026-05-31T23:58:00Z")
            .facts(),
        "p",
    );
    store.apply(pending, &policies, now());
    assert!(store.recheck_pending(&policies, now()).is_empty());
    let later = now() + jiff::SignedDuration::from_secs(600);
    assert_eq!(store.recheck_pending(&policies, later).len(), 1);
    assert!(
        store
            .pod("p")
            .unwrap()
            .checks
            .contains(CheckId::LongPending)
    );
}

#[test]
fn siblings_evaluated_together_each_keep_their_own_restarts_and_phase() {
    let policies = defaults();
    let sibling = |name: &str, phase: &str, restarts: i32| {
        with_uid(
            pod(name)
                .ns("shop")
                .label("app", "web")
                .owned_by("ReplicaSet", "web-1")
                .status(phase, restarts)
                .created("2026-05-31T23:00:00Z")
                .facts(),
            name,
        )
    };
    let pods = [
        sibling("a", "Running", 9),
        sibling("b", "Running", 0),
        sibling("c", "Pending", 0),
        sibling("d", "Running", 4),
    ];
    let mut store = PodStore::new();
    for p in &pods {
        store.apply(p.clone(), &policies, now());
    }
    assert_eq!(store.template_count(), 1);
    let policy = policies.resolve("shop").policy().unwrap();
    let eval = store.evaluate("shop", &policies, now());
    for p in &pods {
        let got = eval
            .pods
            .iter()
            .find(|e| *e.name == *p.object.name)
            .unwrap();
        assert_eq!(
            got.findings,
            evaluate(p, policy, now()),
            "{}",
            p.object.name
        );
    }
}

#[test]
fn a_known_pod_that_changes_is_updated_in_place_with_its_counts_right() {
    let policies = defaults();
    let mut store = PodStore::new();
    store.apply(replica("shop", "a", "nginx:1.27"), &policies, now());
    store.apply(replica("shop", "b", "nginx:1.27"), &policies, now());
    // Restarts pile up on a, then a is rolled to :latest (a new template of its own).
    let mut restarted = replica("shop", "a", "nginx:1.27");
    restarted.containers[0].restart_count = Some(9);
    store.apply(restarted.clone(), &policies, now());
    let rolled = replica("shop", "a", "nginx:latest");
    store.apply(rolled.clone(), &policies, now());
    assert_eq!(store.len(), 2);
    assert_eq!(store.template_count(), 2);
    let b = replica("shop", "b", "nginx:1.27");
    assert_eq!(store.namespace("shop"), direct(&[rolled, b], &policies));
    // Moving namespace (a new pod with the same uid) leaves nothing behind.
    let mut moved = replica("blog", "a", "nginx:1.27");
    moved.uid = Some("uid-shop-a".into());
    store.apply(moved, &policies, now());
    store.delete("uid-shop-b");
    assert_eq!(store.namespace("shop"), None);
    assert_eq!(store.len(), 1);
}
