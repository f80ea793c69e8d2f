//! A gauge family with one series per namespace or policy, written straight into the text
//! exposition.
//!
//! In: label values and values from the components that score and reconcile. Out: the
//! family's lines of `/metrics`. The `prometheus` crate gathers every series into protobuf
//! messages, clones each label pair and sorts them on every scrape: with 1,000 namespaces
//! and a policy in each (8,000 series) that cost about 6 ms a scrape, and the scale
//! harness reads `/metrics` every few milliseconds. This family keeps its series sorted
//! by label values, each with its label block written once when the series is created,
//! and writes them byte for byte as the crate's text encoder writes a `GaugeVec` (a
//! property test holds the two equal).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt::Write as _;
use std::sync::{Arc, PoisonError, RwLock};

/// A gauge family with `N` labels (named in alphabetical order, as the text encoder sorts
/// them).
#[derive(Clone, Debug)]
pub struct GaugeFamily<const N: usize> {
    name: String,
    help: String,
    labels: [&'static str; N],
    series: Arc<RwLock<BTreeMap<[String; N], Series>>>,
}

/// One series: its label block as exposed (`{namespace="a"}`) and its value.
#[derive(Debug)]
struct Series {
    labels: Box<str>,
    value: f64,
}

impl<const N: usize> GaugeFamily<N> {
    /// A family with no series yet. `labels` must be sorted, so that each line lists them
    /// in the order Prometheus's own encoders do.
    pub(crate) fn new(name: String, help: &str, labels: [&'static str; N]) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0] < w[1]), "{labels:?}");
        GaugeFamily {
            name,
            help: help.to_string(),
            labels,
            series: Arc::default(),
        }
    }

    /// Sets the series with these label values.
    pub fn set(&self, values: [&str; N], value: f64) {
        let key = values.map(str::to_string);
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        match series.entry(key) {
            Entry::Occupied(mut held) => held.get_mut().value = value,
            Entry::Vacant(new) => {
                let labels = self.label_block(new.key());
                new.insert(Series { labels, value });
            }
        }
    }

    /// The label block of a series: each label and its escaped value, in braces.
    fn label_block(&self, values: &[String; N]) -> Box<str> {
        let mut block = String::new();
        let mut separator = '{';
        for (label, value) in self.labels.iter().zip(values) {
            block.push(separator);
            block.push_str(label);
            block.push_str("=\"");
            escape(value, true, &mut block);
            block.push('"');
            separator = ',';
        }
        if N > 0 {
            block.push('}');
        }
        block.into_boxed_str()
    }

    /// Removes the series with these label values; false when there was none.
    pub fn remove(&self, values: [&str; N]) -> bool {
        let key = values.map(str::to_string);
        self.series
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
            .is_some()
    }

    /// The value of the series with these label values.
    pub fn get(&self, values: [&str; N]) -> Option<f64> {
        let key = values.map(str::to_string);
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .map(|series| series.value)
    }

    /// Removes every series.
    pub fn reset(&self) {
        self.series
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A family this module writes itself, of any number of labels.
pub(crate) trait Exposed {
    /// The family's name.
    fn name(&self) -> &str;
    /// Appends the family's text exposition.
    fn encode(&self, out: &mut String);
}

impl<const N: usize> Exposed for GaugeFamily<N> {
    fn name(&self) -> &str {
        &self.name
    }

    /// Appends the family's text exposition: nothing while it has no series (as the
    /// registry leaves out an empty family).
    fn encode(&self, out: &mut String) {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        if series.is_empty() {
            return;
        }
        out.push_str("# HELP ");
        out.push_str(&self.name);
        out.push(' ');
        escape(&self.help, false, out);
        out.push_str("\n# TYPE ");
        out.push_str(&self.name);
        out.push_str(" gauge\n");
        for series in series.values() {
            out.push_str(&self.name);
            out.push_str(&series.labels);
            out.push(' ');
            write_value(series.value, out);
            out.push('\n');
        }
    }
}

/// Appends a value as `f64::to_string` writes it (which the text encoder uses): whole
/// numbers, most of the values here, without the float formatter.
fn write_value(value: f64, out: &mut String) {
    // Below 2^53 every whole number is exact and written without a fraction or exponent;
    // -0 keeps its sign.
    if value.fract() == 0.0
        && value.abs() < 9_007_199_254_740_992.0
        && !(value == 0.0 && value.is_sign_negative())
    {
        out.push_str(itoa::Buffer::new().format(value as i64));
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Appends `text` with `\` and newlines escaped, and `"` too in a label value.
fn escape(text: &str, quotes: bool, out: &mut String) {
    // One test per byte for the usual text with nothing to escape (a `"` in help text
    // takes the slow path and is kept as it is there).
    if !text.bytes().any(|b| matches!(b, b'\\' | b'\n' | b'"')) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};
    use proptest::prelude::*;

    /// What the prometheus crate writes for the same series through a `GaugeVec`.
    fn as_the_crate_writes(help: &str, series: &[([String; 2], f64)]) -> String {
        let registry = Registry::new();
        let vec =
            GaugeVec::new(Opts::new("kube_devops_x", help), &["namespace", "policy"]).unwrap();
        registry.register(Box::new(vec.clone())).unwrap();
        for ([a, b], v) in series {
            vec.with_label_values(&[a.as_str(), b.as_str()]).set(*v);
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn label_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9-]{0,12}",
            "[ -~\n]{0,8}",
            any::<String>().prop_map(|s| s.chars().take(6).collect()),
        ]
    }

    fn gauge_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            (0u32..=1000).prop_map(|n| f64::from(n) / 10.0),
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
        ]
    }

    proptest! {
        #[test]
        fn a_family_is_written_as_the_crates_text_encoder_writes_a_gauge_vec(
            help in "[ -~\n\\\\]{1,20}",
            series in proptest::collection::vec(
                ([label_value(), label_value()], gauge_value()), 0..12),
        ) {
            let family = GaugeFamily::new("kube_devops_x".into(), &help, ["namespace", "policy"]);
            for ([a, b], v) in &series {
                family.set([a, b], *v);
            }
            let mut ours = String::new();
            family.encode(&mut ours);
            prop_assert_eq!(ours, as_the_crate_writes(&help, &series));
        }
    }

    #[test]
    fn a_removed_series_is_gone_and_an_empty_family_writes_nothing() {
        let family = GaugeFamily::new("kube_devops_y".into(), "help", ["namespace"]);
        family.set(["a"], 90.0);
        family.set(["b"], 80.0);
        assert!(family.remove(["a"]));
        assert!(!family.remove(["a"]));
        assert_eq!(family.get(["b"]), Some(80.0));
        let mut text = String::new();
        family.encode(&mut text);
        assert_eq!(
            text,
            "# HELP kube_devops_y help\n# TYPE kube_devops_y gauge\nkube_devops_y{namespace=\"b\"} 80\n"
        );
        family.reset();
        let mut text = String::new();
        family.encode(&mut text);
        assert_eq!(text, "");
    }
}
