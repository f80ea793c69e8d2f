//! Exemptions: annotations that switch checks off for one workload or pod.
//!
//! In: an object's annotations. Out: an [`Exemption`] that the evaluator asks, for one check
//! at one instant, whether it applies. `devops.stochastic.io/ignore` lists check ids (or
//! earlier keys) or `*`; `ignore-reason` says why; `ignore-until` (an RFC 3339 timestamp or
//! a plain date, good through that day in UTC) makes it lapse. An unreadable date never
//! exempts: a typo must not silence a check forever.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::checks::CheckId;

/// Annotation listing exempt checks.
pub const IGNORE: &str = "devops.stochastic.io/ignore";
/// Annotation saying why.
pub const IGNORE_REASON: &str = "devops.stochastic.io/ignore-reason";
/// Annotation after which the exemption lapses.
pub const IGNORE_UNTIL: &str = "devops.stochastic.io/ignore-until";

/// Which checks an exemption names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExemptChecks {
    /// `*`.
    All,
    /// The listed checks; names that match no check are kept to report them.
    Only {
        /// Recognised checks.
        checks: Vec<CheckId>,
        /// Names that match no check.
        unknown: Vec<String>,
    },
}

/// When an exemption ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExemptUntil {
    /// Lapses at this instant; the text is the annotation as written.
    At(Timestamp, String),
    /// An unreadable `ignore-until`: the exemption never applies.
    Invalid(String),
}

/// One exemption, as found on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// Checks exempted.
    pub checks: ExemptChecks,
    /// `ignore-reason`.
    pub reason: Option<String>,
    /// `ignore-until`.
    pub until: Option<ExemptUntil>,
}

/// Whether an exemption covers a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExemptionVerdict {
    /// The finding is skipped; the text says why.
    Exempt(String),
    /// An exemption named the check but lapsed or has an unreadable date.
    Lapsed(String),
    /// No exemption names the check.
    None,
}

impl Exemption {
    /// Reads the exemption annotations; `None` when there is no `ignore` annotation.
    pub fn from_annotations(annotations: Option<&BTreeMap<String, String>>) -> Option<Self> {
        let annotations = annotations?;
        let list = annotations.get(IGNORE)?;
        let checks = if list.split(',').any(|s| s.trim() == "*") {
            ExemptChecks::All
        } else {
            let mut checks = Vec::new();
            let mut unknown = Vec::new();
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match CheckId::parse(name) {
                    Some(id) => checks.push(id),
                    None => unknown.push(name.to_owned()),
                }
            }
            ExemptChecks::Only { checks, unknown }
        };
        let until = annotations.get(IGNORE_UNTIL).map(|s| parse_until(s.trim()));
        Some(Exemption {
            checks,
            reason: annotations
                .get(IGNORE_REASON)
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty()),
            until,
        })
    }

    /// Does this exemption cover `check` at `now`?
    pub fn verdict(&self, check: CheckId, now: Timestamp) -> ExemptionVerdict {
        let names = match &self.checks {
            ExemptChecks::All => true,
            ExemptChecks::Only { checks, .. } => checks.contains(&check),
        };
        if !names {
            return ExemptionVerdict::None;
        }
        match &self.until {
            Some(ExemptUntil::Invalid(raw)) => ExemptionVerdict::Lapsed(format!(
                "exemption ignored: {IGNORE_UNTIL} {raw:?} is not an RFC 3339 date"
            )),
            Some(ExemptUntil::At(t, raw)) if *t <= now => {
                ExemptionVerdict::Lapsed(format!("exemption lapsed: {IGNORE_UNTIL} {raw}"))
            }
            _ => {
                let mut why = String::from("exempt");
                if let Some(reason) = &self.reason {
                    why.push_str(": ");
                    why.push_str(reason);
                }
                if let Some(ExemptUntil::At(_, raw)) = &self.until {
                    why.push_str(&format!(" (until {raw})"));
                }
                ExemptionVerdict::Exempt(why)
            }
        }
    }
}

/// The verdict of the first exemption that names the check (an applying one beats a
/// lapsed one).
pub fn verdict(exemptions: &[Exemption], check: CheckId, now: Timestamp) -> ExemptionVerdict {
    let mut result = ExemptionVerdict::None;
    for e in exemptions {
        match e.verdict(check, now) {
            v @ ExemptionVerdict::Exempt(_) => return v,
            v @ ExemptionVerdict::Lapsed(_) => result = v,
            ExemptionVerdict::None => {}
        }
    }
    result
}

fn parse_until(raw: &str) -> ExemptUntil {
    if let Ok(t) = raw.parse::<Timestamp>() {
        return ExemptUntil::At(t, raw.to_owned());
    }
    // A plain date (exactly YYYY-MM-DD) is good through that whole day, UTC. A date and
    // time without an offset is ambiguous and never exempts.
    if raw.len() != 10 {
        return ExemptUntil::Invalid(raw.to_owned());
    }
    match raw.parse::<jiff::civil::Date>() {
        Ok(date) => match date
            .tomorrow()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
        {
            Ok(z) => ExemptUntil::At(z.timestamp(), raw.to_owned()),
            Err(_) => ExemptUntil::Invalid(raw.to_owned()),
        },
        Err(_) => ExemptUntil::Invalid(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn no_ignore_annotation_means_no_exemption() {
        let a = annotations(&[(IGNORE_REASON, "because")]);
        assert_eq!(Exemption::from_annotations(Some(&a)), None);
        assert_eq!(Exemption::from_annotations(None), None);
    }

    #[test]
    fn listed_checks_and_seed_keys_are_exempt_and_others_are_not() {
        let a = annotations(&[
            (IGNORE, "latestTag, missingLiveness"),
            (IGNORE_REASON, "vendor image"),
        ]);
        let e = Exemption::from_annotations(Some(&a)).unwrap();
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(
            e.verdict(CheckId::LatestTag, now),
            ExemptionVerdict::Exempt("exempt: vendor image".into())
        );
        assert!(matches!(
            e.verdict(CheckId::MissingLivenessProbe, now),
            ExemptionVerdict::Exempt(_)
        ));
        assert_eq!(
            e.verdict(CheckId::MissingReadinessProbe, now),
            ExemptionVerdict::None
        );
    }

    #[test]
    fn star_exempts_every_check() {
        let a = annotations(&[(IGNORE, "*")]);
        let e = Exemption::from_annotations(Some(&a)).unwrap();
        for id in CheckId::ALL {
            assert!(matches!(
                e.verdict(*id, Timestamp::UNIX_EPOCH),
                ExemptionVerdict::Exempt(_)
            ));
        }
    }

    #[test]
    fn a_plain_date_is_good_through_that_day_and_lapses_after() {
        let a = annotations(&[(IGNORE, "latestTag"), (IGNORE_UNTIL, "2026-03-01")]);
        let e = Exemption::from_annotations(Some(&a)).unwrap();
        assert!(matches!(
            e.verdict(CheckId::LatestTag, at("2026-03-01T23:59:59Z")),
            ExemptionVerdict::Exempt(_)
        ));
        assert!(matches!(
            e.verdict(CheckId::LatestTag, at("2026-03-02T00:00:00Z")),
            ExemptionVerdict::Lapsed(_)
        ));
    }

    #[test]
    fn a_full_timestamp_lapses_at_that_instant() {
        let a = annotations(&[(IGNORE, "*"), (IGNORE_UNTIL, "2026-03-01T12:00:00+02:00")]);
        let e = Exemption::from_annotations(Some(&a)).unwrap();
        assert!(matches!(
            e.verdict(CheckId::LatestTag, at("2026-03-01T09:59:59Z")),
            ExemptionVerdict::Exempt(_)
        ));
        assert!(matches!(
            e.verdict(CheckId::LatestTag, at("2026-03-01T10:00:00Z")),
            ExemptionVerdict::Lapsed(_)
        ));
    }

    #[test]
    fn an_unreadable_date_never_exempts() {
        let a = annotations(&[(IGNORE, "*"), (IGNORE_UNTIL, "next tuesday")]);
        let e = Exemption::from_annotations(Some(&a)).unwrap();
        let v = e.verdict(CheckId::LatestTag, Timestamp::UNIX_EPOCH);
        assert!(
            matches!(v, ExemptionVerdict::Lapsed(ref m) if m.contains("next tuesday")),
            "{v:?}"
        );
    }

    #[test]
    fn a_local_time_without_an_offset_never_exempts() {
        let a = annotations(&[(IGNORE, "*"), (IGNORE_UNTIL, "2099-12-31T10:00:00")]);
        let e = Exemption::from_annotations(Some(&a)).unwrap();
        assert!(matches!(
            e.verdict(CheckId::LatestTag, Timestamp::UNIX_EPOCH),
            ExemptionVerdict::Lapsed(_)
        ));
    }

    #[test]
    fn unknown_names_are_kept_for_reporting() {
        let a = annotations(&[(IGNORE, "latestTag,typoCheck")]);
        let e = Exemption::from_annotations(Some(&a)).unwrap();
        assert_eq!(
            e.checks,
            ExemptChecks::Only {
                checks: vec![CheckId::LatestTag],
                unknown: vec!["typoCheck".into()]
            }
        );
    }
}
