//! Hand-written serde visitors of the slim reader: map keys compared without being copied,
//! the resource names a `requests` or `limits` map holds, and the few annotations the
//! checks read.
//!
//! In: JSON maps. Out: a few booleans or a small map; everything else is skipped unread.

use std::collections::BTreeMap;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::facts::APPARMOR_ANNOTATION_PREFIX;
use crate::policy::exemptions::{IGNORE, IGNORE_REASON, IGNORE_UNTIL};

/// A map key compared against a few wanted keys without being copied.
struct WantedKey<const N: usize>([&'static str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for WantedKey<N> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        struct KeyVisitor<const N: usize>([&'static str; N]);
        impl<const N: usize> Visitor<'_> for KeyVisitor<N> {
            type Value = Option<usize>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map key")
            }
            fn visit_str<E>(self, key: &str) -> Result<Option<usize>, E> {
                Ok(self.0.iter().position(|k| *k == key))
            }
        }
        d.deserialize_str(KeyVisitor(self.0))
    }
}

/// Which of `cpu`, `memory` and `ephemeral-storage` a resource list names; quantities are
/// not read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct ResourceKeys {
    pub(super) cpu: bool,
    pub(super) memory: bool,
    pub(super) ephemeral_storage: bool,
}

impl<'de> serde::Deserialize<'de> for ResourceKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = ResourceKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of resource quantities")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ResourceKeys, A::Error> {
                let mut keys = ResourceKeys::default();
                let wanted = ["cpu", "memory", "ephemeral-storage"];
                while let Some(found) = map.next_key_seed(WantedKey(wanted))? {
                    map.next_value::<IgnoredAny>()?;
                    match found {
                        Some(0) => keys.cpu = true,
                        Some(1) => keys.memory = true,
                        Some(_) => keys.ephemeral_storage = true,
                        None => {}
                    }
                }
                Ok(keys)
            }
        }
        d.deserialize_map(KeysVisitor)
    }
}

/// An annotation key, kept (copied) only when the checks read it: the exemption keys and
/// the legacy per-container AppArmor keys.
struct KeptKey;

impl<'de> DeserializeSeed<'de> for KeptKey {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_str(KeptKey)
    }
}

impl Visitor<'_> for KeptKey {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an annotation key")
    }
    fn visit_str<E>(self, key: &str) -> Result<Option<String>, E> {
        let kept = [IGNORE, IGNORE_REASON, IGNORE_UNTIL].contains(&key)
            || key.starts_with(APPARMOR_ANNOTATION_PREFIX);
        Ok(kept.then(|| key.to_owned()))
    }
}

/// `metadata.annotations`, keeping only the annotations the checks read (their values must
/// be strings; the others are skipped unread).
pub(crate) fn kept_annotations<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct AnnotationsVisitor;
    impl<'de> Visitor<'de> for AnnotationsVisitor {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map of annotations")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = BTreeMap::new();
            while let Some(found) = map.next_key_seed(KeptKey)? {
                match found {
                    Some(key) => {
                        kept.insert(key, map.next_value::<String>()?);
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(Some(kept))
        }
    }
    d.deserialize_option(AnnotationsVisitor)
}
