//! Documents with YAML 1.1 line breaks read as `kubectl` reads them, in both readers.

use proptest::prelude::*;
use serde_json::Value;

use crate::manifests::{Input, parse_bytes};

fn read(text: &str) -> Input {
    let mut input = Input::default();
    parse_bytes(text.as_bytes(), "m.yaml", &mut input);
    input
}

fn image(input: &Input) -> Option<&str> {
    input
        .documents
        .first()?
        .value
        .pointer("/spec/containers/0/image")?
        .as_str()
}

fn pod(break_after_image: &str, prefix: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n{prefix}spec:\n  containers:\n  - name: c\n    image: nginx:latest{break_after_image}\n    imagePullPolicy: Always\n"
    )
}

#[rstest::rstest]
#[case::nel_block_reader("\u{85}", "")]
#[case::nel_general_reader("\u{85}", "anchor: &a 1\n")]
#[case::line_separator("\u{2028}", "")]
#[case::paragraph_separator("\u{2029}", "anchor: &a 1\n")]
fn a_yaml_1_1_line_break_ends_a_plain_value_as_kubectl_reads_it(
    #[case] line_break: &str,
    #[case] prefix: &str,
) {
    let input = read(&pod(line_break, prefix));
    assert!(input.errors.is_empty(), "{:?}", input.errors);
    assert_eq!(image(&input), Some("nginx:latest"));
}

#[test]
fn a_nel_ends_a_comment_and_starts_a_line() {
    let input = read("apiVersion: v1\n# note\u{85}kind: Pod\nmetadata: {name: p}\n");
    assert!(input.errors.is_empty(), "{:?}", input.errors);
    assert_eq!(input.documents[0].value["kind"], "Pod");
}

#[test]
fn a_nel_line_break_inside_a_quoted_value_folds_like_a_newline() {
    let input = read(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: \"x\u{85}    y\"\n",
    );
    assert!(input.errors.is_empty(), "{:?}", input.errors);
    assert_eq!(input.documents[0].value["data"]["a"], "x y");
}

#[test]
fn a_value_spanning_a_line_separator_is_refused_rather_than_misread() {
    let input = read(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: \"x\u{2028}    y\"\n",
    );
    assert!(input.documents.is_empty());
    assert_eq!(input.errors.len(), 1);
    assert!(
        input.errors[0].message.contains("LINE SEPARATOR"),
        "{}",
        input.errors[0]
    );
    assert_eq!(input.errors[0].line, Some(5));
}

/// A block-style document of nested mappings and sequences with plain scalars.
fn document() -> impl Strategy<Value = Vec<String>> {
    let word = "[a-z][a-z0-9.-]{0,8}";
    let line = (0usize..3, word, prop::option::of(word), any::<bool>()).prop_map(
        |(depth, key, value, item)| {
            let indent = "  ".repeat(depth);
            let dash = if item { "- " } else { "" };
            match value {
                Some(v) => format!("{indent}{dash}{key}: {v}"),
                None => format!("{indent}{dash}{key}:"),
            }
        },
    );
    prop::collection::vec(line, 1..12)
}

proptest! {
    /// Writing any line break of a document as NEL, LS or PS reads the same value as `\n`,
    /// whether the document goes to the block reader (NEL) or the general one (LS, PS).
    #[test]
    fn any_line_break_may_be_a_yaml_1_1_one(
        lines in document(),
        breaks in prop::collection::vec(prop::sample::select(vec!["\n", "\u{85}", "\u{2028}", "\u{2029}", "\r\u{85}"]), 12),
    ) {
        let plain: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mixed: String = lines
            .iter()
            .zip(breaks.iter().cycle())
            .map(|(l, b)| format!("{l}{b}"))
            .collect();
        let (a, b) = (read(&plain), read(&mixed));
        let values = |i: &Input| i.documents.iter().map(|d| d.value.clone()).collect::<Vec<Value>>();
        prop_assert_eq!(values(&a), values(&b));
        prop_assert_eq!(a.errors.is_empty(), b.errors.is_empty());
    }
}
