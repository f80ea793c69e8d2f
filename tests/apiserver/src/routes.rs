//! URL routing: turns a request path into a [`Route`]: one of the discovery documents,
//! the OpenAPI stubs, or a resource target (`group`, `version`, optional namespace,
//! plural, optional name and subresource) following the Kubernetes REST path layout.

/// A resource URL, before the resource is looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceTarget {
    /// API group, empty for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace from the path, if any.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub plural: String,
    /// Object name, for object URLs.
    pub name: Option<String>,
    /// Subresource, e.g. `status`.
    pub subresource: Option<String>,
    /// Whether the path used the legacy `/watch/` prefix.
    pub legacy_watch: bool,
}

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    Resources(String, String),
    /// `/openapi/v3`.
    OpenApiRoot,
    /// `/openapi/v3/<api|apis/...>`.
    OpenApiDocument(String),
    /// `/healthz`, `/livez`, `/readyz`.
    Health,
    /// A resource URL.
    Resource(ResourceTarget),
    /// Nothing here.
    Unknown,
}

/// Routes a decoded path.
pub fn route(path: &str) -> Route {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", "v1"] => Route::Resources(String::new(), "v1".into()),
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["apis", group, version] => Route::Resources(group.to_string(), version.to_string()),
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", rest @ ..] => Route::OpenApiDocument(rest.join("/")),
        ["api", "v1", rest @ ..] => resource("", "v1", rest),
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => Route::Unknown,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let namespace_subresource = matches!(rest, ["namespaces", _, "status" | "finalize"]);
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() && !namespace_subresource => {
            (Some(ns.to_string()), tail)
        }
        _ => (None, rest),
    };
    let target = |plural: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourceTarget {
            group: group.to_string(),
            version: version.to_string(),
            namespace: namespace.clone(),
            plural: plural.to_string(),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
            legacy_watch,
        })
    };
    match rest {
        [plural] => target(plural, None, None),
        [plural, name] => target(plural, Some(name), None),
        [plural, name, sub] => target(plural, Some(name), Some(sub)),
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(
        group: &str,
        ns: Option<&str>,
        plural: &str,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Route {
        Route::Resource(ResourceTarget {
            group: group.into(),
            version: "v1".into(),
            namespace: ns.map(str::to_string),
            plural: plural.into(),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
            legacy_watch: false,
        })
    }

    #[test]
    fn paths_route_like_the_kubernetes_rest_layout() {
        let cases = [
            ("/api/v1/pods", target("", None, "pods", None, None)),
            (
                "/api/v1/namespaces/a/pods",
                target("", Some("a"), "pods", None, None),
            ),
            (
                "/api/v1/namespaces/a/pods/p/status",
                target("", Some("a"), "pods", Some("p"), Some("status")),
            ),
            (
                "/api/v1/namespaces/a",
                target("", None, "namespaces", Some("a"), None),
            ),
            (
                "/api/v1/namespaces/a/status",
                target("", None, "namespaces", Some("a"), Some("status")),
            ),
            (
                "/apis/apps/v1/namespaces/d/deployments/x",
                target("apps", Some("d"), "deployments", Some("x"), None),
            ),
            (
                "/apis/apps/v1",
                Route::Resources("apps".into(), "v1".into()),
            ),
            ("/apis", Route::Groups),
            ("/version", Route::Version),
            ("/nope", Route::Unknown),
        ];
        for (path, expected) in cases {
            assert_eq!(route(path), expected, "{path}");
        }
    }
}
