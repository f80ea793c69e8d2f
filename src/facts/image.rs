//! Image reference parsing: is an image pinned by digest, by tag, or not at all, and which
//! registry does it come from?
//!
//! In: an image reference as written in a container spec. Out: [`ImagePin`] and
//! [`repository`]. Only the last path component can carry a tag, so `registry:5000/app`
//! is untagged (the `:5000` is a registry port), and anything with `@` is pinned by digest
//! whatever its tag says. Names are completed as the container runtimes complete them:
//! `nginx` is `docker.io/library/nginx`.

/// How an image reference pins the image it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagePin<'a> {
    /// `name@sha256:...`: immutable.
    Digest,
    /// `name:tag`.
    Tag(&'a str),
    /// No tag and no digest: the runtime pulls `latest`.
    Untagged,
}

/// Reads how `image` is pinned.
pub fn image_pin(image: &str) -> ImagePin<'_> {
    if image.contains('@') {
        return ImagePin::Digest;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if !tag.is_empty() => ImagePin::Tag(tag),
        _ => ImagePin::Untagged,
    }
}

/// True when the image floats: tag `latest` or no tag at all.
pub fn is_floating(image: &str) -> bool {
    matches!(
        image_pin(image),
        ImagePin::Untagged | ImagePin::Tag("latest")
    )
}

/// The registry Docker Hub images come from when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The image's repository as the runtimes resolve it, `registry/path` without tag or
/// digest: the first path component is a registry when it holds a `.` or a `:` or is
/// `localhost`; otherwise the image is on Docker Hub (`docker.io`, with `library/` before a
/// one-component name). The registry is lower-cased and `index.docker.io` is `docker.io`.
pub fn repository(image: &str) -> String {
    let name = image.split('@').next().unwrap_or(image);
    let name = match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    };
    let (registry, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_ascii_lowercase(), rest.to_owned())
        }
        Some(_) => (DEFAULT_REGISTRY.to_owned(), name.to_owned()),
        None => (DEFAULT_REGISTRY.to_owned(), format!("library/{name}")),
    };
    let registry = if registry == "index.docker.io" {
        DEFAULT_REGISTRY.to_owned()
    } else {
        registry
    };
    format!("{registry}/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_completed_as_the_runtimes_complete_them() {
        let cases = [
            ("nginx", "docker.io/library/nginx"),
            ("nginx:1.27", "docker.io/library/nginx"),
            ("bitnami/redis:7", "docker.io/bitnami/redis"),
            ("index.docker.io/bitnami/redis", "docker.io/bitnami/redis"),
            ("ghcr.io/org/app@sha256:abc", "ghcr.io/org/app"),
            ("GHCR.io/org/app:1", "ghcr.io/org/app"),
            ("registry:5000/app", "registry:5000/app"),
            ("registry:5000/team/app:2.1", "registry:5000/team/app"),
            ("localhost/app:dev", "localhost/app"),
            (
                "quay.io/prometheus/node-exporter:v1.8.2",
                "quay.io/prometheus/node-exporter",
            ),
        ];
        for (image, want) in cases {
            assert_eq!(repository(image), want, "{image}");
        }
    }

    #[test]
    fn image_references_are_read_as_docker_does() {
        let cases = [
            ("nginx", ImagePin::Untagged),
            ("nginx:latest", ImagePin::Tag("latest")),
            ("nginx:1.27", ImagePin::Tag("1.27")),
            ("registry:5000/app", ImagePin::Untagged),
            ("registry:5000/app:2.1", ImagePin::Tag("2.1")),
            ("registry:5000/team/app:latest", ImagePin::Tag("latest")),
            ("nginx@sha256:0123abcd", ImagePin::Digest),
            ("nginx:latest@sha256:0123abcd", ImagePin::Digest),
            ("nginx:", ImagePin::Untagged),
            ("", ImagePin::Untagged),
        ];
        for (image, want) in cases {
            assert_eq!(image_pin(image), want, "{image}");
        }
    }

    #[test]
    fn only_latest_and_untagged_images_float() {
        assert!(is_floating("nginx"));
        assert!(is_floating("ghcr.io/org/app:latest"));
        assert!(!is_floating("ghcr.io/org/app:Latest-2"));
        assert!(!is_floating("nginx@sha256:abc"));
        assert!(!is_floating("nginx:1.27"));
    }
}
