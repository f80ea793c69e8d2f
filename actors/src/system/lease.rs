//! LeaseActor: leader election on a `coordination.k8s.io` Lease.
//!
//! In: the client, the lease name and namespace, this replica's identity (its pod name) and
//! client-go timings. Out: [`LeadershipChanged`] to every writer and the `kube_devops_leader`
//! gauge. Built on `kube-lease-manager` (server-side apply on the Lease, conflict-safe).
//! Two behaviours are added on top: when a renewal fails this replica steps down at once,
//! long before its lease could expire elsewhere (a leader that cannot renew must stop
//! writing), and on shutdown the lease is released so a standby takes over immediately.

use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::oneshot;

use super::messages::{LeadershipChanged, Shutdown};
use crate::metrics::Metrics;

/// Lease timings, in seconds (client-go's defaults: 15 s lease, renew well before expiry).
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Lease name.
    pub name: String,
    /// Namespace of the lease (the controller's own).
    pub namespace: String,
    /// This replica's unique identity.
    pub identity: String,
    /// Lease duration.
    pub duration: u64,
    /// Renew this long before the lease expires (must be below `duration`).
    pub renew_before: u64,
    /// Wait after a failed attempt before trying again.
    pub retry: Duration,
}

/// Leader election.
pub struct LeaseActor {
    client: Client,
    settings: LeaseSettings,
    subscribers: Vec<Recipient<LeadershipChanged>>,
    metrics: Metrics,
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

/// Leadership as seen by the election loop, sent back into the actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Observed {
    /// Whether this replica holds the lease.
    leader: bool,
}

impl LeaseActor {
    /// An election that tells `subscribers` about every change.
    pub fn new(
        client: Client,
        settings: LeaseSettings,
        subscribers: Vec<Recipient<LeadershipChanged>>,
        metrics: Metrics,
    ) -> Self {
        LeaseActor {
            client,
            settings,
            subscribers,
            metrics,
            stop: None,
        }
    }
}

async fn build(
    client: &Client,
    s: &LeaseSettings,
) -> Result<LeaseManager, kube_lease_manager::LeaseManagerError> {
    LeaseManagerBuilder::new(client.clone(), s.name.clone())
        .with_namespace(s.namespace.clone())
        .with_identity(s.identity.clone())
        .with_duration(s.duration)
        .with_grace(s.renew_before)
        .with_field_manager(format!("kube-devops-lease-{}", s.identity))
        .build()
        .await
}

/// A stream that yields whenever the Lease shows no holder: a released lease must be
/// taken over at once, not when its old expiry time comes round.
fn released(client: &Client, s: &LeaseSettings) -> impl futures::Stream<Item = ()> + Unpin + use<> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &s.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", s.name));
    watcher::watcher(api, config)
        .default_backoff()
        .filter_map(|event| {
            let free = match event {
                Ok(watcher::Event::Apply(lease) | watcher::Event::InitApply(lease)) => lease
                    .spec
                    .and_then(|spec| spec.holder_identity)
                    .is_none_or(|h| h.is_empty()),
                Ok(watcher::Event::Delete(_)) => true,
                _ => false,
            };
            futures::future::ready(free.then_some(()))
        })
        .boxed()
}

/// The election loop: runs until asked to stop, then releases the lease.
async fn elect(
    client: Client,
    settings: LeaseSettings,
    me: Addr<LeaseActor>,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let mut leader = false;
    let mut free = released(&client, &settings);
    loop {
        let manager = tokio::select! {
            built = build(&client, &settings) => match built {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the lease; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(settings.retry) => continue,
                        done = &mut stop => { let _ = done.map(|d| d.send(())); return; }
                    }
                }
            },
            done = &mut stop => { let _ = done.map(|d| d.send(())); return; }
        };
        // A fresh manager starts as "not leader"; it reports true once it holds the lease.
        loop {
            tokio::select! {
                changed = manager.changed() => match changed {
                    Ok(now_leader) => {
                        leader = now_leader;
                        me.do_send(Observed { leader });
                    }
                    Err(e) => {
                        // Renewal or read failed: stop writing now, then rebuild the manager
                        // (it re-reads the lease and re-acquires it if it is still ours).
                        tracing::warn!(error = %e, "lease renewal failed; stepping down");
                        if leader {
                            leader = false;
                            me.do_send(Observed { leader });
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(settings.retry) => break,
                            done = &mut stop => {
                                let _ = manager.release().await;
                                let _ = done.map(|d| d.send(()));
                                return;
                            }
                        }
                    }
                },
                Some(()) = free.next(), if !leader => {
                    // The holder let go: start over with a fresh manager, which sees the
                    // lease free and takes it now.
                    tracing::debug!("lease released by its holder; taking over");
                    break;
                }
                done = &mut stop => {
                    if let Err(e) = manager.release().await {
                        tracing::warn!(error = %e, "cannot release the lease; it will expire");
                    } else {
                        tracing::info!("lease released");
                    }
                    let _ = done.map(|d| d.send(()));
                    return;
                }
            }
        }
    }
}

impl Actor for LeaseActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.metrics.leader.set(0);
        let (tx, rx) = oneshot::channel();
        self.stop = Some(tx);
        let fut = elect(
            self.client.clone(),
            self.settings.clone(),
            ctx.address(),
            rx,
        );
        ctx.spawn(fut.into_actor(self));
    }
}

impl Handler<Observed> for LeaseActor {
    type Result = ();

    fn handle(&mut self, msg: Observed, _: &mut Context<Self>) {
        self.metrics.leader.set(i64::from(msg.leader));
        tracing::info!(identity = %self.settings.identity, leader = msg.leader, "leadership changed");
        for s in &self.subscribers {
            // Leadership changes are rare and must not be lost: wait for delivery.
            let s = s.clone();
            actix::spawn(async move {
                let _ = s.send(LeadershipChanged { leader: msg.leader }).await;
            });
        }
    }
}

impl Handler<Shutdown> for LeaseActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.metrics.leader.set(0);
        // Writers stop before the lease is released.
        for s in &self.subscribers {
            let _ = s.try_send(LeadershipChanged { leader: false });
        }
        let stop = self.stop.take();
        Box::pin(async move {
            if let Some(stop) = stop {
                let (done_tx, done_rx) = oneshot::channel();
                if stop.send(done_tx).is_ok() {
                    let _ = tokio::time::timeout(Duration::from_secs(5), done_rx).await;
                }
            }
        })
    }
}
