//! Container security checks: users, privileges, capabilities, kernel profiles and host
//! access.
//!
//! In: one container's facts within an [`Evaluation`], and the pod's securityContext.
//! Out: its findings. Fields that exist on both the pod and the container
//! (`runAsNonRoot`, `runAsUser`, `seccompProfile`, `appArmorProfile`, `seLinuxOptions`,
//! `windowsOptions`) are inherited from the pod unless the container sets them, as the
//! kubelet applies them. Every container role is judged, ephemeral containers included.

use super::CheckId;
use super::evaluate::{Evaluation, about};
use super::values::{SAFE_CAPABILITIES, is_dangerous_capability};
use crate::facts::{ContainerFacts, SecurityFacts};

/// Profiles that confine a process: the runtime's default or one loaded on the node.
const CONFINING_PROFILES: [&str; 2] = ["RuntimeDefault", "Localhost"];

pub(super) fn security_checks(ev: &mut Evaluation<'_>, c: &ContainerFacts) {
    let name = Some(c.name.as_str());
    let kind = c.role.label();
    let sc: &SecurityFacts = &c.security;
    let pod = &ev.facts.pod_security;
    let user = sc.run_as_user.or(pod.run_as_user);
    if ev.on(CheckId::RunAsRootAllowed) {
        // Either a non-root promise or a non-zero user keeps the container off root, and an
        // explicit uid 0 always runs as root.
        let non_root = sc.run_as_non_root.or(pod.run_as_non_root);
        let safe = user != Some(0) && (non_root == Some(true) || user.is_some_and(|u| u > 0));
        if !safe {
            ev.report(
                CheckId::RunAsRootAllowed,
                name,
                || about(kind, &c.name, " may run as root; set securityContext.runAsNonRoot: true or a non-zero runAsUser"),
                1,
            );
        }
    }
    if user == Some(0) {
        ev.report(
            CheckId::RunAsUserZero,
            name,
            || {
                format!(
                    "{kind} {:?} runs as uid 0 (runAsUser: 0); set a non-zero runAsUser",
                    c.name
                )
            },
            1,
        );
    }
    if sc.privileged == Some(true) {
        ev.report(
            CheckId::RunAsPrivileged,
            name,
            || {
                format!(
                    "{kind} {:?} runs privileged; remove securityContext.privileged",
                    c.name
                )
            },
            1,
        );
    }
    // Privileged containers always allow escalation; otherwise it must be explicitly off.
    if sc.allow_privilege_escalation != Some(false) || sc.privileged == Some(true) {
        ev.report(
            CheckId::PrivilegeEscalationAllowed,
            name,
            || about(kind, &c.name, " allows privilege escalation; set securityContext.allowPrivilegeEscalation: false"),
            1,
        );
    }
    if sc.read_only_root_filesystem != Some(true) {
        ev.report(
            CheckId::NotReadOnlyRootFilesystem,
            name,
            || about(kind, &c.name, " has a writable root filesystem; set securityContext.readOnlyRootFilesystem: true"),
            1,
        );
    }
    if c.host_port {
        ev.report(
            CheckId::HostPortSet,
            name,
            || {
                format!(
                    "{kind} {:?} binds a hostPort; expose it through a Service",
                    c.name
                )
            },
            1,
        );
    }
    if sc.host_process.or(pod.host_process) == Some(true) {
        ev.report(
            CheckId::HostProcess,
            name,
            || about(kind, &c.name, " runs as a Windows host process (windowsOptions.hostProcess: true), with the node's full access; remove it"),
            1,
        );
    }
    if let Some(mount) = sc.proc_mount.as_deref().filter(|m| *m != "Default") {
        ev.report(
            CheckId::ProcMount,
            name,
            || format!("{kind} {:?} sets procMount: {mount}, which unmasks the node's /proc; remove it", c.name),
            1,
        );
    }
    capabilities(ev, c);
    profiles(ev, c);
}

fn capabilities(ev: &mut Evaluation<'_>, c: &ContainerFacts) {
    let name = Some(c.name.as_str());
    let kind = c.role.label();
    let sc = &c.security;
    if ev.on(CheckId::DangerousCapabilities) {
        let dangerous: Vec<&str> = sc
            .capabilities_add
            .iter()
            .map(|cap| cap.trim())
            .filter(|cap| is_dangerous_capability(cap))
            .collect();
        if !dangerous.is_empty() {
            ev.report(
                CheckId::DangerousCapabilities,
                name,
                || {
                    format!(
                        "{kind} {:?} adds capabilities {}; drop them",
                        c.name,
                        dangerous.join(", ")
                    )
                },
                1,
            );
        }
    }
    if ev.on(CheckId::InsecureCapabilities) {
        // Compared exactly as the Pod Security Standards compare them: only the spelling
        // they accept passes.
        let drops_all = sc.capabilities_drop.iter().any(|cap| cap == "ALL");
        let extra: Vec<&str> = sc
            .capabilities_add
            .iter()
            .map(String::as_str)
            .filter(|cap| !SAFE_CAPABILITIES.contains(cap))
            .collect();
        let mut problems = Vec::new();
        if !drops_all {
            problems.push("does not drop ALL capabilities".to_owned());
        }
        if !extra.is_empty() {
            problems.push(format!("adds {}", extra.join(", ")));
        }
        if !problems.is_empty() {
            ev.report(
                CheckId::InsecureCapabilities,
                name,
                || format!(
                    "{kind} {:?} {}; set capabilities.drop: [\"ALL\"] and add back at most NET_BIND_SERVICE",
                    c.name,
                    problems.join(" and ")
                ),
                1,
            );
        }
    }
}

fn profiles(ev: &mut Evaluation<'_>, c: &ContainerFacts) {
    let name = Some(c.name.as_str());
    let kind = c.role.label();
    let sc = &c.security;
    let pod = &ev.facts.pod_security;
    let seccomp = sc.seccomp.as_deref().or(pod.seccomp.as_deref());
    let app_armor = sc.app_armor.as_deref().or(pod.app_armor.as_deref());
    if seccomp == Some("Unconfined") {
        ev.report(
            CheckId::SeccompProfileUnconfined,
            name,
            || about(kind, &c.name, " runs with seccompProfile Unconfined, with every system call open; use RuntimeDefault"),
            1,
        );
    }
    let confined = |p: Option<&str>| p.is_some_and(|p| CONFINING_PROFILES.contains(&p));
    let hardened = confined(seccomp) || confined(app_armor) || sc.se_linux || pod.se_linux;
    if !hardened {
        ev.report(
            CheckId::LinuxHardening,
            name,
            || about(kind, &c.name, " has no seccomp, AppArmor or SELinux profile; set securityContext.seccompProfile.type: RuntimeDefault"),
            1,
        );
    }
}
