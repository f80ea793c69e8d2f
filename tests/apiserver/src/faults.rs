//! Fault injection and access rules set through the handle. A [`RequestMatch`] picks
//! requests by verb and resource; each rule fires for the next N matching requests,
//! failing them with a status code or delaying them. Access rules decide what
//! SelfSubjectAccessReviews answer.

use std::collections::BTreeSet;
use std::time::Duration;

/// Which requests a fault applies to; unset parts match anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMatch {
    verb: Option<String>,
    resource: Option<String>,
}

impl RequestMatch {
    /// Matches every resource request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Only this verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_string());
        self
    }

    /// Only this resource (plural name, e.g. `pods`; `pods/status` for a subresource).
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_string());
        self
    }

    fn matches(&self, verb: &str, resource: &str) -> bool {
        self.verb.as_deref().is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| {
                r == resource || resource.split('/').next() == Some(r) && !r.contains('/')
            })
    }
}

/// What a fault does to a matching request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer a `Status` with this HTTP code instead of handling the request.
    Fail(u16),
    /// Wait this long before handling the request.
    Delay(Duration),
}

#[derive(Clone, Debug)]
struct FaultRule {
    matcher: RequestMatch,
    remaining: u32,
    action: FaultAction,
}

/// The pending faults.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    /// Adds a rule for the next `count` matching requests.
    pub fn add(&mut self, matcher: RequestMatch, count: u32, action: FaultAction) {
        if count > 0 {
            self.rules.push(FaultRule {
                matcher,
                remaining: count,
                action,
            });
        }
    }

    /// Consumes the rules a request triggers: at most one delay and one failure.
    pub fn take(&mut self, verb: &str, resource: &str) -> (Option<Duration>, Option<u16>) {
        let mut delay = None;
        let mut fail = None;
        for rule in &mut self.rules {
            if rule.remaining == 0 || !rule.matcher.matches(verb, resource) {
                continue;
            }
            match rule.action {
                FaultAction::Delay(d) if delay.is_none() => {
                    delay = Some(d);
                    rule.remaining -= 1;
                }
                FaultAction::Fail(code) if fail.is_none() => {
                    fail = Some(code);
                    rule.remaining -= 1;
                }
                _ => {}
            }
        }
        self.rules.retain(|r| r.remaining > 0);
        (delay, fail)
    }

    /// Drops every pending rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }
}

/// What SelfSubjectAccessReviews answer.
#[derive(Clone, Debug, Default)]
pub struct AccessRules {
    /// `(verb, resource)` pairs answered `allowed: false`.
    pub denied: BTreeSet<(String, String)>,
    /// Answer the endpoint itself with 403.
    pub endpoint_forbidden: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_fires_for_exactly_its_count_of_matching_requests() {
        let mut faults = Faults::default();
        faults.add(
            RequestMatch::any().verb("list").resource("pods"),
            2,
            FaultAction::Fail(500),
        );
        let seen: Vec<Option<u16>> = [
            ("list", "pods"),
            ("get", "pods"),
            ("list", "nodes"),
            ("list", "pods"),
            ("list", "pods"),
        ]
        .iter()
        .map(|(verb, resource)| faults.take(verb, resource).1)
        .collect();
        assert_eq!(seen, vec![Some(500), None, None, Some(500), None]);
    }

    #[test]
    fn a_resource_match_covers_its_subresources() {
        let matcher = RequestMatch::any().resource("pods");
        assert!(matcher.matches("update", "pods/status"));
        assert!(
            !RequestMatch::any()
                .resource("pods/status")
                .matches("update", "pods")
        );
    }
}
