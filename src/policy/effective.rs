//! Effective policy: which checks are on, at what severity, with which thresholds.
//!
//! In: a `DevOpsPolicySpec` (from the cluster, a file or a bundle), or several of them for
//! admission. Out: [`EffectivePolicy`], a flat array indexed by check that the evaluator
//! reads on the hot path, or a [`PolicyError`] naming the offending key.

use super::crd::DevOpsPolicySpec;
use crate::checks::{CHECK_COUNT, CheckId, Severity};

/// Restart limit when a policy turns `highRestarts` on through `checks` without one.
pub const DEFAULT_MAX_RESTARTS: u32 = 3;
/// Pending limit in seconds when a policy turns `longPending` on through `checks`.
pub const DEFAULT_PENDING_SECONDS: u64 = 300;
/// Admission deny threshold when a policy names none.
pub const DEFAULT_DENY_SEVERITY: Severity = Severity::High;

/// Why a policy spec cannot be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// A key under `checks` or `severityOverrides` names no check.
    #[error("unknown check {key:?} in {field}; known checks: {known}")]
    UnknownCheck {
        /// The offending key.
        key: String,
        /// `checks` or `severityOverrides`.
        field: &'static str,
        /// The valid ids, comma-separated.
        known: String,
    },
    /// `imageRegistryNotAllowed` is on but no registry is allowed.
    #[error(
        "imageRegistryNotAllowed needs allowedRegistries: a non-empty list of registries (e.g. [ghcr.io/acme, registry.example.com])"
    )]
    NoAllowedRegistries,
    /// A `defaultResources` value that is not a Kubernetes quantity.
    #[error("defaultResources.{field}: {value:?} is not a Kubernetes quantity (e.g. 100m, 128Mi)")]
    BadQuantity {
        /// The field name.
        field: &'static str,
        /// The value given.
        value: String,
    },
}

/// The checks a policy turns on, resolved for evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectivePolicy {
    enabled: [Option<Severity>; CHECK_COUNT],
    /// `highRestarts` fires above this many restarts.
    pub max_restart_count: u32,
    /// `longPending` fires after this many seconds Pending.
    pub pending_seconds: u64,
    /// Admission denies findings at or above this severity.
    pub deny_severity: Severity,
    /// `imageRegistryNotAllowed` admits an image only when every one of these lists has an
    /// entry allowing it (one list per policy that turns the check on).
    pub allowed_registries: Vec<Vec<String>>,
}

impl Default for EffectivePolicy {
    /// The policy used when none is given: the five seed checks with a restart limit of 3
    /// and a pending limit of 300 seconds.
    fn default() -> Self {
        let spec = DevOpsPolicySpec {
            forbid_latest_tag: Some(true),
            require_liveness_probe: Some(true),
            require_readiness_probe: Some(true),
            max_restart_count: Some(DEFAULT_MAX_RESTARTS),
            forbid_pending_duration: Some(DEFAULT_PENDING_SECONDS),
            ..DevOpsPolicySpec::default()
        };
        match Self::from_spec(&spec) {
            Ok(policy) => policy,
            Err(_) => unreachable!("the default policy names only known checks"),
        }
    }
}

impl EffectivePolicy {
    /// A policy with every check off.
    pub fn empty() -> Self {
        EffectivePolicy {
            enabled: [None; CHECK_COUNT],
            max_restart_count: DEFAULT_MAX_RESTARTS,
            pending_seconds: DEFAULT_PENDING_SECONDS,
            deny_severity: DEFAULT_DENY_SEVERITY,
            allowed_registries: Vec::new(),
        }
    }

    /// Resolves a spec. Switches turn on the seed checks, `checks` turns on any catalogue
    /// check (with its severity), and `severityOverrides` has the last word on severity.
    pub fn from_spec(spec: &DevOpsPolicySpec) -> Result<Self, PolicyError> {
        let mut policy = Self::empty();
        let on = |flag: Option<bool>| flag.unwrap_or(false);
        if on(spec.forbid_latest_tag) {
            policy.enable(CheckId::LatestTag, None);
        }
        if on(spec.require_liveness_probe) {
            policy.enable(CheckId::MissingLivenessProbe, None);
        }
        if on(spec.require_readiness_probe) {
            policy.enable(CheckId::MissingReadinessProbe, None);
        }
        if let Some(max) = spec.max_restart_count {
            policy.max_restart_count = max;
            policy.enable(CheckId::HighRestarts, None);
        }
        if let Some(secs) = spec.forbid_pending_duration {
            policy.pending_seconds = secs;
            policy.enable(CheckId::LongPending, None);
        }
        if let Some(registries) = &spec.allowed_registries {
            if registries.iter().all(|r| r.trim().is_empty()) {
                return Err(PolicyError::NoAllowedRegistries);
            }
            policy.allowed_registries = vec![registries.clone()];
            policy.enable(CheckId::ImageRegistryNotAllowed, None);
        }
        for (key, settings) in spec.checks.iter().flatten() {
            let id = parse_check(key, "checks")?;
            if id == CheckId::ImageRegistryNotAllowed && policy.allowed_registries.is_empty() {
                return Err(PolicyError::NoAllowedRegistries);
            }
            policy.enable(id, settings.severity);
        }
        for (key, severity) in spec.severity_overrides.iter().flatten() {
            let id = parse_check(key, "severityOverrides")?;
            if policy.enabled[id.index()].is_some() {
                policy.enabled[id.index()] = Some(*severity);
            }
        }
        if let Some(deny) = spec.admission.as_ref().and_then(|a| a.deny_severity) {
            policy.deny_severity = deny;
        }
        if let Some(res) = &spec.default_resources {
            let fields = [
                ("cpuRequest", &res.cpu_request),
                ("cpuLimit", &res.cpu_limit),
                ("memoryRequest", &res.memory_request),
                ("memoryLimit", &res.memory_limit),
            ];
            for (field, value) in fields {
                if let Some(v) = value.as_deref().filter(|v| !is_quantity(v)) {
                    return Err(PolicyError::BadQuantity {
                        field,
                        value: v.to_owned(),
                    });
                }
            }
        }
        Ok(policy)
    }

    fn enable(&mut self, id: CheckId, severity: Option<Severity>) {
        self.enabled[id.index()] = Some(severity.unwrap_or(id.spec().severity));
    }

    /// Effective severity of a check, `None` when it is off.
    pub fn severity(&self, id: CheckId) -> Option<Severity> {
        self.enabled[id.index()]
    }

    /// The enabled checks with their severities, in catalogue order.
    pub fn enabled(&self) -> impl Iterator<Item = (CheckId, Severity)> + '_ {
        CheckId::ALL
            .iter()
            .filter_map(|id| self.enabled[id.index()].map(|s| (*id, s)))
    }

    /// True when no check is on.
    pub fn is_empty(&self) -> bool {
        self.enabled.iter().all(Option::is_none)
    }

    /// The union of several policies, as admission judges a namespace: a check is on if
    /// any policy turns it on, the highest severity wins, the strictest thresholds win,
    /// and the lowest deny threshold wins. `None` when there are no policies.
    pub fn union<'a>(policies: impl IntoIterator<Item = &'a EffectivePolicy>) -> Option<Self> {
        let policies: Vec<&EffectivePolicy> = policies.into_iter().collect();
        let mut acc = Self::empty();
        acc.deny_severity = policies.iter().map(|p| p.deny_severity).min()?;
        for p in &policies {
            for (slot, theirs) in acc.enabled.iter_mut().zip(p.enabled) {
                *slot = (*slot).max(theirs);
            }
        }
        // A threshold only counts from the policies that turn its check on.
        let with = |id: CheckId| policies.iter().filter(move |p| p.severity(id).is_some());
        if let Some(max) = with(CheckId::HighRestarts)
            .map(|p| p.max_restart_count)
            .min()
        {
            acc.max_restart_count = max;
        }
        if let Some(secs) = with(CheckId::LongPending).map(|p| p.pending_seconds).min() {
            acc.pending_seconds = secs;
        }
        acc.allowed_registries = with(CheckId::ImageRegistryNotAllowed)
            .flat_map(|p| p.allowed_registries.iter().cloned())
            .collect();
        Some(acc)
    }

    /// The same policy with runtime-only checks turned off, for admission.
    pub fn without_runtime_checks(&self) -> Self {
        let mut p = self.clone();
        for id in CheckId::ALL {
            if id.spec().runtime {
                p.enabled[id.index()] = None;
            }
        }
        p
    }
}

fn parse_check(key: &str, field: &'static str) -> Result<CheckId, PolicyError> {
    CheckId::parse(key).ok_or_else(|| PolicyError::UnknownCheck {
        key: key.to_owned(),
        field,
        known: CheckId::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Whether `s` is a Kubernetes resource quantity (`100m`, `1.5`, `128Mi`, `1e3`).
pub fn is_quantity(s: &str) -> bool {
    let s = s.strip_prefix('+').unwrap_or(s);
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    if number.is_empty() || number.matches('.').count() > 1 || number == "." {
        return false;
    }
    const SUFFIXES: [&str; 16] = [
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    // Decimal exponent: e or E, optional sign, digits.
    let Some(exp) = suffix.strip_prefix(['e', 'E']) else {
        return false;
    };
    let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
    !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
#[path = "effective_tests.rs"]
mod tests;
