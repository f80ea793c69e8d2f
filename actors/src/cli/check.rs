//! `check`: connectivity, server version, and an access review of every verb kube-devops
//! uses (the table in `kube_devops::rbac`). Exit 1 when anything fails.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};
use kube_devops::rbac::{Permission, verb_checks};

/// The verdict on one verb.
struct Review {
    verb: &'static str,
    permission: &'static Permission,
    allowed: Result<bool, String>,
}

async fn review(client: &Client, verb: &'static str, p: &'static Permission) -> Review {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let ssar = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(p.group.to_owned()),
                resource: Some(p.resource.to_owned()),
                subresource: p.subresource.map(str::to_owned),
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
        allowed,
    }
}

fn resource_name(p: &Permission) -> String {
    let mut name = p.resource.to_owned();
    if let Some(sub) = p.subresource {
        name = format!("{name}/{sub}");
    }
    if !p.group.is_empty() {
        name = format!("{name}.{}", p.group);
    }
    name
}

pub(super) async fn run(client: Client) -> anyhow::Result<u8> {
    let namespace = client.default_namespace().to_owned();
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
    outln!("Default namespace           : {namespace}");
    outln!("\nACCESS REVIEW (as the current user)");
    outln!("{:<7} {:<48} RESULT", "VERB", "RESOURCE");
    let reviews =
        futures::future::join_all(verb_checks().map(|(v, p)| review(&client, v, p))).await;
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
        outln!("{:<7} {:<48} {result}", r.verb, resource_name(r.permission));
    }
    if missing > 0 {
        outln!("\n{missing} of {} permissions missing", reviews.len());
        Ok(1)
    } else {
        outln!("\nall {} permissions granted", reviews.len());
        Ok(0)
    }
}
