//! JSON input as `kubectl` 1.37 reads it: a stream whose first object does not parse as
//! JSON is read as YAML (where a trailing comma inside a flow mapping is allowed); a comma
//! after a complete top-level value is an error.

use crate::manifests::{Input, parse_bytes};

fn read(text: &str) -> Input {
    let mut input = Input::default();
    parse_bytes(text.as_bytes(), "m.json", &mut input);
    input
}

#[test]
fn a_trailing_comma_inside_the_only_object_is_read_as_kubectl_reads_it() {
    let input = read(r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x",},}"#);
    assert!(input.errors.is_empty(), "{:?}", input.errors);
    assert_eq!(input.documents[0].value["metadata"]["name"], "x");
}

#[test]
fn a_comma_after_a_complete_object_is_an_error_naming_its_place() {
    let input = read(
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"x\"}},\n",
    );
    assert_eq!(
        input.documents.len(),
        1,
        "the object before it is still read"
    );
    assert_eq!(input.errors.len(), 1);
    let e = &input.errors[0];
    assert_eq!(e.document, Some(2));
    assert!(e.message.starts_with("invalid JSON"), "{e}");
}
