//! The block reader's nodes decode into typed objects exactly as their `Value` does.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::super::block_yaml::read;

/// Decodes `doc` both ways: from the nodes, and from their `Value` with `serde_json`.
fn both<T: DeserializeOwned>(doc: &str) -> (Result<T, String>, Result<T, String>) {
    let node = read(doc).expect("the block reader reads it");
    let value = node.clone().into_value();
    (
        T::deserialize(node).map_err(|e| e.to_string()),
        serde_json::from_value(value).map_err(|e| e.to_string()),
    )
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels:
    app: web
    tier: \"front\"
  annotations:
    note: 'it''s'
    escaped: \"a\\tb\"
spec:
  hostNetwork: yes
  terminationGracePeriodSeconds: 0x1e
  containers:
  - name: web
    image: nginx:1.27
    args: [\"--port\", '8080', plain]
    ports:
    - containerPort: 8080
      protocol: TCP
    resources:
      limits: {}
      requests:
        cpu: 100m
        memory: 1e3
    livenessProbe:
      httpGet:
        port: http
    securityContext:
      runAsUser: -1
      capabilities:
        drop: [ALL]
    command:
    - sh
    - |
      echo one
      echo two
  volumes: []
";

#[test]
fn a_pod_decodes_to_the_same_object_both_ways() {
    let (from_nodes, from_value) = both::<Pod>(POD);
    assert!(from_nodes.is_ok(), "{from_nodes:?}");
    assert_eq!(from_nodes, from_value);
}

#[test]
fn type_errors_are_worded_as_serde_json_words_them() {
    for (field, bad) in [
        ("replicas", "three"),
        ("replicas", "1.5"),
        ("replicas", "99999999999"),
        ("replicas", "-99999999999"),
        ("replicas", "[1]"),
        ("replicas", "true"),
        ("paused", "3"),
        ("paused", "\"yes\""),
        ("minReadySeconds", "{}"),
        ("selector", "[]"),
        ("selector", "x"),
        ("template", "[a, b]"),
        ("progressDeadlineSeconds", "\"5\""),
    ] {
        let doc = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  {field}: {bad}\n"
        );
        let (from_nodes, from_value) = both::<Deployment>(&doc);
        assert!(from_value.is_err(), "{field}: {bad} decodes");
        assert_eq!(from_nodes, from_value, "{field}: {bad}");
    }
}

#[test]
fn nested_errors_and_quantities_are_worded_as_serde_json_words_them() {
    for tail in [
        "containers: x",
        "containers: [x]",
        "containers:\n  - name: a\n    ports: [1]",
        "containers:\n  - name: a\n    resources:\n      limits:\n        cpu: [1]",
        "containers:\n  - name: a\n    resources:\n      limits:\n        cpu: {}",
        "containers:\n  - name: a\n    livenessProbe:\n      httpGet:\n        port: []",
        "containers:\n  - name: a\n    env:\n    - value: x",
        "volumes:\n  - name: v\n    hostPath: 1",
        "affinity: no",
    ] {
        let tail = tail.replace('\n', "\n  ");
        let doc = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  {tail}\n");
        let (from_nodes, from_value) = both::<Pod>(&doc);
        assert_eq!(from_nodes, from_value, "{tail}");
    }
}

/// Every visitor call a `Value` makes, recorded: the nodes must make the same ones.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Anything {
    Unit(()),
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
    Seq(Vec<Anything>),
    Map(BTreeMap<String, Anything>),
}

#[derive(Debug, PartialEq, Deserialize)]
struct Tuple(u8, String);

#[derive(Debug, PartialEq, Deserialize)]
enum Choice {
    Plain,
    WithValue(u8),
}

#[derive(Debug, PartialEq, Deserialize)]
struct Shapes {
    any: Option<Anything>,
    tuple: Option<Tuple>,
    choice: Option<Choice>,
    choices: Option<Vec<Choice>>,
    chars: Option<Vec<char>>,
    bytes: Option<serde_json::Value>,
    unit: Option<()>,
}

#[test]
fn every_shape_of_value_visits_as_serde_json_visits_it() {
    for doc in [
        "any:\n- 1\n- -2\n- 2.5\n- x\n- \"y\"\n- true\n- ~\n- 1e400\n",
        "any:\n  a: {}\n  b: []\n  c:\n  - d: 1\n",
        "tuple: [1, two]\n",
        "tuple: [1, two, 3]\n",
        "tuple: [1]\n",
        "tuple:\n  a: 1\n",
        "choice: Plain\n",
        "choice:\n  WithValue: 3\n",
        "choice:\n  Other: 3\n",
        "choice: [Plain]\n",
        "choices: [Plain, Other]\n",
        "chars: [a, bc]\n",
        "bytes: [1, 2]\n",
        "unit: 1\n",
        "unit: ~\n",
        "any: 18446744073709551615\n",
    ] {
        let (from_nodes, from_value) = both::<Shapes>(doc);
        assert_eq!(from_nodes, from_value, "{doc}");
    }
}
