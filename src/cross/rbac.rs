//! The RBAC checks: wildcard roles, roles that allow exec or attach into pods, bindings to
//! cluster-admin, and bindings that let a service account read Secrets.
//!
//! In: a Role, ClusterRole, RoleBinding or ClusterRoleBinding from the index, with the
//! roles a binding refers to. Out: findings on that object. Roles and bindings that
//! Kubernetes or its installer maintains (`system:` names, the `rbac-defaults` label,
//! aggregated ClusterRoles) are not judged, nor are subjects in excluded namespaces.

use super::objects::{BindingFacts, RoleFacts, RuleFacts, SubjectFacts};
use crate::policy::NamespaceExclusions;

/// Whether a rule covers `resource` (`pods/exec`, `secrets`) in API group `group` with
/// one of `verbs`, as the RBAC authorizer matches: `*` matches any group, resource or verb,
/// `pods/*` any subresource of pods and `*/exec` that subresource of any resource. Rules
/// limited to `resourceNames` are left out when `unnamed` is set.
pub(super) fn grants(
    rule: &RuleFacts,
    group: &str,
    resource: &str,
    verbs: &[&str],
    unnamed: bool,
) -> bool {
    if unnamed && !rule.resource_names.is_empty() {
        return false;
    }
    let group_ok = rule.api_groups.iter().any(|g| g == "*" || g == group);
    let (base, sub) = match resource.split_once('/') {
        Some((b, s)) => (b, Some(s)),
        None => (resource, None),
    };
    let resource_ok = rule.resources.iter().any(|r| {
        r == "*"
            || r == resource
            || sub.is_some_and(|s| r.strip_prefix("*/") == Some(s))
            || sub.is_some() && r.strip_suffix("/*") == Some(base)
    });
    let verb_ok = rule
        .verbs
        .iter()
        .any(|v| v == "*" || verbs.contains(&v.as_str()));
    group_ok && resource_ok && verb_ok
}

/// Rules with `*` as a verb or a resource (`*` or `*/subresource`).
pub(super) fn wildcard_rules(role: &RoleFacts) -> Vec<String> {
    role.rules
        .iter()
        .filter(|r| {
            r.verbs.iter().any(|v| v == "*")
                || r.resources
                    .iter()
                    .any(|res| res == "*" || res.starts_with("*/"))
        })
        .map(describe_rule)
        .collect()
}

/// The subresources among `pods/exec` and `pods/attach` that the role allows entering.
/// `get` counts: before Kubernetes 1.30 it was enough for exec and attach over WebSockets.
pub(super) fn exec_attach(role: &RoleFacts) -> Vec<&'static str> {
    ["pods/exec", "pods/attach"]
        .into_iter()
        .filter(|res| {
            role.rules
                .iter()
                .any(|r| grants(r, "", res, &["create", "get"], false))
        })
        .collect()
}

/// Whether the rules let their holder read Secrets (`get`, `list` or `watch`), other than
/// named ones.
pub(super) fn reads_secrets(rules: &[RuleFacts]) -> bool {
    rules
        .iter()
        .any(|r| grants(r, "", "secrets", &["get", "list", "watch"], true))
}

/// `apiGroups [..] resources [..] verbs [..]` of a rule, for messages.
fn describe_rule(r: &RuleFacts) -> String {
    format!(
        "apiGroups [{}] resources [{}] verbs [{}]",
        r.api_groups.join(", "),
        r.resources.join(", "),
        r.verbs.join(", ")
    )
}

/// The rules of the bootstrap ClusterRoles a binding may name without them being among
/// the objects read (manifests seldom carry them): `cluster-admin` allows everything;
/// `admin` and `edit` read Secrets and exec into pods; `view` does neither.
pub(super) fn bootstrap_cluster_role(name: &str) -> Option<Vec<RuleFacts>> {
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| RuleFacts {
        api_groups: groups.iter().map(|s| s.to_string()).collect(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        resource_names: Vec::new(),
    };
    match name {
        "cluster-admin" => Some(vec![rule(&["*"], &["*"], &["*"])]),
        "admin" | "edit" => Some(vec![
            rule(
                &[""],
                &["secrets"],
                &[
                    "get", "list", "watch", "create", "update", "patch", "delete",
                ],
            ),
            rule(&[""], &["pods/exec", "pods/attach"], &["create", "get"]),
        ]),
        "view" => Some(Vec::new()),
        _ => None,
    }
}

/// Identities Kubernetes itself uses (`system:` users and groups, other than the groups of
/// every service account or every authenticated user), and service accounts of excluded
/// namespaces.
fn is_system_subject(s: &SubjectFacts, exclusions: &NamespaceExclusions) -> bool {
    match s.kind.as_str() {
        "ServiceAccount" => s
            .namespace
            .as_deref()
            .is_some_and(|ns| exclusions.is_excluded(ns)),
        _ => {
            s.name.starts_with("system:")
                && !s.name.starts_with("system:serviceaccounts")
                && s.name != "system:authenticated"
                && s.name != "system:unauthenticated"
        }
    }
}

/// A binding whose every subject is a system identity grants nothing to workloads or
/// people; a binding with no subject grants nothing at all.
pub(super) fn grants_to_others(b: &BindingFacts, exclusions: &NamespaceExclusions) -> bool {
    b.subjects.iter().any(|s| !is_system_subject(s, exclusions))
}

/// The service accounts (or groups of them) among a binding's subjects that are not in
/// excluded namespaces, as `namespace/name` or the group's name.
pub(super) fn service_account_subjects(
    b: &BindingFacts,
    exclusions: &NamespaceExclusions,
) -> Vec<String> {
    b.subjects
        .iter()
        .filter(|s| !is_system_subject(s, exclusions))
        .filter_map(|s| match s.kind.as_str() {
            "ServiceAccount" => {
                // A RoleBinding's subject without a namespace is in the binding's namespace.
                let ns = s.namespace.as_deref().unwrap_or(&b.id.namespace);
                Some(format!("{ns}/{}", s.name))
            }
            "Group" if s.name.starts_with("system:serviceaccounts") => Some(s.name.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> RuleFacts {
        RuleFacts {
            api_groups: groups.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            resource_names: Vec::new(),
        }
    }

    #[test]
    fn rules_match_as_the_rbac_authorizer_matches() {
        let exec = ["create", "get"];
        assert!(grants(
            &rule(&[""], &["pods/exec"], &["create"]),
            "",
            "pods/exec",
            &exec,
            false
        ));
        assert!(grants(
            &rule(&["*"], &["pods/*"], &["get"]),
            "",
            "pods/exec",
            &exec,
            false
        ));
        assert!(grants(
            &rule(&[""], &["*/exec"], &["*"]),
            "",
            "pods/exec",
            &exec,
            false
        ));
        assert!(grants(
            &rule(&[""], &["*"], &["create"]),
            "",
            "pods/exec",
            &exec,
            false
        ));
        assert!(!grants(
            &rule(&[""], &["pods"], &["create"]),
            "",
            "pods/exec",
            &exec,
            false
        ));
        assert!(!grants(
            &rule(&["apps"], &["pods/exec"], &["create"]),
            "",
            "pods/exec",
            &exec,
            false
        ));
        assert!(!grants(
            &rule(&[""], &["pods/exec"], &["list"]),
            "",
            "pods/exec",
            &exec,
            false
        ));
        let mut named = rule(&[""], &["secrets"], &["get"]);
        named.resource_names = vec!["tls".into()];
        assert!(!reads_secrets(std::slice::from_ref(&named)));
        assert!(reads_secrets(&[rule(&[""], &["secrets"], &["list"])]));
        assert!(!reads_secrets(&[rule(&[""], &["configmaps"], &["get"])]));
    }
}
