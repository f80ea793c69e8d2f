//! Leadership end to end: only the leader writes (writes counted per replica by a
//! recording proxy in front of each), a standby continues after the leader is killed
//! without duplicating anything, a quiet cluster is written nothing over a full resync, and
//! a leader whose renewals hang stops acting before its lease could have expired, so two
//! replicas never act as leader at once.

mod common;

use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{Controller, FAST_LEASE, eventually, pod, policy, ready, server};
use kube_apiserver_test::{ApiServerHandle, RequestMatch};
use serde_json::{Value, json};

fn operator(kubeconfig: &std::path::Path, identity: &str, extra: &[&str]) -> Controller {
    let mut args = vec!["reconcile", "--debounce-ms", "200"];
    args.extend_from_slice(&FAST_LEASE);
    args.extend_from_slice(extra);
    Controller::command(kubeconfig, identity, &args)
}

fn status(h: &ApiServerHandle) -> Option<Value> {
    h.get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")
        .and_then(|p| p.get("status").cloned())
}

fn audit_results(h: &ApiServerHandle) -> usize {
    h.list("devops.stochastic.io/v1", "PolicyAuditResult", Some("shop"))
        .len()
}

/// A server with pods and a policy in `shop`.
async fn cluster() -> ApiServerHandle {
    let h = server().await;
    h.create(pod("shop", "web", "nginx:latest", true)).unwrap();
    h.create(pod("shop", "db", "postgres:16", false)).unwrap();
    h.create(policy(
        "shop",
        "p",
        json!({"forbidLatestTag": true, "requireLivenessProbe": true}),
    ))
    .unwrap();
    h
}

/// Two replicas, each behind its own proxy; returns them as (leader, standby).
async fn two(
    h: &ApiServerHandle,
    dir: &std::path::Path,
    extra: &[&str],
) -> ((Controller, Proxy), (Controller, Proxy)) {
    let pa = Proxy::start(h.kubeconfig_path(), dir, "a").await;
    let pb = Proxy::start(h.kubeconfig_path(), dir, "b").await;
    let a = operator(&pa.kubeconfig, "replica-a", extra);
    let b = operator(&pb.kubeconfig, "replica-b", extra);
    let a_leads = eventually(Duration::from_secs(20), "one leader", || {
        let (la, lb) = (a.leader()?, b.leader()?);
        (la != lb).then_some(la)
    })
    .await;
    if a_leads {
        ((a, pa), (b, pb))
    } else {
        ((b, pb), (a, pa))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_a_killed_leaders_standby_continues_without_duplicates() {
    let h = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let ((leader, leader_proxy), (standby, standby_proxy)) = two(&h, dir.path(), &[]).await;
    ready(&standby).await;
    eventually(Duration::from_secs(10), "status and a result", || {
        (status(&h)?["podsScanned"] == 2 && audit_results(&h) == 1).then_some(())
    })
    .await;
    h.create(pod("shop", "api", "redis", false)).unwrap();
    eventually(Duration::from_secs(10), "the change written", || {
        (status(&h)?["podsScanned"] == 3 && audit_results(&h) == 2).then_some(())
    })
    .await;
    assert!(
        !leader_proxy.operator_writes().is_empty(),
        "the leader wrote"
    );
    assert!(
        standby_proxy.operator_writes().is_empty(),
        "the standby wrote: {:?}",
        standby_proxy.operator_writes()
    );
    // The standby keeps its state warm: it evaluates the same policy.
    let series = "kube_devops_policy_violations{namespace=\"shop\",policy=\"p\"}";
    eventually(Duration::from_secs(10), "the standby's metrics", || {
        (standby.metric(series)? == leader.metric(series)?).then_some(())
    })
    .await;

    let results_before = audit_results(&h);
    leader.signal("-KILL");
    let led = eventually(Duration::from_secs(15), "the standby leads", || {
        standby.leader()?.then(Instant::now)
    })
    .await;
    // Leading, it reconciles every namespace against its warm state: nothing changed, so
    // nothing is duplicated (give it a few reconcile rounds).
    eventually(Duration::from_secs(10), "a reconcile as leader", || {
        (led.elapsed() > Duration::from_secs(2)).then_some(())
    })
    .await;
    assert_eq!(
        audit_results(&h),
        results_before,
        "no duplicate audit result"
    );
    assert!(
        standby_proxy
            .operator_writes()
            .iter()
            .all(|w| !w.path.contains("policyauditresults")),
        "{:?}",
        standby_proxy.operator_writes()
    );
    // And it continues: a change is written by the new leader.
    h.create(pod("shop", "cache", "redis:7", true)).unwrap();
    eventually(
        Duration::from_secs(10),
        "the new leader writes the change",
        || {
            (status(&h)?["podsScanned"] == 4 && audit_results(&h) == results_before + 1)
                .then_some(())
        },
    )
    .await;
    assert!(!standby_proxy.operator_writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_cluster_is_written_nothing_over_a_full_resync_period() {
    let h = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(h.kubeconfig_path(), dir.path(), "solo").await;
    let c = operator(&proxy.kubeconfig, "solo", &["--resync-period", "5"]);
    ready(&c).await;
    eventually(
        Duration::from_secs(15),
        "the first reconcile written",
        || (status(&h)?["podsScanned"] == 2 && audit_results(&h) == 1).then_some(()),
    )
    .await;
    // Let the echo of the first writes settle, then watch a full resync period and more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (writes, reconciles) = (
        proxy.operator_writes().len(),
        c.metric("kube_devops_policy_reconcile_total").unwrap(),
    );
    tokio::time::sleep(Duration::from_secs(7)).await;
    let later = c.metric("kube_devops_policy_reconcile_total").unwrap();
    assert!(later > reconciles, "a resync ran ({reconciles} -> {later})");
    let new: Vec<_> = proxy.operator_writes().into_iter().skip(writes).collect();
    assert!(new.is_empty(), "writes on a quiet cluster: {new:?}");
    assert_eq!(audit_results(&h), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_on_a_healthy_api_keeps_its_lease_without_stepping_down() {
    let h = cluster().await;
    let c = operator(h.kubeconfig_path(), "solo", &[]);
    eventually(Duration::from_secs(20), "leadership", || {
        c.leader()?.then_some(())
    })
    .await;
    // Several renewal validities (two thirds of the 6 s lease) pass with every renewal
    // answered: leadership never drops and the lease never changes hands.
    for _ in 0..24 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(c.leader(), Some(true), "{}", c.log_text());
    }
    assert!(
        !c.log_text().contains("stepping down"),
        "a healthy leader stepped down: {}",
        c.log_text()
    );
    let lease = h
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            "kube-devops",
            "kube-devops-leader",
        )
        .unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_renewals_hang_stops_before_its_lease_could_expire() {
    let h = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(h.kubeconfig_path(), dir.path(), "solo").await;
    let c = operator(&proxy.kubeconfig, "solo", &[]);
    eventually(Duration::from_secs(20), "leadership", || {
        c.leader()?.then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "a status", || status(&h)).await;
    // Every lease call from now on hangs for 30 s (a renewal that neither fails nor
    // succeeds); meanwhile pods change, so the operator has something to write.
    let hung = Instant::now();
    h.delay_next(
        RequestMatch::any().resource("leases"),
        10_000,
        Duration::from_secs(30),
    );
    h.create(pod("shop", "api", "redis", false)).unwrap();
    // The lease was renewed before `hung`, so it expires at most 6 s after it.
    let stepped = eventually(Duration::from_secs(6), "step-down within the lease", || {
        (!c.leader()?).then(Instant::now)
    })
    .await;
    let late: Vec<_> = proxy
        .operator_writes()
        .into_iter()
        .filter(|w| w.at > stepped)
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(late.is_empty(), "writes after stepping down: {late:?}");
    assert!(
        proxy
            .operator_writes()
            .iter()
            .all(|w| w.at < hung + Duration::from_secs(6)),
        "a write after the lease could have expired: {:?}",
        proxy.operator_writes()
    );
    h.clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_lead_at_once_when_the_leaders_renewals_hang() {
    let h = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let ((a, pa), (b, pb)) = two(&h, dir.path(), &[]).await;
    eventually(Duration::from_secs(10), "a status", || status(&h)).await;
    // The leader's lease calls stop getting through; the standby's still do.
    pa.hold(Some("/leases"));
    let held = Instant::now();
    let mut samples = 0;
    let took_over = loop {
        let (la, lb) = (a.leader(), b.leader());
        if let (Some(la), Some(lb)) = (la, lb) {
            samples += 1;
            assert!(!(la && lb), "both replicas lead after {:?}", held.elapsed());
            if lb {
                break Instant::now();
            }
        }
        assert!(
            held.elapsed() < Duration::from_secs(20),
            "the standby never took over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(samples > 10);
    // Writes never overlap: the old leader's last one precedes the new leader's first.
    h.create(pod("shop", "api", "redis", false)).unwrap();
    eventually(Duration::from_secs(10), "the new leader writes", || {
        (status(&h)?["podsScanned"] == 3).then_some(())
    })
    .await;
    let last_a = pa.operator_writes().iter().map(|w| w.at).max();
    let first_b = pb.operator_writes().iter().map(|w| w.at).min().unwrap();
    assert!(first_b >= took_over - Duration::from_millis(300));
    if let Some(last_a) = last_a {
        assert!(
            last_a < first_b,
            "the old leader wrote after the new one started"
        );
    }
    pa.hold(None);
}
