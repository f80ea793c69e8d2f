//! Kinds served at one version and stored at another. `events.k8s.io/v1` Events share
//! the core/v1 Event storage, as in kube-apiserver: in, an object as one version spells
//! it; out, the same object as the other spells it. The two differ only by top-level
//! field names (`regarding` / `involvedObject`, `note` / `message`, the `deprecated*`
//! fields, `reportingController` / `reportingComponent`), so the conversion is a rename
//! table, which also translates field paths for managedFields and field selectors.

use serde_json::Value;

/// How a served version maps onto its storage version.
#[derive(Debug, PartialEq, Eq)]
pub struct Conversion {
    /// The `apiVersion` objects are stored at.
    pub stored_api_version: &'static str,
    /// Top-level fields as (served name, stored name).
    pub renames: &'static [(&'static str, &'static str)],
}

/// `events.k8s.io/v1` Event over core/v1 Event storage.
pub const EVENTS_V1: Conversion = Conversion {
    stored_api_version: "v1",
    renames: &[
        ("regarding", "involvedObject"),
        ("note", "message"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("reportingController", "reportingComponent"),
    ],
};

impl Conversion {
    /// The stored spelling of a served top-level field.
    pub fn stored_name<'a>(&self, served: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(s, _)| *s == served)
            .map_or(served, |(_, stored)| stored)
    }

    /// The served spelling of a stored top-level field.
    pub fn served_name<'a>(&self, stored: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(_, s)| *s == stored)
            .map_or(stored, |(served, _)| served)
    }

    /// A stored object as the served version spells it (apiVersion aside).
    pub fn to_served(&self, object: &Value) -> Value {
        rename(object, |k| self.served_name(k))
    }

    /// A served object as it is stored, `apiVersion` included.
    pub fn to_stored(&self, object: &Value) -> Value {
        let mut stored = rename(object, |k| self.stored_name(k));
        if let Some(map) = stored.as_object_mut() {
            map.insert(
                "apiVersion".into(),
                Value::String(self.stored_api_version.to_string()),
            );
        }
        stored
    }
}

/// A top-level field name as a writer at `to` spells what a managedFields entry recorded
/// at `from` (the same name unless the two are the versions of a converted kind).
pub fn field_between<'a>(from: &str, to: &str, field: &'a str) -> &'a str {
    match (from, to) {
        ("v1", "events.k8s.io/v1") => EVENTS_V1.served_name(field),
        ("events.k8s.io/v1", "v1") => EVENTS_V1.stored_name(field),
        _ => field,
    }
}

fn rename<'a>(object: &'a Value, name: impl Fn(&'a str) -> &'a str) -> Value {
    match object.as_object() {
        Some(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (name(k).to_string(), v.clone()))
                .collect(),
        ),
        None => object.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_events_v1_event_round_trips_through_core_storage() {
        let served = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2025-01-01T00:00:00.000000Z", "reason": "Started", "type": "Normal",
            "regarding": {"kind": "Pod", "name": "p"}, "note": "started",
            "reportingController": "example.com/ctl", "reportingInstance": "ctl-1",
            "action": "Start", "series": {"count": 2, "lastObservedTime": "2025-01-01T00:00:01.000000Z"},
        });
        let stored = EVENTS_V1.to_stored(&served);
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(
            stored["involvedObject"],
            json!({"kind": "Pod", "name": "p"})
        );
        assert_eq!(stored["message"], "started");
        assert_eq!(stored["reportingComponent"], "example.com/ctl");
        assert_eq!(stored["series"], served["series"]);
        let mut back = EVENTS_V1.to_served(&stored);
        back["apiVersion"] = json!("events.k8s.io/v1");
        assert_eq!(back, served);
    }
}
