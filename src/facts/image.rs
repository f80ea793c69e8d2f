//! Image reference parsing: is an image pinned by digest, by tag, or not at all?
//!
//! In: an image reference as written in a container spec. Out: [`ImagePin`]. Only the last
//! path component can carry a tag, so `registry:5000/app` is untagged (the `:5000` is a
//! registry port), and anything with `@` is pinned by digest whatever its tag says.

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

#[cfg(test)]
mod tests {
    use super::*;

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
