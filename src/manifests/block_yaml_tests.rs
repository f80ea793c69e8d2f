//! The block-style reader agrees with the full YAML parser on every document it reads,
//! and declines the rest.

use serde_json::Value;

use super::parse;
use crate::manifests::Strict;

/// What the full parser makes of one document.
fn full_parse(doc: &str) -> Result<Value, String> {
    serde_yaml_ng::from_str::<Strict>(doc)
        .map(|Strict(v)| v)
        .map_err(|e| e.to_string())
}

const REALISTIC: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # trailing comment
  namespace: shop
  labels:
    app.kubernetes.io/name: web
    app.kubernetes.io/version: \"1.2.3\"
  annotations:
    note: 'it''s fine'
    script: |
      #!/bin/sh
      echo \"a: b\"

        indented
    trimmed: |-
      one
      two

# a comment between entries
spec:
  replicas: 3
  selector:
    matchLabels: {}
  template:
    spec:
      volumes:
      - name: tmp
        emptyDir: {}
      containers:
        - name: app
          image: registry.example.com/shop/web:1.2.3
          args: [\"--port=8080\", '--quiet', plain-word, 42]
          env:
            - name: EMPTY
            - name: QUOTED
              value: \"x\\\"y\\\\z\\n\"
            -
              name: NESTED
              value: ~
          resources:
            limits:
              cpu: \"1\"
          securityContext:
            capabilities:
              drop: [\"ALL\"]
              add: []
";

#[rstest::rstest]
#[case::scalars(
    "a: 0\nb: -5\nc: 12345678901234\nd: 100m\ne: 1Gi\nf: yes\ng: on\nh: ~\ni: null\nj: True\n\
     k: FALSE\nl: inf\nm: -inf\nn: nan\no: 1_000\np: v1.2\nq: -x\nr: y\ns: Null\nt: 0.1.2x\nu: 0123\nv: -0\nw: .x\n"
)]
#[case::quoted(
    "a: \"x\\\"y\\\\z\\n\\t/\"\nb: 'it''s'\nc: \"\"   \nd: '' # c\ne: \"a # not a comment\"\n"
)]
#[case::literal_blocks("a: |\n  x\n\n  y\n\n\nb: |-\n  z\n   indented\nc: |\n\n  leading\n")]
#[case::literal_at_the_end("a: |\n  last\n")]
#[case::literal_with_a_comment_line("a: | # header comment\n  # kept\n  x\n# dropped\nb: 1\n")]
#[case::literal_in_a_sequence("a:\n  - |\n    x\n  - b\n")]
#[case::nesting("a:\n  b:\n    - c\n    - d: 1\n      e: 2\n    -\n      f: 3\n  g:\n  - h\n")]
#[case::comment_after_a_key("a: # comment\n  b: 1\n")]
#[case::null_items("a:\n- \n- b\n-\nc:\n")]
#[case::flow("a: [\"x\", 'y', z, 1, true, null]\nb: []\nc: {}\nd: [ ]\n")]
#[case::indented_root("  a: 1\n  b:\n    c: 2\n")]
#[case::key_forms("yes: 1\non: 2\nx-y_z.w/v: 3\n_u: 4\n")]
#[case::realistic(REALISTIC)]
fn the_block_reader_reads_common_manifests_exactly_as_the_full_parser(#[case] doc: &str) {
    let fast = parse(doc).ok_or("declined");
    assert_eq!(fast, full_parse(doc).map_err(|_| "an error"));
}

#[rstest::rstest]
#[case::anchor_and_alias("a: &x 1\nb: *x\n")]
#[case::merge_key("base: &b {x: 1}\nm:\n  <<: *b\n")]
#[case::tag("a: !!str 1\n")]
#[case::folded("a: >\n  x\n  y\n")]
#[case::keep_chomping("a: |+\n  x\n\nb: 1\n")]
#[case::indentation_indicator("a: |2\n   x\n")]
#[case::multi_line_plain("a: x\n  y\n")]
#[case::multi_line_quoted("a: \"x\n  y\"\n")]
#[case::duplicate_key("a: 1\na: 2\n")]
#[case::duplicate_key_in_an_item("- a: 1\n  a: 2\n")]
#[case::float("a: 1.5\n")]
#[case::exponent("a: 1e3\n")]
#[case::hexadecimal("a: 0x1f\n")]
#[case::octal_1_2("a: 0o644\n")]
#[case::plus_sign("a: +1\n")]
#[case::infinity("a: .inf\n")]
#[case::huge_integer("a: 123456789012345678901234567890\n")]
#[case::flow_mapping("a: {b: 1}\n")]
#[case::flow_root("{a: 1}\n")]
#[case::trailing_comma("a: [x, y,]\n")]
#[case::complex_key("? a\n: b\n")]
#[case::quoted_key("\"a\": 1\n")]
#[case::null_key("null: 1\n")]
#[case::tab("a:\t1\n")]
#[case::non_ascii("a: caf\u{e9}\n")]
#[case::unknown_escape("a: \"\\x41\"\n")]
#[case::sequence_root("- a\n- b\n")]
#[case::scalar_root("hello\n")]
#[case::bad_indentation("a:\n    b: 1\n  c: 2\n")]
#[case::value_with_colon_space("a: b: c\n")]
#[case::item_after_key("a: 1\n- b\n")]
#[case::nested_compact_sequence("- - a\n")]
#[case::junk_after_quote("a: \"x\" y\n")]
fn the_block_reader_leaves_everything_else_to_the_full_parser(#[case] doc: &str) {
    assert_eq!(parse(doc), None, "{:?}", full_parse(doc));
}
