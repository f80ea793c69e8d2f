//! When the controller's own webhook certificates need replacing.
//!
//! In: what the certificate Secret holds (the validity of its CA and serving certificate,
//! and whether the serving certificate names the webhook Service), the time now, and the
//! lifetimes in use. Out: a [`Plan`]: keep them (and when to look again), issue a new
//! serving certificate from the same CA, or start over with a new CA. Renewal happens
//! `renew_before` ahead of expiry, so a replica never serves an expired certificate; a
//! new serving certificate never outlives its CA.

use jiff::{SignedDuration, Timestamp};

/// The validity window of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Not valid before.
    pub not_before: Timestamp,
    /// Not valid after.
    pub not_after: Timestamp,
}

impl Validity {
    /// Whether `at` is inside the window and at least `margin` before its end.
    fn good_for(&self, at: Timestamp, margin: SignedDuration) -> bool {
        self.not_before <= at && at.saturating_add(margin).is_ok_and(|t| t < self.not_after)
    }
}

/// What the certificate Secret holds, read and parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The CA's validity.
    pub ca: Validity,
    /// The serving certificate's validity.
    pub serving: Validity,
    /// Whether the serving certificate names the webhook Service (and was signed by the
    /// CA held beside it).
    pub serving_matches: bool,
}

/// The lifetimes of the certificates the controller issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Validity of a new CA.
    pub ca: SignedDuration,
    /// Validity of a new serving certificate.
    pub serving: SignedDuration,
    /// Replace a certificate this long before it expires.
    pub renew_before: SignedDuration,
}

impl Lifetimes {
    /// The defaults: a 10-year CA, 90-day serving certificates renewed 30 days ahead.
    pub const DEFAULT: Lifetimes = Lifetimes {
        ca: SignedDuration::from_hours(24 * 3650),
        serving: SignedDuration::from_hours(24 * 90),
        renew_before: SignedDuration::from_hours(24 * 30),
    };
}

/// What to do with the certificates held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// They are good; look again at `next_check`.
    Keep {
        /// When the first of them enters its renewal window.
        next_check: Timestamp,
    },
    /// Issue a new serving certificate from the CA held.
    NewServing,
    /// Make a new CA (nothing usable is held, or the CA cannot sign a full-length serving
    /// certificate any more) and a serving certificate from it.
    NewCa,
}

/// The plan for `held` at `now`.
pub fn plan(held: Option<&Held>, now: Timestamp, lifetimes: &Lifetimes) -> Plan {
    let Some(held) = held else {
        return Plan::NewCa;
    };
    // The CA must outlive a serving certificate issued now by its renewal margin.
    let ca_margin = lifetimes
        .serving
        .checked_add(lifetimes.renew_before)
        .unwrap_or(SignedDuration::MAX);
    if !held.ca.good_for(now, ca_margin) {
        return Plan::NewCa;
    }
    if !held.serving_matches || !held.serving.good_for(now, lifetimes.renew_before) {
        return Plan::NewServing;
    }
    let serving_due = held.serving.not_after.checked_sub(lifetimes.renew_before);
    let ca_due = held.ca.not_after.checked_sub(ca_margin);
    let next_check = match (serving_due, ca_due) {
        (Ok(s), Ok(c)) => s.min(c),
        (Ok(t), Err(_)) | (Err(_), Ok(t)) => t,
        (Err(_), Err(_)) => now,
    };
    Plan::Keep { next_check }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: SignedDuration = SignedDuration::from_hours(24);

    fn at(days: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + DAY * i32::try_from(days).unwrap()
    }

    fn window(from: i64, to: i64) -> Validity {
        Validity {
            not_before: at(from),
            not_after: at(to),
        }
    }

    fn held(ca: (i64, i64), serving: (i64, i64)) -> Held {
        Held {
            ca: window(ca.0, ca.1),
            serving: window(serving.0, serving.1),
            serving_matches: true,
        }
    }

    #[test]
    fn nothing_held_starts_with_a_new_ca() {
        assert_eq!(plan(None, at(0), &Lifetimes::DEFAULT), Plan::NewCa);
    }

    #[test]
    fn a_fresh_pair_is_kept_until_the_serving_certificate_enters_its_renewal_window() {
        let h = held((0, 3650), (0, 90));
        let p = plan(Some(&h), at(1), &Lifetimes::DEFAULT);
        assert_eq!(p, Plan::Keep { next_check: at(60) });
        // One day before the window: kept. Inside it: renewed, with the same CA.
        assert!(matches!(
            plan(Some(&h), at(59), &Lifetimes::DEFAULT),
            Plan::Keep { .. }
        ));
        assert_eq!(
            plan(Some(&h), at(61), &Lifetimes::DEFAULT),
            Plan::NewServing
        );
        assert_eq!(
            plan(Some(&h), at(200), &Lifetimes::DEFAULT),
            Plan::NewServing
        );
    }

    #[test]
    fn a_serving_certificate_for_another_name_or_not_yet_valid_is_replaced() {
        let mut h = held((0, 3650), (0, 90));
        h.serving_matches = false;
        assert_eq!(plan(Some(&h), at(1), &Lifetimes::DEFAULT), Plan::NewServing);
        let early = held((0, 3650), (5, 95));
        assert_eq!(
            plan(Some(&early), at(1), &Lifetimes::DEFAULT),
            Plan::NewServing
        );
    }

    #[test]
    fn a_ca_that_could_not_outlive_a_new_serving_certificate_is_replaced_in_time() {
        // 120 days = 90 days of serving + 30 of margin: the CA's own renewal point.
        let h = held((0, 3650), (3500, 3590));
        assert_eq!(
            plan(Some(&h), at(3501), &Lifetimes::DEFAULT),
            Plan::Keep {
                next_check: at(3530)
            }
        );
        assert_eq!(plan(Some(&h), at(3531), &Lifetimes::DEFAULT), Plan::NewCa);
        let expired = held((0, 10), (0, 5));
        assert_eq!(
            plan(Some(&expired), at(11), &Lifetimes::DEFAULT),
            Plan::NewCa
        );
    }

    #[test]
    fn short_lifetimes_renew_on_the_same_rules() {
        let seconds = Lifetimes {
            ca: SignedDuration::from_secs(3600),
            serving: SignedDuration::from_secs(20),
            renew_before: SignedDuration::from_secs(15),
        };
        let t0 = at(0);
        let h = Held {
            ca: Validity {
                not_before: t0,
                not_after: t0 + SignedDuration::from_secs(3600),
            },
            serving: Validity {
                not_before: t0,
                not_after: t0 + SignedDuration::from_secs(20),
            },
            serving_matches: true,
        };
        assert_eq!(
            plan(Some(&h), t0 + SignedDuration::from_secs(1), &seconds),
            Plan::Keep {
                next_check: t0 + SignedDuration::from_secs(5)
            }
        );
        assert_eq!(
            plan(Some(&h), t0 + SignedDuration::from_secs(6), &seconds),
            Plan::NewServing
        );
    }
}
