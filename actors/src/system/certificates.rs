//! The controller's own webhook certificates (when cert-manager is not used).
//!
//! In: the certificate Secret (watched by every replica), the webhook configuration, the
//! leadership guard and a tick. Out: every replica serves the pair the Secret holds (the
//! TLS reloader's `install_pem` hook, no restart); the leader alone creates the Secret when
//! it is missing, renews the serving certificate (or the CA) ahead of expiry as
//! `kube_devops::certificates::plan` says, and keeps the ValidatingWebhookConfiguration's
//! `caBundle` equal to the CA. Nothing is regenerated while the held pair is good, so an
//! upgrade or a restart keeps the certificates.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use kube_devops::certificates::{Lifetimes, Plan, plan};

use super::lease::LeadershipGuard;
use super::messages::Shutdown;
use crate::http::issued::{PemSet, inspect, issue};
use crate::http::tls::CertReloader;

/// Keys of the certificate Secret (`kubernetes.io/tls`, plus the CA and its key).
const CA_CRT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const TLS_CRT: &str = "tls.crt";
const TLS_KEY: &str = "tls.key";

/// What the controller keeps and where.
#[derive(Debug, Clone)]
pub struct CertificateSettings {
    /// The Secret holding the CA and the serving pair.
    pub secret: String,
    /// The controller's namespace (the Secret's and the webhook Service's).
    pub namespace: String,
    /// The webhook Service the serving certificate names.
    pub service: String,
    /// The ValidatingWebhookConfiguration whose `caBundle` is kept current.
    pub webhook_configuration: String,
    /// Lifetimes of what is issued.
    pub lifetimes: Lifetimes,
}

impl CertificateSettings {
    /// How often the leader looks: a quarter of the renewal margin, between 1 and 30 s.
    fn tick(&self) -> Duration {
        let quarter = self.lifetimes.renew_before.as_secs() / 4;
        Duration::from_secs(u64::try_from(quarter).unwrap_or(0).clamp(1, 30))
    }
}

/// Keeps the certificates (leader) and serves what the Secret holds (every replica).
pub struct CertificateActor {
    client: Client,
    settings: CertificateSettings,
    reloader: Arc<CertReloader>,
    guard: LeadershipGuard,
    busy: bool,
}

impl CertificateActor {
    /// An actor for `settings`, installing pairs into `reloader`.
    pub fn new(
        client: Client,
        settings: CertificateSettings,
        reloader: Arc<CertReloader>,
        guard: LeadershipGuard,
    ) -> Self {
        CertificateActor {
            client,
            settings,
            reloader,
            guard,
            busy: false,
        }
    }
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

fn held_set(secret: &Secret) -> Option<PemSet> {
    Some(PemSet {
        ca_cert: text(secret, CA_CRT)?,
        ca_key: text(secret, CA_KEY)?,
        tls_cert: text(secret, TLS_CRT)?,
        tls_key: text(secret, TLS_KEY)?,
    })
}

fn secret_of(s: &CertificateSettings, set: &PemSet, previous: Option<&Secret>) -> Secret {
    let data = [
        (CA_CRT, &set.ca_cert),
        (CA_KEY, &set.ca_key),
        (TLS_CRT, &set.tls_cert),
        (TLS_KEY, &set.tls_key),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
    .collect::<BTreeMap<_, _>>();
    let labels = BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_owned(),
        "kube-devops".to_owned(),
    )]);
    Secret {
        metadata: ObjectMeta {
            name: Some(s.secret.clone()),
            namespace: Some(s.namespace.clone()),
            labels: Some(labels),
            resource_version: previous.and_then(|p| p.resource_version()),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// One look by the leader: renew what is due, then bring the `caBundle` in line.
async fn keep(
    client: Client,
    s: CertificateSettings,
    guard: LeadershipGuard,
) -> Result<(), kube::Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &s.namespace);
    let current = secrets.get_opt(&s.secret).await?;
    let held = current.as_ref().and_then(held_set);
    let inspected = held
        .as_ref()
        .and_then(|set| inspect(set, &s.service, &s.namespace));
    let set = match plan(inspected.as_ref(), Timestamp::now(), &s.lifetimes) {
        Plan::Keep { .. } => held,
        due => {
            let ca = match (&due, &held) {
                (Plan::NewServing, Some(h)) => Some((h.ca_cert.as_str(), h.ca_key.as_str())),
                _ => None,
            };
            let issued = match issue(&s.service, &s.namespace, ca, Timestamp::now(), &s.lifetimes) {
                Ok(set) => set,
                Err(error) => {
                    tracing::error!(%error, "cannot issue the webhook certificate");
                    return Ok(());
                }
            };
            if guard.check().is_err() {
                return Ok(());
            }
            let object = secret_of(&s, &issued, current.as_ref());
            let pp = PostParams {
                field_manager: Some("kube-devops".to_owned()),
                ..PostParams::default()
            };
            match &current {
                Some(_) => secrets.replace(&s.secret, &pp, &object).await?,
                None => secrets.create(&pp, &object).await?,
            };
            tracing::info!(secret = %s.secret, plan = ?due, "webhook certificate issued");
            Some(issued)
        }
    };
    let Some(set) = set else {
        return Ok(());
    };
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client);
    let Some(config) = configs.get_opt(&s.webhook_configuration).await? else {
        tracing::debug!(name = %s.webhook_configuration, "no webhook configuration to keep the caBundle of");
        return Ok(());
    };
    let ops: Vec<serde_json::Value> = config
        .webhooks
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, w)| {
            w.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice())
                != Some(set.ca_cert.as_bytes())
        })
        .map(|(i, _)| {
            serde_json::json!({
                "op": "add",
                "path": format!("/webhooks/{i}/clientConfig/caBundle"),
                "value": ByteString(set.ca_cert.as_bytes().to_vec()),
            })
        })
        .collect();
    if ops.is_empty() || guard.check().is_err() {
        return Ok(());
    }
    let patch: json_patch::Patch = match serde_json::from_value(serde_json::Value::Array(ops)) {
        Ok(p) => p,
        Err(error) => {
            tracing::error!(%error, "cannot build the caBundle patch");
            return Ok(());
        }
    };
    configs
        .patch(
            &s.webhook_configuration,
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await?;
    tracing::info!(name = %s.webhook_configuration, "webhook caBundle updated");
    Ok(())
}

impl CertificateActor {
    fn look(&mut self, ctx: &mut Context<Self>) {
        if self.busy || !self.guard.is_leading() {
            return;
        }
        self.busy = true;
        let fut = keep(
            self.client.clone(),
            self.settings.clone(),
            self.guard.clone(),
        );
        ctx.spawn(fut.into_actor(self).map(|result, act, _| {
            act.busy = false;
            if let Err(error) = result {
                tracing::warn!(%error, "cannot keep the webhook certificate; retrying");
            }
        }));
    }
}

impl Actor for CertificateActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.settings.namespace);
        let config = crate::system::liveness::watch_config()
            .fields(&format!("metadata.name={}", self.settings.secret));
        ctx.add_stream(watcher::watcher(api, config).default_backoff().boxed());
        ctx.run_interval(self.settings.tick(), |act, ctx| act.look(ctx));
    }
}

impl StreamHandler<Result<watcher::Event<Secret>, watcher::Error>> for CertificateActor {
    fn handle(
        &mut self,
        item: Result<watcher::Event<Secret>, watcher::Error>,
        _: &mut Context<Self>,
    ) {
        match item {
            Ok(watcher::Event::Apply(secret) | watcher::Event::InitApply(secret)) => {
                if let (Some(cert), Some(key)) = (text(&secret, TLS_CRT), text(&secret, TLS_KEY)) {
                    self.reloader.install_pem(cert.as_bytes(), key.as_bytes());
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "certificate Secret watch failed; retrying"),
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<Shutdown> for CertificateActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Supervised for CertificateActor {}
