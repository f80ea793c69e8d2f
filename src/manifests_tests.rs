use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

const FILE: &str = "m.yaml";

fn parse(text: &str) -> Input {
    parse_raw(text.as_bytes())
}

fn parse_raw(bytes: &[u8]) -> Input {
    let mut input = Input::default();
    parse_bytes(bytes, FILE, &mut input);
    input
}

pub(super) fn names(input: &Input) -> Vec<&str> {
    input
        .documents
        .iter()
        .map(|d| {
            d.value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?")
        })
        .collect()
}

fn sources(input: &Input) -> Vec<(usize, Option<usize>, usize)> {
    input
        .documents
        .iter()
        .map(|d| (d.source.document, d.source.item, d.source.line))
        .collect()
}

pub(super) fn no_errors(input: &Input) {
    assert!(input.errors.is_empty(), "{:#?}", input.errors);
}

/// A scratch directory, removed when dropped.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    pub(super) fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kube-devops-manifests-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(super) fn write(&self, rel: &str, content: &[u8]) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(super) fn pod_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n")
}

pub(super) fn load_paths(paths: &[PathBuf]) -> Input {
    load(paths, &mut std::io::empty())
}

// ---------------------------------------------------------------------------------------
// YAML streams

#[test]
fn a_multi_document_stream_with_comments_yields_every_object_with_its_first_line() {
    let text = "# header\n\
                # more header\n\
                apiVersion: v1\n\
                kind: Pod\n\
                metadata: {name: a}\n\
                ---\n\
                # second document\n\
                \n\
                apiVersion: v1\n\
                kind: Pod  # trailing comment\n\
                metadata: {name: b}\n";
    let input = parse(text);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b"]);
    assert_eq!(sources(&input), [(1, None, 3), (2, None, 9)]);
}

#[test]
fn a_leading_document_marker_does_not_make_an_empty_first_document() {
    let input = parse(&format!("---\n{}---\n{}", pod_yaml("a"), pod_yaml("b")));
    no_errors(&input);
    assert_eq!(sources(&input), [(1, None, 2), (2, None, 7)]);
}

#[test]
fn content_on_the_marker_line_belongs_to_the_new_document() {
    let text = "--- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n\
                --- # only a comment here\n\
                apiVersion: v1\n\
                kind: Pod\n\
                metadata: {name: b}\n";
    let input = parse(text);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b"]);
    assert_eq!(sources(&input), [(1, None, 1), (2, None, 3)]);
}

#[test]
fn document_end_markers_close_documents() {
    let text = format!("{}...\n---\n{}...\n", pod_yaml("a"), pod_yaml("b"));
    let input = parse(&text);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b"]);
}

#[test]
fn a_leading_yaml_directive_is_accepted() {
    let input = parse(&format!("%YAML 1.2\n---\n{}", pod_yaml("a")));
    no_errors(&input);
    assert_eq!(names(&input), ["a"]);
    assert_eq!(sources(&input), [(1, None, 3)]);
}

#[test]
fn windows_line_endings_are_read() {
    let text = format!("{}---\n{}", pod_yaml("a"), pod_yaml("b")).replace('\n', "\r\n");
    let input = parse(&text);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b"]);
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let input = parse(&format!("\u{feff}{}", pod_yaml("a")));
    no_errors(&input);
    assert_eq!(names(&input), ["a"]);
}

#[test]
fn a_marker_inside_a_block_scalar_does_not_split_the_document() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata:\n  script: |\n    echo a\n    ---\n    echo b\n";
    let input = parse(text);
    no_errors(&input);
    assert_eq!(input.documents.len(), 1);
    assert_eq!(
        input.documents[0].value["data"]["script"],
        "echo a\n---\necho b\n"
    );
}

#[test]
fn null_documents_are_skipped_without_error() {
    let input = parse(&format!("~\n---\n{}---\nnull\n", pod_yaml("a")));
    no_errors(&input);
    assert_eq!(names(&input), ["a"]);
}

// ---------------------------------------------------------------------------------------
// JSON

#[test]
fn a_json_file_yields_its_object() {
    let input =
        parse("\n  {\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}}\n");
    no_errors(&input);
    assert_eq!(names(&input), ["a"]);
    assert_eq!(input.documents[0].source.document, 1);
}

#[test]
fn a_json_stream_yields_every_object_in_order() {
    let text = "{\"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}}\n\
                {\"kind\": \"Pod\", \"metadata\": {\"name\": \"b\"}}\n\
                {\"kind\": \"Pod\", \"metadata\": {\"name\": \"c\"}}";
    let input = parse(text);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b", "c"]);
    let docs: Vec<usize> = input.documents.iter().map(|d| d.source.document).collect();
    assert_eq!(docs, [1, 2, 3]);
}

#[test]
fn broken_json_is_reported_with_document_and_line() {
    let input = parse("{\"kind\": \"Pod\"}\n{\"kind\": \n\"Pod\",,}\n");
    assert_eq!(names(&input), ["?"]);
    assert_eq!(input.errors.len(), 1);
    let e = &input.errors[0];
    assert_eq!(
        (e.file.as_str(), e.document, e.line),
        (FILE, Some(2), Some(3))
    );
    assert!(e.message.contains("invalid JSON"), "{}", e.message);
}

// ---------------------------------------------------------------------------------------
// List kinds

#[test]
fn a_list_is_expanded_with_the_index_of_each_item() {
    let text = format!(
        "{}---\napiVersion: v1\nkind: List\nitems:\n- {{kind: Pod, metadata: {{name: b}}}}\n- {{kind: Pod, metadata: {{name: c}}}}\n",
        pod_yaml("a")
    );
    let input = parse(&text);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b", "c"]);
    assert_eq!(
        sources(&input),
        [(1, None, 1), (2, Some(0), 6), (2, Some(1), 6)]
    );
}

#[test]
fn a_typed_list_from_kubectl_is_expanded() {
    let text = "{\"apiVersion\": \"v1\", \"kind\": \"PodList\", \"items\": [\
                {\"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}},\
                {\"kind\": \"Pod\", \"metadata\": {\"name\": \"b\"}}]}";
    let input = parse(text);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b"]);
    let items: Vec<Option<usize>> = input.documents.iter().map(|d| d.source.item).collect();
    assert_eq!(items, [Some(0), Some(1)]);
}

#[test]
fn an_empty_list_yields_nothing_and_no_error() {
    let input = parse("apiVersion: v1\nkind: List\nitems: []\n");
    no_errors(&input);
    assert!(input.documents.is_empty());
}

#[test]
fn a_kind_ending_in_list_without_items_is_an_ordinary_object() {
    let input = parse("apiVersion: example.com/v1\nkind: AllowList\nmetadata: {name: a}\n");
    no_errors(&input);
    assert_eq!(names(&input), ["a"]);
    assert_eq!(input.documents[0].source.item, None);
}

// ---------------------------------------------------------------------------------------
// Errors

#[test]
fn a_broken_document_is_reported_and_the_others_still_load() {
    let text = "apiVersion: v1\n\
                kind: Pod\n\
                metadata: {name: a}\n\
                ---\n\
                apiVersion: v1\n\
                kind: Pod\n\
                metadata:\n\
                \x20 name: b\n\
                \x20   spec: broken\n\
                ---\n\
                apiVersion: v1\n\
                kind: Pod\n\
                metadata: {name: c}\n";
    let input = parse(text);
    assert_eq!(names(&input), ["a", "c"]);
    assert_eq!(input.errors.len(), 1, "{:#?}", input.errors);
    let e = &input.errors[0];
    assert_eq!(
        (e.file.as_str(), e.document, e.line),
        (FILE, Some(2), Some(9)),
        "{e}"
    );
    assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
    assert!(
        !e.message.contains(" at line "),
        "the document-relative line is dropped: {}",
        e.message
    );
}

#[test]
fn a_broken_document_after_comments_is_reported_at_its_file_line() {
    let text = "# license header\n\
                # second header line\n\
                \n\
                apiVersion: v1\n\
                kind: Pod\n\
                metadata:\n\
                \x20 name: b\n\
                \x20   spec: broken\n";
    let input = parse(text);
    assert_eq!(input.errors.len(), 1, "{:#?}", input.errors);
    assert_eq!(input.errors[0].line, Some(8), "{}", input.errors[0]);
}

#[test]
fn the_error_display_names_file_document_and_line() {
    let input = parse("apiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n    spec: broken\n");
    let text = input.errors[0].to_string();
    assert!(
        text.starts_with("m.yaml: document 1 (line 5): invalid YAML"),
        "{text}"
    );
}

#[rstest::rstest]
#[case::string("just some words\n")]
#[case::number("42\n")]
#[case::sequence("- a\n- b\n")]
#[case::json_array("[{\"kind\": \"Pod\"}]")]
#[case::json_string("\"Pod\"")]
fn a_document_that_is_not_a_mapping_is_rejected(#[case] text: &str) {
    let input = parse(text);
    assert!(input.documents.is_empty());
    assert_eq!(input.errors.len(), 1);
    let e = &input.errors[0];
    assert_eq!((e.file.as_str(), e.document), (FILE, Some(1)));
    assert!(
        e.message.contains("not a Kubernetes object"),
        "{}",
        e.message
    );
}

#[test]
fn a_scalar_document_among_objects_is_rejected_alone() {
    let input = parse(&format!(
        "{}---\nhello\n---\n{}",
        pod_yaml("a"),
        pod_yaml("b")
    ));
    assert_eq!(names(&input), ["a", "b"]);
    assert_eq!(input.errors.len(), 1);
    assert_eq!(
        (input.errors[0].document, input.errors[0].line),
        (Some(2), Some(6))
    );
}

#[test]
fn a_binary_file_is_refused_naming_the_file() {
    let input = parse_raw(b"apiVersion: v1\n\0\0\x01kind: Pod\n");
    assert!(input.documents.is_empty());
    assert_eq!(input.errors.len(), 1);
    assert_eq!(input.errors[0].file, FILE);
    assert!(
        input.errors[0].message.contains("binary"),
        "{}",
        input.errors[0]
    );
    assert!(input.empty_files.is_empty());
}

#[test]
fn non_utf8_input_is_refused_naming_the_file() {
    let input = parse_raw(b"apiVersion: v1\nkind: Pod\nmetadata: {name: caf\xe9}\n");
    assert!(input.documents.is_empty());
    assert_eq!(input.errors.len(), 1);
    assert_eq!(input.errors[0].file, FILE);
    assert!(
        input.errors[0].message.contains("UTF-8"),
        "{}",
        input.errors[0]
    );
    assert!(
        input.errors[0].message.contains("offset 45"),
        "{}",
        input.errors[0]
    );
}

#[rstest::rstest]
#[case::no_bytes("")]
#[case::whitespace("  \n\n")]
#[case::comments("# nothing here\n# at all\n")]
#[case::markers_only("---\n---\n...\n")]
#[case::null_document("~\n")]
fn a_file_without_objects_is_listed_as_empty(#[case] text: &str) {
    let input = parse(text);
    no_errors(&input);
    assert!(input.documents.is_empty());
    assert_eq!(input.empty_files, [FILE]);
    assert_eq!(input.files, 1);
}

#[test]
fn a_file_with_only_a_broken_document_is_not_listed_as_empty() {
    let input = parse("key: [unclosed\n");
    assert_eq!(input.errors.len(), 1);
    assert!(input.empty_files.is_empty());
}

// ---------------------------------------------------------------------------------------
// Files, directories and standard input

#[test]
fn a_file_over_the_size_limit_is_refused_with_a_clear_message() {
    let dir = Scratch::new();
    let path = dir.write("huge.yaml", b"");
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    // A sparse file: the size is what matters, and it is never read.
    file.set_len(MAX_FILE_BYTES + 1).unwrap();
    drop(file);
    let input = load_paths(std::slice::from_ref(&path));
    assert!(input.documents.is_empty());
    assert_eq!(input.errors.len(), 1);
    let e = &input.errors[0];
    assert_eq!(e.file, path.display().to_string());
    assert!(e.message.contains("32 MiB limit"), "{e}");
    assert!(e.message.contains("split it"), "{e}");
}

#[test]
fn a_file_at_the_size_limit_is_read() {
    let dir = Scratch::new();
    let mut content = pod_yaml("a").into_bytes();
    let pad = usize::try_from(MAX_FILE_BYTES).unwrap() - content.len();
    content.extend(std::iter::repeat_n(b'\n', pad));
    let path = dir.write("big.yaml", &content);
    let input = load_paths(&[path]);
    no_errors(&input);
    assert_eq!(names(&input), ["a"]);
}

#[test]
fn standard_input_over_the_size_limit_is_refused() {
    let mut stdin = std::io::repeat(b'\n').take(MAX_FILE_BYTES + 10);
    let input = load(&[PathBuf::from("-")], &mut stdin);
    assert_eq!(input.errors.len(), 1);
    assert_eq!(input.errors[0].file, "-");
    assert!(
        input.errors[0].message.contains("limit"),
        "{}",
        input.errors[0]
    );
}

#[test]
fn standard_input_is_read_for_a_dash() {
    let text = pod_yaml("from-stdin");
    let input = load(&[PathBuf::from("-")], &mut text.as_bytes());
    no_errors(&input);
    assert_eq!(names(&input), ["from-stdin"]);
    assert_eq!(input.documents[0].source.file, "-");
}

#[test]
fn a_missing_path_is_reported_naming_it() {
    let dir = Scratch::new();
    let missing = dir.path().join("nope.yaml");
    let input = load_paths(std::slice::from_ref(&missing));
    assert_eq!(input.errors.len(), 1);
    assert_eq!(input.errors[0].file, missing.display().to_string());
    assert!(
        input.errors[0].message.contains("cannot read"),
        "{}",
        input.errors[0]
    );
}

#[test]
fn a_directory_is_walked_recursively_in_sorted_order_skipping_hidden_and_foreign_files() {
    let dir = Scratch::new();
    dir.write("b.yaml", pod_yaml("b").as_bytes());
    dir.write("a.yml", pod_yaml("a").as_bytes());
    dir.write(
        "c.json",
        br#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"}}"#,
    );
    dir.write("sub/deeper/e.yaml", pod_yaml("e").as_bytes());
    dir.write("sub/d.yaml", pod_yaml("d").as_bytes());
    dir.write("notes.txt", pod_yaml("txt").as_bytes());
    dir.write("chart.tpl", pod_yaml("tpl").as_bytes());
    dir.write(".hidden.yaml", pod_yaml("hidden").as_bytes());
    dir.write(".git/objects.yaml", pod_yaml("git").as_bytes());
    let input = load_paths(&[dir.path().to_path_buf()]);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b", "c", "d", "e"]);
    assert_eq!(input.files, 5);
    let d = &input.documents[3].source.file;
    assert!(
        d.ends_with("sub/d.yaml") || d.ends_with("sub\\d.yaml"),
        "{d}"
    );
}

#[test]
fn an_empty_file_in_a_directory_is_listed_by_path() {
    let dir = Scratch::new();
    let empty = dir.write("empty.yaml", b"");
    dir.write("pod.yaml", pod_yaml("a").as_bytes());
    let input = load_paths(&[dir.path().to_path_buf()]);
    no_errors(&input);
    assert_eq!(input.empty_files, [empty.display().to_string()]);
    assert_eq!(input.files, 2);
}

#[test]
fn errors_in_one_file_do_not_stop_the_next() {
    let dir = Scratch::new();
    let bad = dir.write("a-bad.yaml", b"\0binary");
    let good = dir.write("b-good.yaml", pod_yaml("b").as_bytes());
    let input = load_paths(&[bad.clone(), good]);
    assert_eq!(names(&input), ["b"]);
    assert_eq!(input.errors.len(), 1);
    assert_eq!(input.errors[0].file, bad.display().to_string());
}

#[test]
fn explicit_files_are_read_whatever_their_extension() {
    let dir = Scratch::new();
    let path = dir.write("pod.txt", pod_yaml("a").as_bytes());
    let input = load_paths(&[path]);
    no_errors(&input);
    assert_eq!(names(&input), ["a"]);
}

// ---------------------------------------------------------------------------------------
// Display

#[test]
fn a_source_reads_as_file_document_item_and_line() {
    let source = Source {
        file: "a.yaml".into(),
        document: 2,
        item: Some(1),
        line: 7,
    };
    assert_eq!(source.to_string(), "a.yaml: document 2, item 1 (line 7)");
    let plain = Source {
        item: None,
        ..source
    };
    assert_eq!(plain.to_string(), "a.yaml: document 2 (line 7)");
}

#[test]
fn duplicate_keys_are_an_error_not_last_one_wins() {
    let input = parse("kind: Pod\nmetadata: {name: a}\nkind: Service\n");
    assert!(input.documents.is_empty());
    assert_eq!(input.errors.len(), 1);
    assert!(
        input.errors[0].message.contains("duplicate key \"kind\""),
        "{}",
        input.errors[0]
    );
}

#[test]
fn duplicate_keys_in_json_are_an_error_too() {
    let input = parse(r#"{"kind": "Pod", "kind": "Service"}"#);
    assert!(input.documents.is_empty());
    assert!(
        input.errors[0].message.contains("duplicate key"),
        "{}",
        input.errors[0]
    );
}

#[test]
fn a_yaml_flow_mapping_at_the_top_is_read_as_yaml() {
    let input = parse("{kind: Pod, metadata: {name: flow}}\n");
    assert!(input.errors.is_empty(), "{:?}", input.errors);
    assert_eq!(names(&input), ["flow"]);
}

#[test]
fn every_value_of_a_json_stream_knows_its_line() {
    let input = parse(
        "{\"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}}\n\n{\n\"kind\": \"Pod\", \"metadata\": {\"name\": \"b\"}}\n",
    );
    assert_eq!(sources(&input), [(1, None, 1), (2, None, 3)]);
}

#[test]
fn a_document_after_an_end_marker_without_a_new_start_marker_is_read() {
    let input = parse("kind: Pod\nmetadata: {name: a}\n...\nkind: Pod\nmetadata: {name: b}\n");
    assert_eq!(names(&input), ["a", "b"]);
    assert_eq!(sources(&input), [(1, None, 1), (2, None, 4)]);
}

// ---------------------------------------------------------------------------------------
// YAML versions and line breaks

/// `kubectl` reads YAML 1.1 (sigs.k8s.io/yaml on go-yaml v2): `yes` and `on` are true,
/// `0644` is octal, `<<` merges. Manifests here are read the same way, in the block reader
/// and in the general reader alike (the anchor sends the second document to it).
#[rstest::rstest]
#[case::block("")]
#[case::general("anchor: &a 1\n")]
fn yaml_1_1_forms_are_read_as_kubectl_reads_them(#[case] prefix: &str) {
    let input = parse(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\n{prefix}data:\n  a: yes\n  b: on\n  c: 0644\n  d: 0o644\n  e: \"0644\"\n  f: 'yes'\n"
    ));
    no_errors(&input);
    let data = &input.documents[0].value["data"];
    assert_eq!(data["a"], true);
    assert_eq!(data["b"], true);
    assert_eq!(data["c"], 420);
    assert_eq!(data["d"], 420);
    assert_eq!(data["e"], "0644");
    assert_eq!(data["f"], "yes");
    let merged = parse("apiVersion: v1\nkind: ConfigMap\nbase: &b {x: 1}\ndata:\n  <<: *b\n");
    no_errors(&merged);
    assert_eq!(
        merged.documents[0].value["data"],
        serde_json::json!({"x": 1})
    );
}

const DEPLOYMENT_WITH_MODE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      volumes:
      - name: cfg
        configMap:
          name: cfg
          defaultMode: 0644
      - name: key
        secret: {secretName: key, defaultMode: 0400}
      containers:
      - name: app
        image: nginx:1.27
";

/// The most common YAML 1.1 form in real manifests, `defaultMode: 0644`, is the mode 420
/// `kubectl` sends, and the Deployment decodes, in either reader.
#[rstest::rstest]
#[case::block("")]
#[case::general("x: &x 1\n")]
fn an_octal_default_mode_is_420_and_the_deployment_decodes(#[case] extra: &str) {
    let input = parse(&format!("{DEPLOYMENT_WITH_MODE}{extra}"));
    no_errors(&input);
    let value = input.documents[0].value.clone();
    let volumes = &value["spec"]["template"]["spec"]["volumes"];
    assert_eq!(volumes[0]["configMap"]["defaultMode"], 420);
    assert_eq!(volumes[1]["secret"]["defaultMode"], 256);
    let deployment: k8s_openapi::api::apps::v1::Deployment =
        serde_json::from_value(value).expect("the Deployment decodes");
    let spec = deployment
        .spec
        .and_then(|s| s.template.spec)
        .expect("pod spec");
    let modes: Vec<_> = spec
        .volumes
        .unwrap_or_default()
        .iter()
        .map(|v| {
            v.config_map
                .as_ref()
                .and_then(|c| c.default_mode)
                .or(v.secret.as_ref().and_then(|s| s.default_mode))
        })
        .collect();
    assert_eq!(modes, [Some(420), Some(256)]);
}

/// Errors of the general reader's own (a merge of a scalar, a tag that cannot hold its
/// scalar, an infinity) name the document and the file line.
#[rstest::rstest]
#[case::merge_of_a_scalar("m:\n  <<: 1\n", 10, "map merge requires map")]
#[case::bad_tag("m:\n  a: !!int abc\n", 10, "cannot decode !!str `abc` as a !!int")]
#[case::infinity("m:\n  a: .inf\n", 10, "infinity")]
#[case::null_key("m:\n  ~: 1\n", 10, "unsupported map key")]
#[case::duplicate_after_conversion("m:\n  yes: 1\n  true: 2\n", 11, "duplicate key \"true\"")]
fn general_reader_errors_name_document_and_line(
    #[case] body: &str,
    #[case] line: usize,
    #[case] message: &str,
) {
    let input = parse(&format!(
        "{}---\n# c\napiVersion: v1\nkind: ConfigMap\n{body}",
        pod_yaml("a")
    ));
    assert_eq!(names(&input), ["a"]);
    assert_eq!(input.errors.len(), 1, "{:?}", input.errors);
    let e = &input.errors[0];
    assert_eq!((e.document, e.line), (Some(2), Some(line)), "{e}");
    assert!(e.message.starts_with("invalid YAML: "), "{e}");
    assert!(e.message.contains(message), "{e}");
}

#[rstest::rstest]
#[case::unix("\n")]
#[case::windows("\r\n")]
fn a_last_document_without_a_final_line_break_ends_its_block_scalar_with_one(
    #[case] newline: &str,
) {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  s: |\n    x"
        .replace('\n', newline);
    let input = parse(&text);
    no_errors(&input);
    assert_eq!(names(&input), ["a", "b"]);
    assert_eq!(input.documents[1].value["data"]["s"], "x\n");
}

proptest::proptest! {
    #[test]
    fn each_document_starts_on_the_line_it_names(
        text in proptest::string::string_regex(
            "(a: b|---|[.][.][.]|[.][.][.][.]|---x|--- x|--- #c|# c|%Y| |\n|\r\n|\n  ---\n){0,60}"
        ).unwrap()
    ) {
        let lines: Vec<&str> = text.split('\n').collect();
        for doc in split_yaml(&text).iter().filter(|d| d.has_content) {
            let first = doc.text.lines().next().unwrap_or("").trim_end_matches('\r');
            let named = lines[doc.line - 1].trim_end_matches('\r');
            proptest::prop_assert!(named.ends_with(first), "line {}: {named:?}, document starts {first:?}", doc.line);
            proptest::prop_assert!(!first.trim().is_empty() && !first.starts_with('#'));
        }
    }
}

#[test]
fn lines_that_only_look_like_markers_stay_inside_their_document() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  s: |\n    ---x\n    ....\n  t: x\n---\n\n# c\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  bad: [\n";
    let input = parse(text);
    assert_eq!(names(&input), ["a"]);
    assert_eq!(input.documents[0].value["data"]["s"], "---x\n....\n");
    let e = &input.errors[0];
    assert_eq!((e.document, e.line), (Some(2), Some(18)), "{e}");
}

#[test]
fn a_marker_right_after_a_documents_first_line_ends_it() {
    for (text, expected) in [
        ("a: 1\n...\nb: 2\n", ["a: 1\n", "b: 2\n"]),
        ("a: 1\n---\nb: 2\n", ["a: 1\n", "b: 2\n"]),
        ("--- a: 1\n...\n--- b: 2\n", ["a: 1\n", "b: 2\n"]),
    ] {
        let docs: Vec<String> = split_yaml(text)
            .into_iter()
            .filter(|d| d.has_content)
            .map(|d| d.text.into_owned())
            .collect();
        assert_eq!(docs, expected, "{text:?}");
    }
}
