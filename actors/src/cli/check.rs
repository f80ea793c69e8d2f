//! `check`: connectivity, server version, and an access review of every verb the mode in use
//! needs (the table in `kube_devops::rbac`): the controller's (with enforcement's writes
//! when asked for; the lease in the controller's namespace) or `analyze`'s. In: flags and a
//! client. Out: a report on stdout; exit 1 when anything fails.

use clap::Args;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};
use kube_devops::rbac::{Mode, Named, Permission, Scope, checks};

use super::ClusterTarget;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Review what `kube-devops analyze` of a live cluster reads, instead of what the
    /// controller uses.
    #[arg(long, conflicts_with_all = ["enforcement", "namespace", "external_certificates"])]
    pub analyze: bool,
    /// Include enforcement's write verbs on workloads (granted when enforcement is enabled).
    #[arg(long)]
    pub enforcement: bool,
    /// The webhook's certificates come from cert-manager or a given CA: leave out the
    /// verbs the controller needs to keep them itself (`run --manage-certificates`).
    #[arg(long)]
    pub external_certificates: bool,
    /// The webhook certificate Secret the controller keeps (reviewed by name).
    #[arg(long, default_value = "kube-devops-webhook-tls")]
    pub tls_secret: String,
    /// The ValidatingWebhookConfiguration whose caBundle it keeps (reviewed by name).
    #[arg(long, default_value = "kube-devops")]
    pub webhook_configuration: String,
    /// The controller's namespace, where its lease is reviewed. Default: $POD_NAMESPACE,
    /// the service account's namespace, then the context's namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
}

/// The verdict on one verb.
struct Review {
    verb: &'static str,
    permission: &'static Permission,
    namespace: Option<String>,
    name: Option<String>,
    allowed: Result<bool, String>,
}

async fn review(
    client: &Client,
    verb: &'static str,
    p: &'static Permission,
    namespace: Option<String>,
    name: Option<String>,
) -> Review {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let ssar = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(p.group.to_owned()),
                resource: Some(p.resource.to_owned()),
                subresource: p.subresource.map(str::to_owned),
                namespace: namespace.clone(),
                name: name.clone(),
                verb: Some(verb.to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let allowed = match api.create(&PostParams::default(), &ssar).await {
        Ok(r) => Ok(r.status.is_some_and(|s| s.allowed)),
        Err(e) => Err(e.to_string()),
    };
    Review {
        verb,
        permission: p,
        namespace,
        name,
        allowed,
    }
}

/// `pods`, `devopspolicies/status.devops.stochastic.io`, with `/<name>` for one object
/// and ` in <namespace>` when the review is namespaced.
fn resource_name(p: &Permission, namespace: Option<&str>, name: Option<&str>) -> String {
    let mut out = p.display_name();
    if let Some(name) = name {
        out = format!("{out}/{name}");
    }
    if let Some(ns) = namespace {
        out = format!("{out} in {ns}");
    }
    out
}

pub(super) fn run(args: CheckArgs, target: &ClusterTarget) -> anyhow::Result<u8> {
    let names = (args.tls_secret.clone(), args.webhook_configuration.clone());
    let (mode, namespace) = if args.analyze {
        (Mode::Analyze, None)
    } else {
        let ns = super::controller::own_namespace(args.namespace, target);
        (
            Mode::Controller {
                enforcement: args.enforcement,
                certificates: !args.external_certificates,
            },
            Some(ns),
        )
    };
    super::block_on(async { review_all(target.connect().await?, mode, namespace, &names).await })?
}

async fn review_all(
    client: Client,
    mode: Mode,
    controller_namespace: Option<String>,
    (tls_secret, webhook_configuration): &(String, String),
) -> anyhow::Result<u8> {
    let version = match client.apiserver_version().await {
        Ok(v) => v,
        Err(e) => {
            outln!("Connectivity                : FAILED ({e})");
            return Ok(1);
        }
    };
    outln!("Connectivity                : ok");
    outln!(
        "Server version              : {} ({})",
        version.git_version,
        version.platform
    );
    outln!(
        "Default namespace           : {}",
        client.default_namespace()
    );
    let reviewed = match (mode, &controller_namespace) {
        (Mode::Analyze, _) => "analyze of a live cluster".to_owned(),
        (
            Mode::Controller {
                enforcement,
                certificates,
            },
            ns,
        ) => format!(
            "the controller in {}, enforcement {}, {} certificates",
            ns.as_deref().unwrap_or("default"),
            if enforcement { "on" } else { "off" },
            if certificates { "its own" } else { "external" }
        ),
    };
    outln!("Permissions of              : {reviewed}");
    outln!("\nACCESS REVIEW (as the current user)");
    outln!("{:<17} {:<58} RESULT", "VERB", "RESOURCE");
    let reviews = futures::future::join_all(checks(mode).map(|(v, p)| {
        let ns = match p.scope {
            Scope::Cluster => None,
            Scope::ControllerNamespace => controller_namespace.clone(),
        };
        let name = p.only.map(|only| match only {
            Named::CertificateSecret => tls_secret.clone(),
            Named::WebhookConfiguration => webhook_configuration.clone(),
        });
        review(&client, v, p, ns, name)
    }))
    .await;
    let mut missing = 0;
    for r in &reviews {
        let result = match &r.allowed {
            Ok(true) => "allowed".to_owned(),
            Ok(false) => {
                missing += 1;
                format!("DENIED (needed by {})", r.permission.used_by)
            }
            Err(e) => {
                missing += 1;
                format!("ERROR: {e}")
            }
        };
        outln!(
            "{:<17} {:<58} {result}",
            r.verb,
            resource_name(r.permission, r.namespace.as_deref(), r.name.as_deref())
        );
    }
    if missing > 0 {
        outln!("\n{missing} of {} permissions missing", reviews.len());
        Ok(1)
    } else {
        outln!("\nall {} permissions granted", reviews.len());
        Ok(0)
    }
}
