//! Container checks about images, probes, restarts, resources and the environment.
//!
//! In: one container's facts within an [`Evaluation`]. Out: its findings, reported into
//! the evaluation. Probe checks apply to long-running containers (native sidecars and
//! regular containers) of pods that are not run-to-completion; resource checks to every
//! container that may declare resources (not ephemeral containers); image and
//! environment checks to every container.

use super::CheckId;
use super::evaluate::{Evaluation, about};
use super::values::registry_allows;
use crate::facts::ContainerFacts;
use crate::facts::image::{ImagePin, image_pin, is_floating, repository};

/// Restarts beyond which `highRestarts` stops growing its penalty.
pub const RESTART_PENALTY_CAP: u32 = 5;

pub(super) fn container_checks(ev: &mut Evaluation<'_>, c: &ContainerFacts) {
    let name = Some(c.name.as_str());
    let kind = c.role.label();
    image_checks(ev, c);
    let probed = c.role.takes_probes() && !ev.facts.batch;
    if probed && !c.liveness_probe {
        ev.report(
            CheckId::MissingLivenessProbe,
            name,
            || about(kind, &c.name, " has no livenessProbe"),
            1,
        );
    }
    if probed && !c.readiness_probe {
        ev.report(
            CheckId::MissingReadinessProbe,
            name,
            || about(kind, &c.name, " has no readinessProbe"),
            1,
        );
    }
    if ev.on(CheckId::HighRestarts)
        && let Some(restarts) = c.restart_count.and_then(|r| u32::try_from(r).ok())
        && restarts > ev.policy.max_restart_count
    {
        let max = ev.policy.max_restart_count;
        ev.report(
            CheckId::HighRestarts,
            name,
            || format!(
                "{kind} {:?} restarted {restarts} times (limit {max}); check `kubectl logs --previous`",
                c.name
            ),
            restarts.min(RESTART_PENALTY_CAP),
        );
    }
    if c.role.takes_resources() {
        resources(ev, c);
    }
    if !c.sensitive_env.is_empty() {
        ev.report(
            CheckId::SensitiveContainerEnvVar,
            name,
            || format!(
                "{kind} {:?} keeps secrets in plain env values ({}); read them from a Secret with valueFrom.secretKeyRef",
                c.name,
                c.sensitive_env.join(", ")
            ),
            1,
        );
    }
}

fn image_checks(ev: &mut Evaluation<'_>, c: &ContainerFacts) {
    let name = Some(c.name.as_str());
    let kind = c.role.label();
    if ev.on(CheckId::LatestTag) {
        let what = match image_pin(&c.image) {
            ImagePin::Untagged if c.image.is_empty() => Some("has no image".to_owned()),
            ImagePin::Untagged => Some(format!(
                "image {:?} has no tag, so it runs whatever latest is",
                c.image
            )),
            ImagePin::Tag("latest") => {
                Some(format!("image {:?} uses the mutable latest tag", c.image))
            }
            _ => None,
        };
        if let Some(what) = what {
            ev.report(
                CheckId::LatestTag,
                name,
                || format!("{kind} {:?} {what}; pin a version tag or digest", c.name),
                1,
            );
        }
    }
    if ev.on(CheckId::PullPolicyNotAlways) {
        // The API server defaults the policy to Always for latest or untagged images and
        // to IfNotPresent otherwise; judge what the cluster will actually run.
        let effective = c
            .image_pull_policy
            .as_deref()
            .unwrap_or(if is_floating(&c.image) {
                "Always"
            } else {
                "IfNotPresent"
            });
        if effective != "Always" {
            ev.report(
                CheckId::PullPolicyNotAlways,
                name,
                || {
                    format!(
                        "{kind} {:?} has imagePullPolicy {effective}; set Always",
                        c.name
                    )
                },
                1,
            );
        }
    }
    if ev.on(CheckId::ImageRegistryNotAllowed) {
        let repo = repository(&c.image);
        // Every policy that turns the check on must allow the image (the union of several
        // policies is the strictest of them).
        let refused = ev
            .policy
            .allowed_registries
            .iter()
            .find(|list| !list.iter().any(|entry| registry_allows(entry, &repo)));
        if let Some(list) = refused {
            ev.report(
                CheckId::ImageRegistryNotAllowed,
                name,
                || format!(
                    "{kind} {:?} image {:?} comes from {repo}, which allowedRegistries ({}) does not allow",
                    c.name,
                    c.image,
                    list.join(", ")
                ),
                1,
            );
        }
    }
}

fn resources(ev: &mut Evaluation<'_>, c: &ContainerFacts) {
    let name = Some(c.name.as_str());
    let kind = c.role.label();
    // The API server copies a limit into a missing request, so a limit alone satisfies
    // the request check: judge what the cluster will actually run.
    let r = &c.resources;
    let checks = [
        (
            CheckId::CpuRequestsMissing,
            r.cpu_request || r.cpu_limit,
            " does not set resources.requests.cpu",
        ),
        (
            CheckId::MemoryRequestsMissing,
            r.memory_request || r.memory_limit,
            " does not set resources.requests.memory",
        ),
        (
            CheckId::CpuLimitsMissing,
            r.cpu_limit,
            " does not set resources.limits.cpu",
        ),
        (
            CheckId::MemoryLimitsMissing,
            r.memory_limit,
            " does not set resources.limits.memory",
        ),
        (
            CheckId::EphemeralStorageLimitsMissing,
            r.ephemeral_storage_limit,
            " does not set resources.limits.ephemeral-storage",
        ),
    ];
    for (check, set, what) in checks {
        if !set {
            ev.report(check, name, || about(kind, &c.name, what), 1);
        }
    }
}
