//! Starting a server and driving it from a test: [`start`] binds 127.0.0.1, writes a
//! kubeconfig, registers the Nodes, seeds objects and spawns the HTTP server and the workload simulation on
//! the caller's tokio runtime. The [`ApiServerHandle`] creates and reads objects directly,
//! scripts pod status, injects faults, drops watches, compacts history (or both at once, so
//! every watch gets 410 Gone) and stops the server (explicitly or when dropped).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{App, lock};
use crate::config::ServerConfig;
use crate::faults::{AccessRules, FaultAction, Faults, RequestMatch};
use crate::lifecycle::{self, WriteOptions};
use crate::resources::ResourceType;
use crate::store::{ObjectKey, State, Store, StoreStats};
use crate::{Error, Result, kubeconfig, meta, seed};

mod identities;

/// The field manager of writes made through the handle.
const HANDLE_MANAGER: &str = "apiserver-test";

/// Namespaces that exist in every fresh cluster.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// What seeding a directory did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Objects created.
    pub created: usize,
    /// Objects skipped, each with the reason.
    pub skipped: Vec<String>,
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct ApiServerHandle {
    app: Arc<App>,
    url: String,
    kubeconfig: PathBuf,
    _kubeconfig_dir: Option<tempfile::TempDir>,
    /// Where kubeconfigs for ServiceAccounts are written.
    identities_dir: tempfile::TempDir,
    server: Option<JoinHandle<()>>,
    simulation: Option<JoinHandle<()>>,
}

/// Starts a server on the current tokio runtime.
pub async fn start(config: ServerConfig) -> Result<ApiServerHandle> {
    let listener = TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|source| Error::Bind {
            port: config.port,
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| Error::Bind {
            port: config.port,
            source,
        })?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let serving = crate::tls::serving()?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (watch_epoch, _) = watch::channel(0u64);
    let app = Arc::new(App {
        store: Store::new(config.history_limit, config.history_bytes),
        faults: Mutex::new(Faults::default()),
        access: Mutex::new(AccessRules::default()),
        watch_epoch,
        shutdown,
        bookmark_interval: config.bookmark_interval.max(Duration::from_millis(10)),
        address: format!("127.0.0.1:{port}"),
        scripted_pods: Mutex::new(HashSet::new()),
        services: Mutex::new(Default::default()),
        simulated_events: config.simulated_events,
        ca_pem: serving.ca_pem.clone(),
        tokens: Mutex::new(crate::authn::Tokens::new()),
        forbidden: Mutex::new(Vec::new()),
        watch_list: config.watch_list,
    });
    {
        let mut state = app.store.lock();
        for namespace in SYSTEM_NAMESPACES {
            ensure_namespace(&mut state, namespace)?;
        }
        register_nodes(&mut state, config.nodes)?;
        for object in crate::rbac::bootstrap::objects() {
            let rt = resolve(&state, &object)?;
            lifecycle::create(
                &mut state,
                &rt,
                "",
                object,
                &WriteOptions::by(HANDLE_MANAGER),
            )?;
        }
    }
    let (kubeconfig, dir) = match &config.kubeconfig_out {
        Some(path) => (path.clone(), None),
        None => {
            let dir = tempdir()?;
            (dir.path().join("kubeconfig.yaml"), Some(dir))
        }
    };
    let admin_token = lock(&app.tokens).admin().to_string();
    std::fs::write(
        &kubeconfig,
        kubeconfig::render(&url, &admin_token, "default", None),
    )
    .map_err(|source| Error::Io {
        path: kubeconfig.clone(),
        source,
    })?;
    let server = tokio::spawn(crate::http::serve(
        listener,
        app.clone(),
        serving.acceptor,
        shutdown_rx,
    ));
    let simulation = config
        .simulation
        .then(|| tokio::spawn(crate::simulation::run(app.clone())));
    let handle = ApiServerHandle {
        app,
        url,
        kubeconfig,
        _kubeconfig_dir: dir,
        identities_dir: tempdir()?,
        server: Some(server),
        simulation,
    };
    for dir in &config.seed_dirs {
        handle.seed_dir(dir)?;
    }
    Ok(handle)
}

/// A kube client configured from a kubeconfig file.
async fn client_from(path: &Path) -> Result<kube::Client> {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(path).map_err(|e| Error::Client(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| Error::Client(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| Error::Client(e.to_string()))
}

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|source| Error::Io {
        path: std::env::temp_dir(),
        source,
    })
}

fn ensure_namespace(state: &mut State, name: &str) -> Result<()> {
    let Some(rt) = state.resolve("", "v1", "namespaces") else {
        return Ok(());
    };
    if state
        .get(&ObjectKey::new(&rt.type_key(), "", name))
        .is_none()
    {
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        lifecycle::create(state, &rt, "", namespace, &WriteOptions::by(HANDLE_MANAGER))?;
    }
    Ok(())
}

/// Registers `node-1` .. `node-<count>`, as their kubelets would.
fn register_nodes(state: &mut State, count: usize) -> Result<()> {
    let Some(rt) = state.resolve("", "v1", "nodes") else {
        return Ok(());
    };
    let now = meta::now();
    for i in 1..=count {
        let node = crate::nodes::node(i, &now);
        let status = node.get("status").cloned();
        let created = lifecycle::create(state, &rt, "", node, &WriteOptions::by("kubelet"))?;
        let mut with_status = (*created).clone();
        if let (Some(map), Some(status)) = (with_status.as_object_mut(), status) {
            map.insert("status".into(), status);
        }
        let name = meta::name(&created).to_string();
        let options = WriteOptions::by("kubelet").for_status();
        lifecycle::update(state, &rt, "", &name, with_status, &options)?;
    }
    Ok(())
}

fn resolve(state: &State, object: &Value) -> Result<Arc<ResourceType>> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    state
        .resolve_kind(api_version, kind)
        .ok_or_else(|| Error::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })
}

impl ApiServerHandle {
    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kubeconfig file pointing at this server (context `test`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube client configured from the kubeconfig (the admin identity).
    pub async fn client(&self) -> Result<kube::Client> {
        client_from(&self.kubeconfig).await
    }

    /// Creates an object as given (status included), in `metadata.namespace` or `default`.
    pub fn create(&self, object: Value) -> Result<Value> {
        let mut state = self.app.store.lock();
        self.create_locked(&mut state, object)
    }

    fn create_locked(&self, state: &mut State, object: Value) -> Result<Value> {
        let rt = resolve(state, &object)?;
        let namespace = match meta::namespace(&object) {
            "" if rt.namespaced => "default".to_string(),
            ns => ns.to_string(),
        };
        let status = object.get("status").cloned();
        let created = lifecycle::create(
            state,
            &rt,
            &namespace,
            object,
            &WriteOptions::by(HANDLE_MANAGER),
        )?;
        let Some(status) = status.filter(|_| rt.status_subresource) else {
            return Ok((*created).clone());
        };
        if rt.kind == "Pod" {
            lock(&self.app.scripted_pods).insert(meta::uid(&created).to_string());
        }
        let mut with_status = (*created).clone();
        if let Some(map) = with_status.as_object_mut() {
            map.insert("status".into(), status);
        }
        let name = meta::name(&created).to_string();
        let options = WriteOptions::by(HANDLE_MANAGER).for_status();
        Ok((*lifecycle::update(state, &rt, &namespace, &name, with_status, &options)?).clone())
    }

    /// Loads every manifest under `dir`, creating missing namespaces. Objects of kinds
    /// that are not served (a custom resource whose CRD is not seeded) are skipped and
    /// reported, as are objects that already exist.
    pub fn seed_dir(&self, dir: impl AsRef<Path>) -> Result<SeedReport> {
        let objects = seed::load_dir(dir.as_ref())?;
        let mut state = self.app.store.lock();
        let mut report = SeedReport::default();
        for object in objects {
            let describe = || {
                format!(
                    "{} {}/{}",
                    object.get("kind").and_then(Value::as_str).unwrap_or("?"),
                    meta::namespace(&object),
                    meta::name(&object)
                )
            };
            let rt = match resolve(&state, &object) {
                Ok(rt) => rt,
                Err(error) => {
                    tracing::warn!(object = %describe(), %error, "seed object skipped");
                    report.skipped.push(format!("{}: {error}", describe()));
                    continue;
                }
            };
            if rt.namespaced {
                let namespace = match meta::namespace(&object) {
                    "" => "default",
                    ns => ns,
                };
                ensure_namespace(&mut state, namespace)?;
            }
            let what = describe();
            match self.create_locked(&mut state, object) {
                Ok(_) => report.created += 1,
                Err(Error::Api(error)) if error.reason == crate::Reason::AlreadyExists => {
                    report.skipped.push(format!("{what}: {error}"));
                }
                Err(error) => return Err(error),
            }
        }
        Ok(report)
    }

    /// One object, as stored.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let state = self.app.store.lock();
        let rt = state.resolve_kind(api_version, kind)?;
        let namespace = if rt.namespaced { namespace } else { "" };
        state
            .get(&ObjectKey::new(&rt.type_key(), namespace, name))
            .map(Arc::unwrap_or_clone)
    }

    /// Objects of a kind, in one namespace or all (parsed after the store lock is
    /// released, so a large list does not hold up requests).
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let stored = {
            let state = self.app.store.lock();
            let Some(rt) = state.resolve_kind(api_version, kind) else {
                return Vec::new();
            };
            state.list_stored(&rt.type_key(), namespace)
        };
        stored.iter().map(|o| o.value()).collect()
    }

    /// Replaces a pod's status; the simulated kubelet leaves that pod alone afterwards.
    pub fn set_pod_status(&self, namespace: &str, name: &str, status: Value) -> Result<Value> {
        let mut state = self.app.store.lock();
        self.set_pod_status_locked(&mut state, namespace, name, status)
    }

    /// Replaces several pods' statuses (namespace, name, status), one write each, under one
    /// hold of the store: the workload simulation then looks at their namespaces once, not
    /// after each write. Fails at the first pod that does not exist (the writes before it
    /// stay made).
    pub fn set_pod_statuses(&self, changes: &[(&str, &str, Value)]) -> Result<()> {
        let mut state = self.app.store.lock();
        for (namespace, name, status) in changes {
            self.set_pod_status_locked(&mut state, namespace, name, status.clone())?;
        }
        Ok(())
    }

    fn set_pod_status_locked(
        &self,
        state: &mut State,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> Result<Value> {
        let rt = resolve(state, &json!({"apiVersion": "v1", "kind": "Pod"}))?;
        let Some(pod) = state.get_stored(&ObjectKey::new(&rt.type_key(), namespace, name)) else {
            return Err(crate::ApiError::not_found("", "pods", name).into());
        };
        lock(&self.app.scripted_pods).insert(pod.meta().uid.to_string());
        // A status write takes only the status from its body (the rest is the stored pod's),
        // so the pod is parsed once, by the write itself.
        let next = json!({ "status": status });
        let options = WriteOptions::by(HANDLE_MANAGER).for_status();
        Ok((*lifecycle::update(state, &rt, namespace, name, next, &options)?).clone())
    }

    /// Fails the next `count` requests that match with a `Status` of HTTP `code`.
    pub fn fail_next(&self, matcher: RequestMatch, count: u32, code: u16) {
        lock(&self.app.faults).add(matcher, count, FaultAction::Fail(code));
    }

    /// Delays the next `count` requests that match.
    pub fn delay_next(&self, matcher: RequestMatch, count: u32, delay: Duration) {
        lock(&self.app.faults).add(matcher, count, FaultAction::Delay(delay));
    }

    /// Drops every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.app.faults).clear();
    }

    /// Ends every open watch stream; clients see the connection's body end.
    pub fn close_watches(&self) {
        self.app.watch_epoch.send_modify(|epoch| *epoch += 1);
    }

    /// Expires every watch, whatever versions it has been sent: under one hold of the store,
    /// ends every open watch stream, writes `marker` (a new object) and forgets the history
    /// before it, so every client resumes from a version older than the marker and gets
    /// 410 Gone. (A compaction at the current version alone does not do that: a bookmark
    /// carries the newest version of any resource, so a watch may already hold exactly that
    /// one, and resuming from it is valid.) Answers the marker as stored.
    pub fn expire_watches(&self, marker: Value) -> Result<Value> {
        let mut state = self.app.store.lock();
        self.close_watches();
        let marker = self.create_locked(&mut state, marker)?;
        state.compact();
        Ok(marker)
    }

    /// Forgets watch history: every resourceVersion older than now answers 410 Gone.
    pub fn compact(&self) {
        self.app.store.lock().compact();
    }

    /// What the store holds (objects by resource, history, snapshots, writes so far).
    pub fn stats(&self) -> StoreStats {
        self.app.store.lock().stats()
    }

    /// Waits until the store holds at least `pods` pods and nothing has been written for
    /// `quiet` (the simulation has settled), polling twice a second; false when that does
    /// not happen `within`.
    pub async fn settled(&self, pods: usize, quiet: Duration, within: Duration) -> bool {
        let started = std::time::Instant::now();
        let mut last = (0, 0);
        let mut quiet_since = std::time::Instant::now();
        while started.elapsed() <= within {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let stats = self.stats();
            let now = (
                stats.by_resource.get("pods").copied().unwrap_or(0),
                stats.writes.values().sum::<u64>(),
            );
            if now != last {
                last = now;
                quiet_since = std::time::Instant::now();
            } else if now.0 >= pods && quiet_since.elapsed() >= quiet {
                return true;
            }
        }
        false
    }

    /// Per resource plural: the stored objects' compact JSON bytes in all (reads every
    /// object's length under the store lock).
    pub fn json_bytes(&self) -> std::collections::BTreeMap<String, usize> {
        self.app.store.lock().json_bytes()
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.app.store.lock().current_rv()
    }

    /// Makes SelfSubjectAccessReviews for `verb` on `resource` answer `allowed: false`
    /// (`*` matches any verb or resource).
    pub fn deny_access(&self, verb: &str, resource: &str) {
        lock(&self.app.access)
            .denied
            .insert((verb.to_string(), resource.to_string()));
    }

    /// Makes every SelfSubjectAccessReview answer `allowed: true` again.
    pub fn allow_all_access(&self) {
        lock(&self.app.access).denied.clear();
    }

    /// Makes the SelfSubjectAccessReview endpoint itself answer 403 (or not).
    pub fn forbid_access_reviews(&self, forbidden: bool) {
        lock(&self.app.access).endpoint_forbidden = forbidden;
    }

    /// Makes webhooks whose `clientConfig.service` names `namespace/name` on `port` reach
    /// `address` (`127.0.0.1:40123` or `https://127.0.0.1:40123`, loopback only), as
    /// kube-proxy would route the Service's port to its pods. The Service itself must
    /// exist and serve that port, as the real server resolves it; the certificate must be
    /// valid for `<name>.<namespace>.svc`. Unmapped services cannot be called.
    pub fn map_service(&self, namespace: &str, name: &str, port: u16, address: &str) {
        lock(&self.app.services).insert(
            (namespace.to_string(), name.to_string(), port),
            crate::admission::client::service_url(address),
        );
    }

    /// Stops the server and waits for the listener to close.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn stop(&mut self) {
        let _ = self.app.shutdown.send(true);
        if let Some(simulation) = self.simulation.take() {
            simulation.abort();
        }
    }
}

impl Drop for ApiServerHandle {
    fn drop(&mut self) {
        self.stop();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
