//! A document as the block reader reads it, decoded straight into typed objects.
//!
//! In: the nodes of one YAML document in the block style (mappings kept as lists of
//! entries, keys and most scalars borrowed from the document's text). Out: the same
//! `serde_json::Value` the general reader gives ([`Node::into_value`]), or any
//! `Deserialize` type read straight from the nodes, with no `Value` built on the way: a
//! `Value` costs a `String` per key and a B-tree per mapping, built only to be taken apart
//! again by the typed decoder. The deserializer behaves exactly as `serde_json`'s
//! deserializer of a `Value` does (`serde_json::from_value`): the same visitor calls for
//! every kind of node, the same checks of leftover elements, and the same errors, so a
//! document decodes to the same object, or fails with the same message, whichever way it
//! goes. The tests hold the two to agreement.

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess};
use serde::de::{Unexpected, Visitor};
use serde_json::{Error, Map, Number, Value};

/// One node of a document read by the block reader.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number, as the general reader resolves it.
    Number(Number),
    /// A string, borrowed from the text when it needed no unescaping.
    Str(Cow<'a, str>),
    /// A sequence.
    Seq(Vec<Node<'a>>),
    /// A mapping: its entries in document order, keys distinct.
    Map(Vec<(&'a str, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value`, as the general reader builds it.
    pub fn into_value(self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Number(n) => Value::Number(n),
            Node::Str(s) => Value::String(s.into_owned()),
            Node::Seq(items) => Value::Array(items.into_iter().map(Node::into_value).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.into_value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }

    /// What a type error names, as `serde_json` names it for the same `Value`.
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Node::Null => Unexpected::Unit,
            Node::Bool(b) => Unexpected::Bool(*b),
            Node::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Unexpected::Unsigned(u),
                (None, Some(i)) => Unexpected::Signed(i),
                (None, None) => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Node::Str(s) => Unexpected::Str(s),
            Node::Seq(_) => Unexpected::Seq,
            Node::Map(_) => Unexpected::Map,
        }
    }

    fn invalid_type<E: de::Error>(&self, expected: &dyn de::Expected) -> E {
        E::invalid_type(self.unexpected(), expected)
    }
}

fn visit_str<'de, V: Visitor<'de>>(s: Cow<'_, str>, visitor: V) -> Result<V::Value, Error> {
    match s {
        Cow::Borrowed(s) => visitor.visit_str(s),
        Cow::Owned(s) => visitor.visit_string(s),
    }
}

fn visit_seq<'de, V: Visitor<'de>>(items: Vec<Node<'_>>, visitor: V) -> Result<V::Value, Error> {
    let len = items.len();
    let mut access = Items(items.into_iter());
    let seq = visitor.visit_seq(&mut access)?;
    match access.0.len() {
        0 => Ok(seq),
        _ => Err(de::Error::invalid_length(len, &"fewer elements in array")),
    }
}

fn visit_map<'de, V: Visitor<'de>>(
    entries: Vec<(&str, Node<'_>)>,
    visitor: V,
) -> Result<V::Value, Error> {
    let len = entries.len();
    let mut access = Entries {
        entries: entries.into_iter(),
        value: None,
    };
    let map = visitor.visit_map(&mut access)?;
    match access.entries.len() {
        0 => Ok(map),
        _ => Err(de::Error::invalid_length(len, &"fewer elements in map")),
    }
}

/// A number read by a numeric type: what `serde_json` does for a `Value`.
macro_rules! number {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self {
                Node::Number(n) => n.deserialize_any(visitor),
                other => Err(other.invalid_type(&visitor)),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for Node<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(b),
            Node::Number(n) => n.deserialize_any(visitor),
            Node::Str(s) => visit_str(s, visitor),
            Node::Seq(items) => visit_seq(items, visitor),
            Node::Map(entries) => visit_map(entries, visitor),
        }
    }

    number!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64);

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // Rare in manifests: the `Value`'s own code says what an enum is.
        self.into_value().deserialize_enum(name, variants, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Bool(b) => visitor.visit_bool(b),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Str(s) => visit_str(s, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Str(s) => visit_str(s, visitor),
            Node::Seq(items) => visit_seq(items, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Null => visitor.visit_unit(),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Seq(items) => visit_seq(items, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Map(entries) => visit_map(entries, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Seq(items) => visit_seq(items, visitor),
            Node::Map(entries) => visit_map(entries, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        drop(self);
        visitor.visit_unit()
    }
}

impl<'de, 'a> IntoDeserializer<'de, Error> for Node<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// The items of a sequence, handed out one at a time.
struct Items<'a>(std::vec::IntoIter<Node<'a>>);

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|node| seed.deserialize(node)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The entries of a mapping, handed out key then value.
struct Entries<'a> {
    entries: std::vec::IntoIter<(&'a str, Node<'a>)>,
    value: Option<Node<'a>>,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(Key(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A mapping key: always a string here (the block reader reads no other keys). Keys of
/// numeric or boolean type, which no Kubernetes object has, are read as strings.
struct Key<'a>(&'a str);

impl<'de> Deserializer<'de> for Key<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let key: de::value::StrDeserializer<'_, Error> = self.0.into_deserializer();
        key.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A parsed object, read by key and decoded into a typed object: a `serde_json::Value`
/// (JSON input and the general YAML reader) or a block reader's [`Node`].
pub trait Tree: Sized + for<'de> Deserializer<'de, Error = Error> {
    /// The value at `key` of a mapping.
    fn get_key(&self, key: &str) -> Option<&Self>;
    /// The text of a string.
    fn text(&self) -> Option<&str>;
    /// The length of a sequence.
    fn seq_len(&self) -> Option<usize>;
    /// Whether it is a mapping.
    fn is_map(&self) -> bool;
    /// The items of a sequence at `key` of a mapping.
    fn into_items(self, key: &str) -> Option<Vec<Self>>;
    /// The same value as a `serde_json::Value`.
    fn into_json(self) -> Value;
    /// Hands a document of this kind to `sink`.
    fn hand_to(document: super::Document<Self>, sink: &mut dyn super::InputSink);
}

impl Tree for Value {
    fn get_key(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn seq_len(&self) -> Option<usize> {
        self.as_array().map(Vec::len)
    }
    fn is_map(&self) -> bool {
        self.is_object()
    }
    fn into_items(self, key: &str) -> Option<Vec<Self>> {
        match self {
            Value::Object(mut map) => match map.remove(key) {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            },
            _ => None,
        }
    }
    fn into_json(self) -> Value {
        self
    }
    fn hand_to(document: super::Document<Self>, sink: &mut dyn super::InputSink) {
        sink.document(document);
    }
}

impl Tree for Node<'_> {
    fn get_key(&self, key: &str) -> Option<&Self> {
        self.get(key)
    }
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn seq_len(&self) -> Option<usize> {
        match self {
            Node::Seq(items) => Some(items.len()),
            _ => None,
        }
    }
    fn is_map(&self) -> bool {
        matches!(self, Node::Map(_))
    }
    fn into_items(self, key: &str) -> Option<Vec<Self>> {
        match self {
            Node::Map(entries) => entries.into_iter().find_map(|(k, v)| match v {
                Node::Seq(items) if k == key => Some(items),
                _ => None,
            }),
            _ => None,
        }
    }
    fn into_json(self) -> Value {
        self.into_value()
    }
    fn hand_to(document: super::Document<Self>, sink: &mut dyn super::InputSink) {
        sink.node(document);
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
