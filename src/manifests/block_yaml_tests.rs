//! The block-style reader agrees with the full YAML parser on every document it reads,
//! and declines the rest.

use serde_json::{Value, json};

use super::parse;

/// What the general reader makes of one document.
fn full_parse(doc: &str) -> Result<Value, String> {
    crate::manifests::parse_full(doc).map_err(|e| e.message)
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
     k: FALSE\nl: inf\nm: -inf\nnn: nan\no: 1_000\np: v1.2\nq: -x\nr: y\ns: Null\nt: 0.1.2x\nu: 0123\nv: -0\nw: .x\n"
)]
#[case::numbers(
    "a: 1.5\nb: 1e3\nc: 0x1f\nd: 0o644\ne: 0644\nf: 123456789012345678901234567890\ng: 08\n\
     h: -.5\ni: 0b101\nj: 18446744073709551615\nk: 1_0.5\nl: 1:20\nm: [0644, off, 1e3]\n"
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
#[case::key_forms("x-y_z.w/v: 3\n_u: 4\nyesterday: 5\n")]
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
#[case::infinity("a: .inf\n")]
#[case::nan("a: [.nan]\n")]
#[case::boolean_key("yes: 1\n")]
#[case::integer_key("0644: 1\n")]
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

/// Every plain scalar form, as `kubectl` reads it (go-yaml v2), in the block reader and in
/// the general reader (the anchor sends the document there); quoted, it stays a string.
#[rstest::rstest]
#[case::empty("", json!(null))]
#[case::tilde("~", json!(null))]
#[case::null("null", json!(null))]
#[case::null_title("Null", json!(null))]
#[case::null_upper("NULL", json!(null))]
#[case::null_mixed("nULL", json!("nULL"))]
#[case::y("y", json!(true))]
#[case::y_upper("Y", json!(true))]
#[case::yes("yes", json!(true))]
#[case::yes_title("Yes", json!(true))]
#[case::yes_upper("YES", json!(true))]
#[case::yes_mixed("yES", json!("yES"))]
#[case::n("n", json!(false))]
#[case::n_upper("N", json!(false))]
#[case::no("no", json!(false))]
#[case::no_title("No", json!(false))]
#[case::no_upper("NO", json!(false))]
#[case::true_lower("true", json!(true))]
#[case::true_title("True", json!(true))]
#[case::true_upper("TRUE", json!(true))]
#[case::true_mixed("tRUE", json!("tRUE"))]
#[case::false_lower("false", json!(false))]
#[case::false_title("False", json!(false))]
#[case::false_upper("FALSE", json!(false))]
#[case::on("on", json!(true))]
#[case::on_title("On", json!(true))]
#[case::on_upper("ON", json!(true))]
#[case::off("off", json!(false))]
#[case::off_title("Off", json!(false))]
#[case::off_upper("OFF", json!(false))]
#[case::o("o", json!("o"))]
#[case::zero("0", json!(0))]
#[case::decimal("42", json!(42))]
#[case::plus("+42", json!(42))]
#[case::minus("-42", json!(-42))]
#[case::octal("0644", json!(420))]
#[case::octal_mode_owner_only("0400", json!(256))]
#[case::octal_negative("-0644", json!(-420))]
#[case::octal_plus("+0644", json!(420))]
#[case::octal_1_2("0o17", json!(15))]
#[case::octal_1_2_upper("0O17", json!(15))]
#[case::hexadecimal("0x1F", json!(31))]
#[case::hexadecimal_lower("0x1f", json!(31))]
#[case::hexadecimal_negative("-0x1F", json!(-31))]
#[case::binary("0b101", json!(5))]
#[case::binary_negative("-0b101", json!(-5))]
#[case::underscores("1_000_000", json!(1_000_000))]
#[case::octal_underscores("0_644", json!(420))]
#[case::i64_max("9223372036854775807", json!(i64::MAX))]
#[case::i64_min("-9223372036854775808", json!(i64::MIN))]
#[case::u64_max("18446744073709551615", json!(u64::MAX))]
#[case::over_u64("18446744073709551616", json!(18446744073709551616.0))]
#[case::float("1.5", json!(1.5))]
#[case::float_negative("-1.5", json!(-1.5))]
#[case::float_leading_dot(".5", json!(0.5))]
#[case::float_negative_leading_dot("-.5", json!(-0.5))]
#[case::exponent("1e3", json!(1000))]
#[case::exponent_fraction("1.5e-3", json!(0.0015))]
#[case::exponent_big("6.02E+23", json!(6.02e23))]
#[case::whole_float("2.0", json!(2))]
#[case::not_octal("08", json!(8))]
#[case::not_octal_fraction("09.5", json!(9.5))]
#[case::out_of_range_float("1e400", json!("1e400"))]
#[case::sexagesimal("1:20", json!("1:20"))]
#[case::sexagesimal_float("190:20:30.15", json!("190:20:30.15"))]
#[case::bare_prefix("0x", json!("0x"))]
#[case::bad_binary("0b2", json!("0b2"))]
#[case::bare_plus("+", json!("+"))]
#[case::bare_exponent("1e", json!("1e"))]
#[case::version("1.2.3", json!("1.2.3"))]
#[case::quantity("100m", json!("100m"))]
#[case::word("nginx", json!("nginx"))]
#[case::date("2001-12-14", json!("2001-12-14"))]
#[case::dot_word(".x", json!(".x"))]
fn plain_scalars_resolve_as_kubectl_reads_them_in_both_readers(
    #[case] scalar: &str,
    #[case] expected: Value,
) {
    let block = format!("a: {scalar}\nb: [{scalar}]\n");
    let general = format!("x: &x 1\n{block}");
    let want = json!({"a": expected, "b": [expected]});
    if scalar.is_empty() || scalar.contains(':') {
        // `[]` and `[1:20]` are other things in a flow sequence.
        let block = format!("a: {scalar}\n");
        assert_eq!(parse(&block), Some(json!({"a": expected})), "block reader");
        let general = format!("x: &x 1\n{block}");
        assert_eq!(full_parse(&general), Ok(json!({"x": 1, "a": expected})));
        return;
    }
    match parse(&block) {
        Some(fast) => assert_eq!(fast, want, "block reader"),
        // A flow item starting with a sign, a dot or `~` is left to the general reader.
        None => assert_eq!(
            parse(&format!("a: {scalar}\n")),
            Some(json!({"a": expected})),
            "block reader"
        ),
    }
    let mut with_anchor = want;
    with_anchor["x"] = json!(1);
    assert_eq!(full_parse(&general), Ok(with_anchor), "general reader");
    for quoted in [format!("'{scalar}'"), format!("\"{scalar}\"")] {
        let doc = format!("a: {quoted}\nb: [{quoted}]\n");
        let want = json!({"a": scalar, "b": [scalar]});
        assert_eq!(parse(&doc), Some(want.clone()), "block reader, {quoted}");
        let mut with_anchor = want;
        with_anchor["x"] = json!(1);
        assert_eq!(full_parse(&format!("x: &x 1\n{doc}")), Ok(with_anchor));
    }
}

/// What the general reader makes of tags, merge keys and keys that are not strings.
#[rstest::rstest]
#[case::str_tag("a: !!str 0644\n", Ok(json!({"a": "0644"})))]
#[case::int_tag_on_quoted("a: !!int \"0644\"\n", Ok(json!({"a": 420})))]
#[case::float_tag_on_int("a: !!float 1\nb: !!float 1.5\n", Ok(json!({"a": 1, "b": 1.5})))]
#[case::bool_tag("a: !!bool 'yes'\n", Ok(json!({"a": true})))]
#[case::null_tag("a: !!null ''\n", Ok(json!({"a": null})))]
#[case::verbatim_tag("a: !<tag:yaml.org,2002:int> '7'\n", Ok(json!({"a": 7})))]
#[case::unknown_tag("a: !foo 0644\nb: !foo [1]\n", Ok(json!({"a": "0644", "b": [1]})))]
#[case::bad_int_tag("a: !!int abc\n", Err("cannot decode !!str `abc` as a !!int"))]
#[case::bad_bool_tag("a: !!bool 1\n", Err("cannot decode !!int `1` as a !!bool"))]
#[case::merge("b: &b {x: 1, z: 2}\nm:\n  <<: *b\n  z: 3\n", Ok(json!({"b": {"x": 1, "z": 2}, "m": {"x": 1, "z": 3}})))]
#[case::merge_inline("m:\n  <<: {x: 1}\n  z: 2\n", Ok(json!({"m": {"x": 1, "z": 2}})))]
#[case::merge_sets_in_order("b: &b {x: 1}\nm:\n  x: 2\n  <<: *b\n", Ok(json!({"b": {"x": 1}, "m": {"x": 1}})))]
#[case::merge_sequence_first_wins(
    "a: &a {x: 1}\nb: &b {x: 2, z: 2}\nm:\n  <<: [*a, *b]\n",
    Ok(json!({"a": {"x": 1}, "b": {"x": 2, "z": 2}, "m": {"x": 1, "z": 2}}))
)]
#[case::merge_tag("m:\n  !!merge <<: {x: 1}\n", Ok(json!({"m": {"x": 1}})))]
#[case::quoted_merge_key_is_a_key("m:\n  '<<': {x: 1}\n", Ok(json!({"m": {"<<": {"x": 1}}})))]
#[case::merge_of_a_sequence_alias("s: &s [{x: 1}]\nm:\n  <<: *s\n", Err("map merge requires map"))]
#[case::merge_of_a_scalar_item("m:\n  <<: [1]\n", Err("map merge requires map"))]
#[case::merged_key_twice_is_no_duplicate(
    "m:\n  <<: {x: 1}\n  <<: {x: 2}\n  x: 3\n",
    Ok(json!({"m": {"x": 3}}))
)]
#[case::bool_key("yes: 1\nOff: 2\n", Ok(json!({"true": 1, "false": 2})))]
#[case::y_key("x: 1\ny: 2\n", Ok(json!({"x": 1, "true": 2})))]
#[case::int_key("0644: a\n-1: b\n", Ok(json!({"420": "a", "-1": "b"})))]
#[case::float_key("1.5: a\n1e3: b\n1e7: c\n.inf: d\n", Ok(json!({"1.5": "a", "1000": "b", "1e+07": "c", ".inf": "d"})))]
#[case::quoted_keys("'yes': 1\n\"0644\": 2\n", Ok(json!({"yes": 1, "0644": 2})))]
#[case::alias_key("a: &k key\n*k : 1\n", Ok(json!({"a": "key", "key": 1})))]
#[case::null_key("~: 1\n", Err("unsupported map key"))]
#[case::big_key("18446744073709551615: 1\n", Err("unsupported map key"))]
#[case::sequence_key("? [a]\n: 1\n", Err("unsupported map key"))]
#[case::duplicate_after_conversion("yes: 1\non: 2\n", Err("duplicate key \"true\""))]
#[case::duplicate("a: 1\nb: 2\na: 3\n", Err("duplicate key \"a\""))]
#[case::infinity("a: .inf\n", Err("JSON has no infinity or NaN"))]
#[case::nan("a: [.NaN]\n", Err("JSON has no infinity or NaN"))]
#[case::folded_stays_a_string("a: >\n  0644\nb: |\n  yes\n", Ok(json!({"a": "0644\n", "b": "yes\n"})))]
fn the_general_reader_honours_tags_merges_and_key_conversion(
    #[case] doc: &str,
    #[case] expected: Result<Value, &str>,
) {
    let got = full_parse(doc);
    match expected {
        Ok(value) => assert_eq!(got, Ok(value)),
        Err(message) => {
            let e = got.expect_err("an error");
            assert!(e.contains(message), "{e}");
        }
    }
}

proptest::proptest! {
    /// The reader's lines are `str::split('\n')`'s, each with the spaces it starts with.
    #[test]
    fn lines_are_split_and_measured_as_the_standard_library_would(
        text in proptest::string::string_regex("(a|é|\n| |  |# |- ){0,40}").unwrap()
    ) {
        let ours: Vec<(&str, usize)> =
            super::Line::all(&text).iter().map(|l| (l.text, l.indent)).collect();
        let expected: Vec<(&str, usize)> = text
            .split('\n')
            .map(|l| (l, l.len() - l.trim_start_matches(' ').len()))
            .collect();
        proptest::prop_assert_eq!(ours, expected);
    }
}

/// Mappings of every size around the point where duplicate keys stop being searched for
/// one by one: read as the general reader reads them, and declined with a duplicate
/// anywhere, nested in a compact mapping too.
#[test]
fn a_duplicate_key_is_declined_in_mappings_of_every_size() {
    for size in [1, 2, 31, 32, 33, 34, 80] {
        let keys: Vec<String> = (0..size).map(|i| format!("k{i}")).collect();
        let block = |keys: &[String]| {
            let entries: String = keys.iter().map(|k| format!("{k}: 1\n")).collect();
            let item: String = keys.iter().map(|k| format!("  {k}: 1\n")).collect();
            [entries, format!("a:\n-{}", &item[1..])]
        };
        for doc in block(&keys) {
            assert_eq!(
                parse(&doc).ok_or("declined"),
                full_parse(&doc).map_err(|_| "error")
            );
            assert!(parse(&doc).is_some(), "{size} keys");
        }
        for (from, to) in [(0, size - 1), (size - 1, 0), (size / 2, size - 1)] {
            if from == to {
                continue;
            }
            let mut duplicated = keys.clone();
            duplicated[to] = keys[from].clone();
            for doc in block(&duplicated) {
                assert_eq!(parse(&doc), None, "{size} keys, {from} as {to}");
                assert!(full_parse(&doc).is_err());
            }
        }
    }
}
