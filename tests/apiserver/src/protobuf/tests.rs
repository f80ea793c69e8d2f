//! Protobuf bodies built field by field as the Go marshaller writes them (every plain
//! field, zero or not; pointers only when set) decode to the JSON the client meant.

use serde_json::json;

use super::{Unsupported, decode};

/// Wire-format writer for the test bodies.
#[derive(Default)]
struct Body(Vec<u8>);

impl Body {
    fn varint(mut self, mut value: u64) -> Self {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.0.push(byte);
                return self;
            }
            self.0.push(byte | 0x80);
        }
    }

    fn int(self, number: u64, value: u64) -> Self {
        self.varint(number << 3).varint(value)
    }

    fn bytes(self, number: u64, value: &[u8]) -> Self {
        let mut out = self.varint((number << 3) | 2).varint(value.len() as u64);
        out.0.extend_from_slice(value);
        out
    }

    fn text(self, number: u64, value: &str) -> Self {
        self.bytes(number, value.as_bytes())
    }

    fn message(self, number: u64, inner: Body) -> Self {
        self.bytes(number, &inner.0)
    }

    /// A map entry whose value is a message (a Quantity, ...).
    fn entry(self, number: u64, key: &str, value: Body) -> Self {
        self.message(number, Body::default().text(1, key).message(2, value))
    }

    /// A `map<string, string>` entry.
    fn pair(self, number: u64, key: &str, value: &str) -> Self {
        self.message(number, Body::default().text(1, key).text(2, value))
    }
}

fn enveloped(api_version: &str, kind: &str, object: Body) -> Vec<u8> {
    let type_meta = Body::default().text(1, api_version).text(2, kind);
    let unknown = Body::default()
        .message(1, type_meta)
        .message(2, object)
        .text(3, "")
        .text(4, "");
    let mut out = b"k8s\x00".to_vec();
    out.extend(unknown.0);
    out
}

fn meta(name: &str) -> Body {
    Body::default()
        .text(1, name)
        .text(2, "")
        .text(3, "")
        .int(7, 0)
        .message(8, Body::default())
}

#[test]
fn a_namespace_decodes_without_the_zero_values_go_wrote() {
    let body = enveloped(
        "v1",
        "Namespace",
        Body::default()
            .message(1, meta("team"))
            .message(2, Body::default())
            .message(3, Body::default().text(1, "")),
    );
    assert_eq!(
        decode(&body),
        Ok(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}, "spec": {}})
        )
    );
    let unknown_field = enveloped(
        "v1",
        "Namespace",
        Body::default().message(1, meta("team")).int(9, 1),
    );
    assert_eq!(
        decode(&unknown_field).err(),
        Some(Unsupported(
            "field 9 of Namespace is not read from protobuf by this server; send the object as JSON".into()
        ))
    );
}

#[test]
fn secret_data_becomes_base64_and_strings_stay_strings() {
    let object = Body::default()
        .message(1, meta("creds"))
        .message(2, Body::default().text(1, "password").bytes(2, b"s3cr3t"))
        .text(3, "Opaque");
    let decoded = decode(&enveloped("v1", "Secret", object));
    assert_eq!(
        decoded,
        Ok(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
                  "data": {"password": "czNjcjN0"}, "type": "Opaque"})
        )
    );
}

#[test]
fn a_deployment_keeps_its_pointer_fields_and_reads_quantities_and_int_or_strings() {
    let container = Body::default()
        .text(1, "app")
        .text(2, "nginx:1")
        .message(
            8,
            Body::default().entry(1, "cpu", Body::default().text(1, "250m")),
        )
        .int(16, 0);
    let template = Body::default()
        .message(1, Body::default().pair(11, "app", "web").text(1, ""))
        .message(
            2,
            Body::default().message(2, container).text(3, "").int(11, 0),
        );
    let strategy = Body::default().text(1, "RollingUpdate").message(
        2,
        Body::default()
            .message(1, Body::default().int(1, 1).text(3, "25%"))
            .message(2, Body::default().int(1, 0).int(2, 2)),
    );
    let spec = Body::default()
        .int(1, 0)
        .message(2, Body::default().pair(1, "app", "web"))
        .message(3, template)
        .message(4, strategy)
        .int(5, 0);
    let decoded = decode(&enveloped(
        "apps/v1",
        "Deployment",
        Body::default().message(1, meta("web")).message(2, spec),
    ))
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        decoded["spec"],
        json!({
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": "nginx:1",
                                                  "resources": {"limits": {"cpu": "250m"}}}]}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2}},
        })
    );
}

#[test]
fn an_access_review_decodes_for_auth_can_i() {
    let attributes = Body::default()
        .text(1, "default")
        .text(2, "create")
        .text(5, "pods");
    let review = Body::default()
        .message(1, meta(""))
        .message(2, Body::default().message(1, attributes));
    assert_eq!(
        decode(&enveloped(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            review
        )),
        Ok(
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "metadata": {},
                  "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}}})
        )
    );
}

#[test]
fn unknown_kinds_and_bodies_without_the_magic_are_refused() {
    let widget = enveloped("example.com/v1", "Widget", Body::default());
    assert!(decode(&widget).is_err_and(|e| e.0.contains("Widget")));
    assert!(decode(b"{\"kind\": \"Namespace\"}").is_err());
}
