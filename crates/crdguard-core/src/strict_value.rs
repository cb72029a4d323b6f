//! A `serde_json::Value` deserializer that rejects duplicate mapping keys.
//!
//! serde_json's own `Value` lets the last duplicate win silently; the Kubernetes API machinery
//! (sigs.k8s.io/yaml, strict decoding) rejects them, and so do we: a CRD whose schema says two
//! different things for one key is a mistake to stop on, not to guess about.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

pub struct StrictValue(pub Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML or JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // NaN and infinities have no JSON form; keep them as the strings YAML wrote.
        Ok(Number::from_f64(v).map_or_else(|| Value::String(v.to_string()), Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        items.shrink_to_fit();
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        // Small maps (most of a CRD: schema nodes) are gathered in a Vec first and allocated at
        // their exact size; growing every map by doubling left a third of a 2,000-CRD load as
        // unused capacity. A duplicate is refused at its key, where the parser's position
        // names its line.
        const SMALL: usize = 16;
        let mut small: Vec<(String, Value)> = Vec::new();
        let mut large: Option<Map<String, Value>> = None;
        while let Some(MapKey(key)) = access.next_key::<MapKey>()? {
            let duplicate = match &large {
                Some(map) => map.contains_key(&key),
                None => small.iter().any(|(k, _)| *k == key),
            };
            if duplicate {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let StrictValue(value) = access.next_value()?;
            match &mut large {
                Some(map) => {
                    map.insert(key, value);
                }
                None => {
                    small.push((key, value));
                    if small.len() > SMALL {
                        let mut map = Map::with_capacity(small.len() * 2);
                        map.extend(small.drain(..));
                        large = Some(map);
                    }
                }
            }
        }
        let map = large.unwrap_or_else(|| {
            let mut map = Map::with_capacity(small.len());
            map.extend(small);
            map
        });
        Ok(Value::Object(map))
    }
}

/// Mapping keys: strings, or scalars YAML allows as keys (`1: a`, `true: b`) as their text.
struct MapKey(String);

impl<'de> Deserialize<'de> for MapKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_any(StrictVisitor)? {
            Value::String(s) => Ok(MapKey(s)),
            Value::Number(n) => Ok(MapKey(n.to_string())),
            Value::Bool(b) => Ok(MapKey(b.to_string())),
            Value::Null => Ok(MapKey("null".to_string())),
            _ => Err(de::Error::custom("a mapping key must be a scalar")),
        }
    }
}
