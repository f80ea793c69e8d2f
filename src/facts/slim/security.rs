//! A pod's or a container's `securityContext`, read slim: the fields the security checks
//! use, with the same meanings as the typed `SecurityContext` and `PodSecurityContext`.
//!
//! In: JSON. Out: [`SecurityFacts`].

use serde::Deserialize;

use crate::facts::SecurityFacts;
use crate::facts::derived::se_linux_set;

/// A pod's or a container's `securityContext` (a pod's has no container-only fields, so
/// they stay unset).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SlimSecurity {
    #[serde(default)]
    run_as_non_root: Option<bool>,
    #[serde(default)]
    run_as_user: Option<i64>,
    #[serde(default)]
    privileged: Option<bool>,
    #[serde(default)]
    allow_privilege_escalation: Option<bool>,
    #[serde(default)]
    read_only_root_filesystem: Option<bool>,
    #[serde(default)]
    capabilities: Option<SlimCapabilities>,
    #[serde(default)]
    seccomp_profile: Option<SlimProfile>,
    #[serde(default)]
    app_armor_profile: Option<SlimProfile>,
    #[serde(default, rename = "seLinuxOptions")]
    se_linux_options: Option<SlimSeLinux>,
    #[serde(default)]
    windows_options: Option<SlimWindows>,
    #[serde(default)]
    proc_mount: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct SlimCapabilities {
    #[serde(default)]
    add: Option<Vec<String>>,
    #[serde(default)]
    drop: Option<Vec<String>>,
}

/// A seccomp or AppArmor profile: its type is required, so a missing one reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct SlimProfile {
    #[serde(default, rename = "type")]
    type_: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct SlimSeLinux {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    level: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimWindows {
    #[serde(default)]
    host_process: Option<bool>,
}

impl SlimSecurity {
    /// The facts of a pod's (`container == false`) or a container's securityContext.
    pub(super) fn facts(&self, container: bool) -> SecurityFacts {
        let caps = self.capabilities.as_ref();
        let pod = SecurityFacts {
            run_as_non_root: self.run_as_non_root,
            run_as_user: self.run_as_user,
            seccomp: self.seccomp_profile.as_ref().map(|p| p.type_.clone()),
            app_armor: self.app_armor_profile.as_ref().map(|p| p.type_.clone()),
            se_linux: self.se_linux_options.as_ref().is_some_and(|o| {
                se_linux_set([
                    o.user.as_deref(),
                    o.role.as_deref(),
                    o.type_.as_deref(),
                    o.level.as_deref(),
                ])
            }),
            host_process: self.windows_options.as_ref().and_then(|w| w.host_process),
            ..SecurityFacts::default()
        };
        if !container {
            return pod;
        }
        SecurityFacts {
            privileged: self.privileged,
            allow_privilege_escalation: self.allow_privilege_escalation,
            read_only_root_filesystem: self.read_only_root_filesystem,
            capabilities_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
            capabilities_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
            proc_mount: self.proc_mount.clone(),
            ..pod
        }
    }
}
