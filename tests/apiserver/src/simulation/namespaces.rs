//! What kube-controller-manager puts in every namespace: the `default` ServiceAccount
//! (service account controller) and the `kube-root-ca.crt` ConfigMap holding the
//! cluster's CA certificate (root CA certificate publisher). In: the namespaces. Out:
//! those two objects wherever one is missing, written as the controller-manager writes
//! them; namespaces being deleted are left alone.

use serde_json::{Value, json};

use super::scope::Scope;
use super::{log_refusal, type_of};
use crate::lifecycle::{self, WriteOptions};
use crate::meta;
use crate::store::{ObjectKey, State};

const MANAGER: &str = "kube-controller-manager";

/// The description the root CA publisher puts on its ConfigMap.
const CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver \
    when using internal endpoints such as the internal service (kubernetes.default.svc). No other \
    usage is guaranteed across distributions of Kubernetes clusters.";

/// Ensures every active namespace of the slice has its default ServiceAccount and CA ConfigMap.
pub fn reconcile(state: &mut State, scope: &Scope, ca_pem: &str) {
    let (Some(namespaces), Some(accounts), Some(config_maps)) = (
        type_of(state, "", "namespaces"),
        type_of(state, "", "serviceaccounts"),
        type_of(state, "", "configmaps"),
    ) else {
        return;
    };
    for name in scope.namespaces().iter().filter(|n| !n.is_empty()) {
        let key = ObjectKey::new(&namespaces.type_key(), "", name);
        let Some(namespace) = state.get(&key) else {
            continue;
        };
        if meta::is_deleting(&namespace) {
            continue;
        }
        let name = meta::name(&namespace).to_string();
        let missing = |state: &State, rt: &crate::resources::ResourceType, object: &str| {
            state
                .get_stored(&ObjectKey::new(&rt.type_key(), &name, object))
                .is_none()
        };
        if missing(state, &accounts, "default") {
            let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": "default"}});
            create(state, &accounts, &name, account);
        }
        if missing(state, &config_maps, "kube-root-ca.crt") {
            let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-root-ca.crt",
                             "annotations": {"kubernetes.io/description": CA_DESCRIPTION}},
                "data": {"ca.crt": ca_pem}});
            create(state, &config_maps, &name, config_map);
        }
    }
}

fn create(state: &mut State, rt: &crate::resources::ResourceType, namespace: &str, object: Value) {
    let result = lifecycle::create(state, rt, namespace, object, &WriteOptions::by(MANAGER));
    log_refusal("namespace default", result);
}
