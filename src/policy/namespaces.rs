//! Excluded namespaces: never scored, never admitted against, never enforced.
//!
//! In: the controller's own namespace and `--exclude-namespace` globs. Out: a matcher.
//! The Kubernetes system namespaces are always excluded; the default globs add `*-system`
//! and `cert-manager`, and a user's globs replace those defaults, not the fixed set.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Namespaces excluded whatever the flags say.
pub const ALWAYS_EXCLUDED: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];
/// Globs excluded when the user gives none.
pub const DEFAULT_EXCLUDE_GLOBS: [&str; 2] = ["*-system", "cert-manager"];

/// A glob that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid --exclude-namespace glob {glob:?}: {reason}")]
pub struct BadGlob {
    /// The glob.
    pub glob: String,
    /// What was wrong.
    pub reason: String,
}

/// Decides which namespaces kube-devops leaves alone.
#[derive(Debug, Clone)]
pub struct NamespaceExclusions {
    own: Option<String>,
    globs: GlobSet,
    patterns: Vec<String>,
}

impl Default for NamespaceExclusions {
    fn default() -> Self {
        match Self::new(None, DEFAULT_EXCLUDE_GLOBS.iter().copied()) {
            Ok(ex) => ex,
            Err(_) => unreachable!("the default globs parse"),
        }
    }
}

impl NamespaceExclusions {
    /// Exclusions for a controller running in `own` with these extra globs.
    pub fn new<'a>(
        own: Option<&str>,
        globs: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, BadGlob> {
        let mut builder = GlobSetBuilder::new();
        let mut patterns = Vec::new();
        for g in globs {
            let glob = Glob::new(g).map_err(|e| BadGlob {
                glob: g.to_owned(),
                reason: e.to_string(),
            })?;
            builder.add(glob);
            patterns.push(g.to_owned());
        }
        let globs = builder.build().map_err(|e| BadGlob {
            glob: patterns.join(","),
            reason: e.to_string(),
        })?;
        Ok(NamespaceExclusions {
            own: own.map(str::to_owned),
            globs,
            patterns,
        })
    }

    /// Exclusions from `--exclude-namespace` flags: the given globs, or the default globs
    /// when none are given (the fixed system namespaces and `own` always apply).
    pub fn from_flags(own: Option<&str>, globs: &[String]) -> Result<Self, BadGlob> {
        if globs.is_empty() {
            Self::new(own, DEFAULT_EXCLUDE_GLOBS.iter().copied())
        } else {
            Self::new(own, globs.iter().map(String::as_str))
        }
    }

    /// True when `ns` is left alone.
    pub fn is_excluded(&self, ns: &str) -> bool {
        ALWAYS_EXCLUDED.contains(&ns) || self.own.as_deref() == Some(ns) || self.globs.is_match(ns)
    }

    /// Every excluded name and glob, for a webhook `namespaceSelector`.
    pub fn names_and_globs(&self) -> Vec<String> {
        let mut v: Vec<String> = ALWAYS_EXCLUDED.iter().map(|s| s.to_string()).collect();
        v.extend(self.own.iter().cloned());
        v.extend(self.patterns.iter().cloned());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_namespaces_are_always_excluded() {
        let ex = NamespaceExclusions::new(None, []).unwrap();
        for ns in ALWAYS_EXCLUDED {
            assert!(ex.is_excluded(ns));
        }
        assert!(!ex.is_excluded("default"));
    }

    #[test]
    fn default_globs_exclude_system_suffixes_and_cert_manager() {
        let ex = NamespaceExclusions::default();
        assert!(ex.is_excluded("istio-system"));
        assert!(ex.is_excluded("cert-manager"));
        assert!(!ex.is_excluded("systems"));
        assert!(!ex.is_excluded("production"));
    }

    #[test]
    fn the_controllers_own_namespace_is_excluded() {
        let ex = NamespaceExclusions::new(Some("kube-devops"), []).unwrap();
        assert!(ex.is_excluded("kube-devops"));
    }

    #[test]
    fn a_bad_glob_is_a_clear_error() {
        let err = NamespaceExclusions::new(None, ["team-[a"]).unwrap_err();
        assert!(err.to_string().contains("team-[a"));
    }
}

/// Whether `s` is a valid namespace name (an RFC 1123 DNS label: lower-case
/// alphanumerics and `-`, starting and ending alphanumeric, at most 63 characters).
pub fn is_dns_label(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|&c| alnum(c) || c == b'-')
        && alnum(b[0])
        && alnum(b[b.len() - 1])
}

/// Whether `s` is a valid object name (an RFC 1123 DNS subdomain: dot-separated labels,
/// at most 253 characters).
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn dns_labels_follow_rfc_1123() {
        for ok in ["a", "prod", "team-1", "0abc"] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "Prod", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert!(is_dns_subdomain("my.policy-1"));
        assert!(!is_dns_subdomain("my..policy"));
    }
}
