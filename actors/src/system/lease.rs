//! LeaseActor: leader election on a `coordination.k8s.io` Lease, and the
//! [`LeadershipGuard`] every writer asks before every write.
//!
//! In: the client, the lease name and namespace, this replica's identity (its pod name) and
//! client-go timings. Out: [`LeadershipChanged`] to every registered recipient, the
//! `kube_devops_leader` gauge, and the guard. Built on `kube-lease-manager` (server-side
//! apply on the Lease, conflict-safe), whose calls go through a client of their own that
//! gives each lease call a deadline and tells the guard the send time of every lease write
//! that left this replica the holder.
//!
//! Leadership is safe by the local clock: the guard holds "valid until" = send time of the
//! last successful renewal + two thirds of the lease duration (client-go's renew deadline),
//! measured on the monotonic clock. Another replica can take the lease only once the full
//! duration has passed since it saw that renewal, which it saw after it was sent, so a
//! replica that stops by "valid until" never overlaps a successor. Whatever a renewal call
//! is doing (failing, hanging), the guard refuses writes from that instant on, the gauge
//! drops and recipients are told. A failed renewal steps down at once; on shutdown the
//! lease is released so a standby takes over immediately.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::oneshot;

use super::messages::{LeadershipChanged, Shutdown};
use crate::metrics::Metrics;

/// How often leadership is re-checked against the guard's clock.
const GUARD_TICK: Duration = Duration::from_millis(200);

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

impl LeaseSettings {
    /// The deadline of one lease call: a third of the lease, at most 5 s.
    pub fn call_deadline(&self) -> Duration {
        (Duration::from_secs(self.duration) / 3).min(Duration::from_secs(5))
    }
}

/// Why a write may not go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotLeading {
    /// This replica does not hold the lease.
    #[error("this replica is not the leader")]
    Standby,
    /// It held the lease, but no renewal succeeded recently enough to be sure it still does.
    #[error("the lease may have expired: no renewal succeeded in time")]
    MayHaveExpired,
}

#[derive(Debug)]
struct GuardState {
    leader: AtomicBool,
    renewed: Mutex<Option<Instant>>,
    validity: Duration,
}

/// The local clock check before every write: cheap, synchronous, shared by every writer.
#[derive(Debug, Clone)]
pub struct LeadershipGuard {
    state: Arc<GuardState>,
}

impl LeadershipGuard {
    /// A guard for a lease of `duration`: a renewal holds for two thirds of it.
    pub fn new(duration: Duration) -> Self {
        LeadershipGuard {
            state: Arc::new(GuardState {
                leader: AtomicBool::new(false),
                renewed: Mutex::new(None),
                validity: duration * 2 / 3,
            }),
        }
    }

    /// A guard that always allows (a process that writes without electing, and tests).
    pub fn always() -> Self {
        let guard = Self::new(Duration::from_secs(u64::from(u32::MAX)));
        guard.set_leader(true);
        guard.renewed(Instant::now());
        guard
    }

    /// Ok when this replica leads and its last renewal is recent enough that the lease
    /// cannot have expired for anyone else.
    pub fn check(&self) -> Result<(), NotLeading> {
        if !self.state.leader.load(Ordering::Acquire) {
            return Err(NotLeading::Standby);
        }
        match self.valid_until() {
            Some(until) if Instant::now() < until => Ok(()),
            _ => Err(NotLeading::MayHaveExpired),
        }
    }

    /// Whether [`LeadershipGuard::check`] passes now.
    pub fn is_leading(&self) -> bool {
        self.check().is_ok()
    }

    /// Until when the last renewal holds.
    pub fn valid_until(&self) -> Option<Instant> {
        let renewed = *self.state.renewed.lock().ok()?;
        renewed.map(|at| at + self.state.validity)
    }

    fn renewed(&self, sent_at: Instant) {
        if let Ok(mut r) = self.state.renewed.lock() {
            // Responses can arrive out of order; keep the latest send time.
            *r = Some(r.map_or(sent_at, |prev| prev.max(sent_at)));
        }
    }

    fn set_leader(&self, leader: bool) {
        self.state.leader.store(leader, Ordering::Release);
    }
}

/// The lease manager's transport: the process's client, a deadline on every call, and the
/// guard told of every write that leaves `identity` the holder.
#[derive(Clone)]
struct LeaseCalls {
    client: Client,
    guard: LeadershipGuard,
    identity: String,
    deadline: Duration,
}

fn holds(body: &[u8], identity: &str) -> bool {
    serde_json::from_slice::<Lease>(body)
        .ok()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .is_some_and(|h| h == identity)
}

impl tower::Service<http::Request<kube::client::Body>> for LeaseCalls {
    type Response = http::Response<kube::client::Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Self::Response, kube::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), kube::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let write = matches!(
            *request.method(),
            http::Method::PATCH | http::Method::PUT | http::Method::POST
        );
        let this = self.clone();
        Box::pin(async move {
            let sent = Instant::now();
            let response = tokio::time::timeout(this.deadline, this.client.send(request))
                .await
                .map_err(|_| {
                    kube::Error::Service(
                        format!("lease call took longer than {:?}", this.deadline).into(),
                    )
                })??;
            if !(write && response.status().is_success()) {
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let bytes = tokio::time::timeout(this.deadline, body.collect_bytes())
                .await
                .map_err(|_| kube::Error::Service("lease response body timed out".into()))??;
            if holds(&bytes, &this.identity) {
                this.guard.renewed(sent);
            }
            Ok(http::Response::from_parts(
                parts,
                kube::client::Body::from(bytes),
            ))
        })
    }
}

/// Leader election.
pub struct LeaseActor {
    client: Client,
    settings: LeaseSettings,
    subscribers: Vec<Recipient<LeadershipChanged>>,
    metrics: Metrics,
    guard: LeadershipGuard,
    announced: bool,
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
    /// An election that tells `subscribers` about every change and keeps `guard` current.
    pub fn new(
        client: Client,
        settings: LeaseSettings,
        subscribers: Vec<Recipient<LeadershipChanged>>,
        guard: LeadershipGuard,
        metrics: Metrics,
    ) -> Self {
        LeaseActor {
            client,
            settings,
            subscribers,
            metrics,
            guard,
            announced: false,
            stop: None,
        }
    }

    /// Publishes leadership as the guard sees it, when it changed.
    fn announce(&mut self) {
        let leading = self.guard.is_leading();
        if leading == self.announced {
            return;
        }
        self.announced = leading;
        self.metrics.leader.set(i64::from(leading));
        tracing::info!(identity = %self.settings.identity, leader = leading, "leadership changed");
        for s in &self.subscribers {
            // Leadership changes are rare and must not be lost: wait for delivery.
            let s = s.clone();
            actix::spawn(async move {
                let _ = s.send(LeadershipChanged { leader: leading }).await;
            });
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
    let config =
        crate::system::liveness::watch_config().fields(&format!("metadata.name={}", s.name));
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

/// Resolves once the guard's validity has ended without a renewal extending it. The
/// deadline is read again after every sleep: a renewal that succeeds while this waits
/// moves it on (reading it once, at the start, made a healthy leader step down every
/// two thirds of a lease). A guard that is already stale (or was never renewed) when
/// this starts gets `patience` for the renewal a fresh lease manager makes first, so a
/// holder that reports leadership before renewing is not stepped down in a loop.
async fn expiry(guard: &LeadershipGuard, patience: Duration) {
    let mut first = true;
    loop {
        let valid = guard.valid_until().filter(|until| Instant::now() < *until);
        match valid {
            Some(until) => tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await,
            None if first => tokio::time::sleep(patience).await,
            None => return,
        }
        first = false;
    }
}

/// The election loop: runs until asked to stop, then releases the lease.
async fn elect(
    lease_client: Client,
    watch_client: Client,
    settings: LeaseSettings,
    guard: LeadershipGuard,
    me: Addr<LeaseActor>,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let mut leader = false;
    let mut free = released(&watch_client, &settings);
    loop {
        let manager = tokio::select! {
            built = build(&lease_client, &settings) => match built {
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
                        // Renewal or read failed or ran out of time: stop writing now, then
                        // rebuild the manager (it re-reads the lease and re-acquires it if it
                        // is still ours).
                        tracing::warn!(error = %e, "lease renewal failed; stepping down");
                        if leader {
                            leader = false;
                            me.do_send(Observed { leader });
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(settings.retry) => break,
                            done = &mut stop => {
                                let _ = manager.release().await;
                                let _ = done.map(|d| d.send(())); return;
                            }
                        }
                    }
                },
                _ = expiry(&guard, settings.call_deadline()), if leader => {
                    // No renewal succeeded in time, whatever the call in flight is doing.
                    tracing::warn!("lease not renewed in time; stepping down");
                    leader = false;
                    me.do_send(Observed { leader });
                    break;
                }
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
        self.announced = false;
        self.guard.set_leader(false);
        ctx.run_interval(GUARD_TICK, |act, _| act.announce());
        let (tx, rx) = oneshot::channel();
        self.stop = Some(tx);
        let calls = LeaseCalls {
            client: self.client.clone(),
            guard: self.guard.clone(),
            identity: self.settings.identity.clone(),
            deadline: self.settings.call_deadline(),
        };
        let lease_client = Client::new(calls, self.settings.namespace.clone());
        let fut = elect(
            lease_client,
            self.client.clone(),
            self.settings.clone(),
            self.guard.clone(),
            ctx.address(),
            rx,
        );
        ctx.spawn(fut.into_actor(self));
    }
}

impl Supervised for LeaseActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!("LeaseActor restarting; not leading until the lease is renewed");
        self.guard.set_leader(false);
        self.announce();
        self.stop = None;
    }
}

impl Handler<Observed> for LeaseActor {
    type Result = ();

    fn handle(&mut self, msg: Observed, _: &mut Context<Self>) {
        self.guard.set_leader(msg.leader);
        self.announce();
    }
}

impl Handler<Shutdown> for LeaseActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        // Writers stop before the lease is released.
        self.guard.set_leader(false);
        self.announce();
        self.metrics.leader.set(0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_allows_only_a_leader_within_its_validity() {
        let guard = LeadershipGuard::new(Duration::from_secs(15));
        assert_eq!(guard.check(), Err(NotLeading::Standby));
        guard.set_leader(true);
        assert_eq!(
            guard.check(),
            Err(NotLeading::MayHaveExpired),
            "never renewed"
        );
        guard.renewed(Instant::now());
        assert_eq!(guard.check(), Ok(()));
        // A renewal sent 11 s ago holds for 10 s only: not sure any more.
        let old = Instant::now() - Duration::from_secs(11);
        let stale = LeadershipGuard::new(Duration::from_secs(15));
        stale.set_leader(true);
        stale.renewed(old);
        assert_eq!(stale.check(), Err(NotLeading::MayHaveExpired));
        // A late answer to an older renewal never moves validity back.
        guard.renewed(old);
        assert_eq!(guard.check(), Ok(()));
        guard.set_leader(false);
        assert_eq!(guard.check(), Err(NotLeading::Standby));
    }

    #[test]
    fn a_lease_response_counts_only_when_it_names_this_replica() {
        let body = |holder: &str| {
            serde_json::to_vec(&serde_json::json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "l"}, "spec": {"holderIdentity": holder}
            }))
            .unwrap()
        };
        assert!(holds(&body("me"), "me"));
        assert!(!holds(&body("other"), "me"));
        assert!(!holds(b"not json", "me"));
    }
}
