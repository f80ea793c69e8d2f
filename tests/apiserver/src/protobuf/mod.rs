//! Protobuf request bodies, as kubectl's typed commands send them (`create namespace`,
//! `create secret`, `create deployment`, `auth can-i`, ...): in, the Kubernetes protobuf
//! envelope (`k8s\0` and a `runtime.Unknown` naming apiVersion and kind around the
//! object's bytes); out, the object as the JSON the same client would have sent. Each
//! message is read against a table of its fields (`schema`), keeping the Go JSON rules:
//! zero values of plain fields are left out, pointer fields keep whatever was sent,
//! `Time`, `Quantity` and `IntOrString` take their JSON forms and bytes become base64.
//! A kind or field outside the tables is refused with a 415 that names it, never
//! dropped. Responses stay JSON, which every such client accepts.

mod pods;
mod schema;

use base64::Engine;
use serde_json::{Map, Value, json};

use schema::{Field, Message, Ty};

/// The magic that opens every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\x00";

/// A body that could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// Decodes an enveloped protobuf object into its JSON form.
pub fn decode(body: &[u8]) -> Result<Value, Unsupported> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| Unsupported("the body does not start with the k8s protobuf magic".into()))?;
    let unknown = read_message(envelope, &schema::UNKNOWN)?;
    let text = |pointer: &str| {
        unknown
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let (api_version, kind) = (text("/typeMeta/apiVersion"), text("/typeMeta/kind"));
    let message = schema::top_level(api_version, kind).ok_or_else(|| {
        Unsupported(format!(
            "this server does not read {kind} ({api_version}) from protobuf; send it as JSON"
        ))
    })?;
    let raw = unknown
        .get("raw")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_default();
    let mut object = read_message(&raw, message)?;
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), json!(api_version));
        map.insert("kind".into(), json!(kind));
    }
    Ok(object)
}

/// A cursor over protobuf wire data.
struct Wire<'a> {
    bytes: &'a [u8],
}

impl<'a> Wire<'a> {
    fn varint(&mut self) -> Result<u64, Unsupported> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self
                .bytes
                .split_first()
                .ok_or_else(|| Unsupported("truncated varint".into()))?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Unsupported("varint too long".into()))
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], Unsupported> {
        if self.bytes.len() < length {
            return Err(Unsupported("truncated field".into()));
        }
        let (head, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(head)
    }

    fn delimited(&mut self) -> Result<&'a [u8], Unsupported> {
        let length =
            usize::try_from(self.varint()?).map_err(|_| Unsupported("field too long".into()))?;
        self.take(length)
    }
}

/// A wire value as read, before the schema gives it its JSON form.
enum Raw<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn read_message(bytes: &[u8], message: &Message) -> Result<Value, Unsupported> {
    let mut wire = Wire { bytes };
    let mut out = Map::new();
    while !wire.bytes.is_empty() {
        let key = wire.varint()?;
        let (number, wire_type) = (key >> 3, key & 7);
        let raw = match wire_type {
            0 => Raw::Varint(wire.varint()?),
            2 => Raw::Bytes(wire.delimited()?),
            1 => {
                wire.take(8)?;
                continue;
            }
            5 => {
                wire.take(4)?;
                continue;
            }
            other => {
                return Err(Unsupported(format!(
                    "wire type {other} in {} is not understood",
                    message.name
                )));
            }
        };
        let field = message
            .fields
            .iter()
            .find(|f| u64::from(f.number) == number)
            .ok_or_else(|| {
                Unsupported(format!(
                    "field {number} of {} is not read from protobuf by this server; send the object as JSON",
                    message.name
                ))
            })?;
        place(&mut out, field, raw, message)?;
    }
    Ok(Value::Object(out))
}

/// Puts one wire value into the JSON object its message becomes.
fn place(
    out: &mut Map<String, Value>,
    field: &Field,
    raw: Raw,
    parent: &Message,
) -> Result<(), Unsupported> {
    if matches!(field.ty, Ty::Skip) {
        return Ok(());
    }
    if let (Ty::Inline(inner), Raw::Bytes(bytes)) = (&field.ty, &raw) {
        if let Value::Object(fields) = read_message(bytes, inner)? {
            out.extend(fields);
        }
        return Ok(());
    }
    if let (Ty::Map(value_ty), Raw::Bytes(bytes)) = (&field.ty, &raw) {
        let entry = read_message(bytes, &map_entry(value_ty))?;
        let key = entry
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let value = entry
            .get("value")
            .cloned()
            .unwrap_or_else(|| default_of(value_ty));
        if let Some(map) = out
            .entry(field.name)
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            map.insert(key, value);
        }
        return Ok(());
    }
    let Some(value) = convert(&field.ty, raw, field, parent)? else {
        return Ok(());
    };
    if field.repeated {
        if let Some(items) = out
            .entry(field.name)
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            items.push(value);
        }
    } else if field.keep || !is_zero(&value) {
        out.insert(field.name.to_string(), value);
    }
    Ok(())
}

/// The message a map entry of a value type is read as.
fn map_entry(value: &'static Ty) -> Message {
    Message {
        name: "map entry",
        fields: match value {
            Ty::Bytes => &schema::BYTES_ENTRY,
            Ty::Quantity => &schema::QUANTITY_ENTRY,
            _ => &schema::STRING_ENTRY,
        },
    }
}

fn default_of(ty: &Ty) -> Value {
    match ty {
        Ty::Int => json!(0),
        Ty::Bool => json!(false),
        _ => json!(""),
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        _ => false,
    }
}

fn convert(
    ty: &Ty,
    raw: Raw,
    field: &Field,
    parent: &Message,
) -> Result<Option<Value>, Unsupported> {
    let mismatch = || {
        Unsupported(format!(
            "field {} of {} has an unexpected wire type",
            field.name, parent.name
        ))
    };
    Ok(Some(match (ty, raw) {
        (Ty::Int, Raw::Varint(v)) => json!(v as i64),
        (Ty::Bool, Raw::Varint(v)) => json!(v != 0),
        (Ty::Str, Raw::Bytes(b)) => json!(String::from_utf8_lossy(b)),
        (Ty::Bytes, Raw::Bytes(b)) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        (Ty::Msg(inner), Raw::Bytes(b)) => read_message(b, inner)?,
        (Ty::Time, Raw::Bytes(b)) => {
            let time = read_message(b, &schema::TIME)?;
            let Some(seconds) = time.get("seconds").and_then(Value::as_i64) else {
                return Ok(None);
            };
            let Ok(when) = jiff::Timestamp::from_second(seconds) else {
                return Ok(None);
            };
            json!(when.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        (Ty::Quantity, Raw::Bytes(b)) => read_message(b, &schema::QUANTITY)?
            .get("string")
            .cloned()
            .unwrap_or_else(|| json!("0")),
        (Ty::IntOrString, Raw::Bytes(b)) => {
            let value = read_message(b, &schema::INT_OR_STRING)?;
            match value.get("type").and_then(Value::as_i64) {
                Some(1) => value.get("strVal").cloned().unwrap_or_else(|| json!("")),
                _ => value.get("intVal").cloned().unwrap_or_else(|| json!(0)),
            }
        }
        _ => return Err(mismatch()),
    }))
}

#[cfg(test)]
mod tests;
