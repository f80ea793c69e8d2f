//! Judging one subject against the index: the findings of a workload (disruption budgets,
//! autoscalers, network policies), of a Service, of an Ingress, or of an RBAC object, and
//! the object findings that related objects settle.
//!
//! In: the index, a subject's [`ObjectId`], and a [`Judge`] (policy, excluded namespaces,
//! the instant). Out: findings built by [`crate::checks::finding`], so severities,
//! penalties and exemptions work exactly as for every other check.

use jiff::Timestamp;

use super::objects::{HpaFacts, ObjectKind, PdbFacts, RoleFacts};
use super::rbac;
use super::{CrossIndex, Namespace, ObjectId, Selector, WorkloadEntry};
use crate::checks::{CheckId, Finding, finding};
use crate::facts::WorkloadKind;
use crate::policy::exemptions::Exemption;
use crate::policy::{EffectivePolicy, NamespaceExclusions};

/// What a judgement needs besides the index.
#[derive(Debug, Clone, Copy)]
pub struct Judge<'a> {
    /// The policy: which checks are on, at which severity.
    pub policy: &'a EffectivePolicy,
    /// Namespaces left alone (their objects, and bindings that grant only to them).
    pub exclusions: &'a NamespaceExclusions,
    /// The instant exemptions are judged at.
    pub now: Timestamp,
}

/// Findings of one subject in the making.
struct Report<'a> {
    judge: &'a Judge<'a>,
    exemptions: &'a [Exemption],
    findings: Vec<Finding>,
}

impl Report<'_> {
    fn on(&self, check: CheckId) -> bool {
        self.judge.policy.severity(check).is_some()
    }

    fn add(&mut self, check: CheckId, message: impl FnOnce() -> String) {
        if !self.on(check) {
            return;
        }
        let j = self.judge;
        if let Some(f) = finding(check, None, message(), 1, j.policy, self.exemptions, j.now) {
            self.findings.push(f);
        }
    }
}

/// Kinds whose replicas a disruption budget or an autoscaler is about.
fn replicated(kind: WorkloadKind) -> bool {
    matches!(
        kind,
        WorkloadKind::Deployment
            | WorkloadKind::StatefulSet
            | WorkloadKind::ReplicaSet
            | WorkloadKind::ReplicationController
    )
}

impl CrossIndex {
    /// The cross-resource findings of one subject (nothing for unknown subjects or
    /// subjects in excluded namespaces).
    pub fn findings(&self, subject: &ObjectId, judge: &Judge<'_>) -> Vec<Finding> {
        if !subject.namespace.is_empty() && judge.exclusions.is_excluded(&subject.namespace) {
            return Vec::new();
        }
        let ns = self.namespaces.get(&subject.namespace);
        match subject.kind {
            ObjectKind::Workload(kind) => ns
                .and_then(|ns| {
                    let w = ns.workloads.get(&(kind, subject.name.clone()))?;
                    Some(workload(ns, kind, &subject.name, w, judge))
                })
                .unwrap_or_default(),
            ObjectKind::Service => ns
                .and_then(|ns| Some(service(ns, ns.services.get(&subject.name)?, judge)))
                .unwrap_or_default(),
            ObjectKind::Ingress => ns
                .and_then(|ns| ns.ingresses.get(&subject.name))
                .map(|i| ingress(i, judge))
                .unwrap_or_default(),
            ObjectKind::Role => ns
                .and_then(|ns| ns.roles.get(&subject.name))
                .map(|r| role(r, judge))
                .unwrap_or_default(),
            ObjectKind::ClusterRole => self
                .cluster_roles
                .get(&subject.name)
                .map(|r| role(r, judge))
                .unwrap_or_default(),
            ObjectKind::RoleBinding => ns
                .and_then(|ns| ns.bindings.get(&subject.name))
                .map(|b| self.binding(b, judge))
                .unwrap_or_default(),
            ObjectKind::ClusterRoleBinding => self
                .cluster_bindings
                .get(&subject.name)
                .map(|b| self.binding(b, judge))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Removes the findings of `evaluate` on a workload that related objects settle: an
    /// `automountServiceAccountToken` finding when the pod leaves the setting to its
    /// ServiceAccount and that ServiceAccount sets `false`, and a
    /// `deploymentMissingReplicas` finding when an autoscaler owns the replica count.
    /// Returns the findings removed.
    pub fn refine(&self, workload: &ObjectId, findings: &mut Vec<Finding>) -> Vec<Finding> {
        let Some(kind) = workload.workload_kind() else {
            return Vec::new();
        };
        let Some(ns) = self.namespaces.get(&workload.namespace) else {
            return Vec::new();
        };
        let Some(w) = ns.workloads.get(&(kind, workload.name.clone())) else {
            return Vec::new();
        };
        let account_opts_out = w.automount.is_none()
            && ns
                .accounts
                .get(&w.service_account)
                .is_some_and(|a| a.automount == Some(false));
        let autoscaled = autoscaler(ns, kind, &workload.name).is_some();
        findings
            .extract_if(.., |f| match f.check {
                CheckId::AutomountServiceAccountToken => account_opts_out,
                CheckId::DeploymentMissingReplicas => autoscaled,
                _ => false,
            })
            .collect()
    }

    fn binding(&self, b: &super::BindingFacts, judge: &Judge<'_>) -> Vec<Finding> {
        let mut r = Report {
            judge,
            exemptions: &b.exemptions,
            findings: Vec::new(),
        };
        if b.system || !rbac::grants_to_others(b, judge.exclusions) {
            return r.findings;
        }
        if b.role_kind == "ClusterRole" && b.role_name == "cluster-admin" {
            r.add(CheckId::ClusterAdminBinding, || {
                format!(
                    "{} grants cluster-admin (every verb on every resource{}) to {}; bind a role with only the permissions needed",
                    b.id.kind.as_str(),
                    if b.id.kind == ObjectKind::RoleBinding {
                        " of the namespace"
                    } else {
                        ""
                    },
                    subjects(b)
                )
            });
        }
        if r.on(CheckId::SecretsReadableByServiceAccount) {
            let accounts = rbac::service_account_subjects(b, judge.exclusions);
            if !accounts.is_empty()
                && self
                    .role_rules(b)
                    .is_some_and(|rules| rbac::reads_secrets(&rules))
            {
                r.add(CheckId::SecretsReadableByServiceAccount, || {
                    format!(
                        "{} {:?} lets service account(s) {} get, list or watch Secrets{}; grant only the named Secrets they need",
                        b.role_kind,
                        b.role_name,
                        accounts.join(", "),
                        if b.id.kind == ObjectKind::ClusterRoleBinding {
                            " in every namespace"
                        } else {
                            ""
                        }
                    )
                });
            }
        }
        r.findings
    }

    /// The rules of the role a binding refers to: from the index, or for a bootstrap
    /// ClusterRole that was not read, its well-known rules; `None` when unknown.
    fn role_rules(&self, b: &super::BindingFacts) -> Option<Vec<super::RuleFacts>> {
        let found = match b.role_kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&b.role_name),
            "Role" => self
                .namespaces
                .get(&b.id.namespace)
                .and_then(|ns| ns.roles.get(&b.role_name)),
            _ => None,
        };
        match found {
            Some(role) => Some(role.rules.clone()),
            None if b.role_kind == "ClusterRole" => rbac::bootstrap_cluster_role(&b.role_name),
            None => None,
        }
    }
}

fn subjects(b: &super::BindingFacts) -> String {
    b.subjects
        .iter()
        .map(|s| match &s.namespace {
            Some(ns) => format!("{} {ns}/{}", s.kind, s.name),
            None => format!("{} {}", s.kind, s.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The autoscaler whose target is this workload.
fn autoscaler<'a>(ns: &'a Namespace, kind: WorkloadKind, name: &str) -> Option<&'a HpaFacts> {
    ns.hpas
        .values()
        .find(|h| h.target_kind == kind.as_str() && h.target_name == name)
}

fn selects(pdb: &PdbFacts, w: &WorkloadEntry) -> bool {
    pdb.selector.as_ref().is_some_and(|s| s.matches(&w.labels))
}

fn workload(
    ns: &Namespace,
    kind: WorkloadKind,
    name: &str,
    w: &WorkloadEntry,
    judge: &Judge<'_>,
) -> Vec<Finding> {
    let mut r = Report {
        judge,
        exemptions: &w.exemptions,
        findings: Vec::new(),
    };
    let what = kind.as_str();
    if r.on(CheckId::MissingNetworkPolicy)
        && !ns
            .policies
            .values()
            .any(|p| p.ingress && p.pod_selector.matches(&w.labels))
    {
        r.add(CheckId::MissingNetworkPolicy, || {
            format!("no NetworkPolicy governing ingress selects the pods of this {what}, so any pod in the cluster can reach them; add one (a default-deny policy for the namespace is a good start)")
        });
    }
    if !replicated(kind) {
        return r.findings;
    }
    let hpa = autoscaler(ns, kind, name);
    let (fewest, most) = match hpa {
        Some(h) => (h.min_replicas, h.max_replicas.max(h.min_replicas)),
        None => {
            let n = w.replicas.unwrap_or(1);
            (n, n)
        }
    };
    let pdbs: Vec<&PdbFacts> = ns.pdbs.values().filter(|p| selects(p, w)).collect();
    if most >= 2 && pdbs.is_empty() {
        r.add(CheckId::MissingPodDisruptionBudget, || {
            format!("no PodDisruptionBudget selects the pods of this {what}, which runs up to {most} replicas, so a node drain may evict them all at once; add one with maxUnavailable: 1")
        });
    }
    for pdb in &pdbs {
        let over_hpa = hpa.zip(pdb.min_available).and_then(|(h, min)| {
            let needed = min.of(h.min_replicas);
            (needed > h.min_replicas).then_some((h, min, needed))
        });
        if let Some((h, min, needed)) = over_hpa {
            r.add(CheckId::PdbMinAvailableGreaterThanHpaMinReplicas, || {
                format!(
                    "PodDisruptionBudget {:?} keeps minAvailable {min} ({needed} pods) while HorizontalPodAutoscaler {:?} may scale down to {}, so no pod can be evicted then; lower minAvailable or use maxUnavailable",
                    pdb.id.name, h.id.name, h.min_replicas
                )
            });
            continue;
        }
        if fewest > 0 && disruptions_allowed(pdb, fewest).is_some_and(|n| n <= 0) {
            r.add(CheckId::PdbDisruptionsIsZero, || {
                format!(
                    "PodDisruptionBudget {:?} ({}) allows no disruption at {fewest} replica(s), so node drains and upgrades block on this {what}; allow at least one",
                    pdb.id.name,
                    budget(pdb)
                )
            });
        }
    }
    if let Some(h) = hpa {
        if h.max_replicas <= h.min_replicas {
            r.add(CheckId::HpaMaxAvailability, || {
                format!(
                    "HorizontalPodAutoscaler {:?} has maxReplicas {} and minReplicas {}, so it can never scale this {what} up; raise maxReplicas",
                    h.id.name, h.max_replicas, h.min_replicas
                )
            });
        }
        if h.min_replicas < 2 {
            r.add(CheckId::HpaMinAvailability, || {
                format!(
                    "HorizontalPodAutoscaler {:?} may scale this {what} down to {} replica(s), a single point of failure; set minReplicas to 2 or more",
                    h.id.name, h.min_replicas
                )
            });
        }
    }
    r.findings
}

/// Disruptions a budget allows when `expected` pods are healthy, as the disruption
/// controller counts them (percentages rounded up); `None` when it sets neither field.
fn disruptions_allowed(pdb: &PdbFacts, expected: i32) -> Option<i32> {
    match (pdb.max_unavailable, pdb.min_available) {
        (Some(max), _) => Some(max.of(expected)),
        (None, Some(min)) => Some(expected - min.of(expected)),
        (None, None) => None,
    }
}

fn budget(pdb: &PdbFacts) -> String {
    match (pdb.max_unavailable, pdb.min_available) {
        (Some(max), _) => format!("maxUnavailable {max}"),
        (None, Some(min)) => format!("minAvailable {min}"),
        (None, None) => "no budget".to_owned(),
    }
}

fn service(ns: &Namespace, s: &super::ServiceFacts, judge: &Judge<'_>) -> Vec<Finding> {
    let mut r = Report {
        judge,
        exemptions: &s.exemptions,
        findings: Vec::new(),
    };
    // A Service without a selector has its endpoints managed by hand (or is an
    // ExternalName): there is nothing to match.
    if s.selector.is_empty() || s.external_name {
        return r.findings;
    }
    let selector = Selector::from_map(s.selector.clone());
    if !ns.workloads.values().any(|w| selector.matches(&w.labels)) {
        r.add(CheckId::ServiceSelectorMatchesNothing, || {
            format!(
                "the selector {} matches the pods of no workload in namespace {:?}, so the Service has no endpoints; fix the selector or the pod labels",
                selector.describe(),
                s.id.namespace
            )
        });
    }
    r.findings
}

/// Whether a TLS host entry covers `host`: equal (without regard to case), or a
/// `*.domain` wildcard covering exactly one more label.
fn covers(entry: &str, host: &str) -> bool {
    if entry.eq_ignore_ascii_case(host) {
        return true;
    }
    match entry.strip_prefix("*.") {
        Some(domain) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(domain)),
        None => false,
    }
}

fn ingress(i: &super::IngressFacts, judge: &Judge<'_>) -> Vec<Finding> {
    let mut r = Report {
        judge,
        exemptions: &i.exemptions,
        findings: Vec::new(),
    };
    // A tls entry without hosts takes the controller's default certificate for every host.
    let every_host = i.tls.iter().any(Vec::is_empty);
    let plain: Vec<String> = i
        .hosts
        .iter()
        .filter(|h| {
            !every_host
                && match h {
                    Some(host) => !i.tls.iter().flatten().any(|e| covers(e, host)),
                    None => true,
                }
        })
        .map(|h| h.clone().unwrap_or_else(|| "(any host)".to_owned()))
        .collect();
    if i.tls.is_empty() || !plain.is_empty() {
        r.add(CheckId::IngressTlsMissing, || {
            if i.tls.is_empty() {
                "the Ingress has no spec.tls, so it serves plain HTTP; add a tls entry with a certificate Secret".to_owned()
            } else {
                format!("no spec.tls entry covers {}, served over plain HTTP; add them to a tls entry", plain.join(", "))
            }
        });
    }
    r.findings
}

fn role(role: &RoleFacts, judge: &Judge<'_>) -> Vec<Finding> {
    let mut r = Report {
        judge,
        exemptions: &role.exemptions,
        findings: Vec::new(),
    };
    if role.system {
        return r.findings;
    }
    let wildcards = rbac::wildcard_rules(role);
    if !wildcards.is_empty() {
        r.add(CheckId::RoleWildcard, || {
            format!(
                "{} grants * in {}; list the verbs and resources it needs",
                role.id.kind.as_str(),
                wildcards.join("; ")
            )
        });
    }
    let entries = rbac::exec_attach(role);
    if !entries.is_empty() {
        r.add(CheckId::PodExecAttachAllowed, || {
            format!(
                "{} allows {} (create or get), a shell in any pod it reaches and the Secrets mounted there; remove them",
                role.id.kind.as_str(),
                entries.join(" and ")
            )
        });
    }
    r.findings
}
