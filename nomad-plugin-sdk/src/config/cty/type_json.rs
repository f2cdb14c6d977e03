//! go-cty's JSON description of types, used by the msgpack encoding of
//! dynamic (`any`) values: `"string"`, `["list","number"]`,
//! `["object",{"a":"bool"}]`, `["tuple",["string"]]`, `"dynamic"`.

use std::collections::BTreeMap;

use super::Type;

/// A type description that go-cty would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cty type description: {0}")]
pub struct TypeJsonError(String);

impl Type {
    /// The type as go-cty's `Type.MarshalJSON` writes it (compact, object
    /// attributes sorted, strings escaped as Go's `encoding/json` does).
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        write_json(self, &mut s);
        s
    }

    /// Parses go-cty's JSON type description.
    ///
    /// ```
    /// use nomad_plugin_sdk::config::cty::Type;
    /// let t = Type::from_json(br#"["object",{"a":["set","bool"]}]"#).unwrap();
    /// assert_eq!(t, Type::object([("a", Type::set(Type::Bool))]));
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Type, TypeJsonError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| TypeJsonError(e.to_string()))?;
        from_json_value(&v, 0)
    }
}

fn write_json(t: &Type, s: &mut String) {
    match t {
        Type::Bool => s.push_str("\"bool\""),
        Type::Number => s.push_str("\"number\""),
        Type::String => s.push_str("\"string\""),
        Type::Dynamic => s.push_str("\"dynamic\""),
        Type::List(e) | Type::Set(e) | Type::Map(e) => {
            let kind = match t {
                Type::List(_) => "list",
                Type::Set(_) => "set",
                _ => "map",
            };
            s.push_str("[\"");
            s.push_str(kind);
            s.push_str("\",");
            write_json(e, s);
            s.push(']');
        }
        Type::Object(attrs) => {
            s.push_str("[\"object\",{");
            for (i, (k, v)) in attrs.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                go_json_string(k, s);
                s.push(':');
                write_json(v, s);
            }
            s.push_str("}]");
        }
        Type::Tuple(elems) => {
            s.push_str("[\"tuple\",[");
            for (i, e) in elems.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                write_json(e, s);
            }
            s.push_str("]]");
        }
    }
}

/// A JSON string escaped like Go's `encoding/json` (which also escapes
/// `<`, `>`, `&`, U+2028 and U+2029).
fn go_json_string(v: &str, s: &mut String) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                s.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
}

const MAX_DEPTH: usize = 64;

fn from_json_value(v: &serde_json::Value, depth: usize) -> Result<Type, TypeJsonError> {
    use serde_json::Value as J;
    let err = |m: &str| TypeJsonError(m.to_string());
    if depth > MAX_DEPTH {
        return Err(err("type nested too deeply"));
    }
    match v {
        J::String(s) => match s.as_str() {
            "bool" => Ok(Type::Bool),
            "number" => Ok(Type::Number),
            "string" => Ok(Type::String),
            "dynamic" => Ok(Type::Dynamic),
            other => Err(TypeJsonError(format!(
                "invalid primitive type name {other:?}"
            ))),
        },
        J::Array(items) => {
            let kind = items
                .first()
                .and_then(J::as_str)
                .ok_or_else(|| err("invalid complex type kind name"))?;
            let arg = items.get(1).ok_or_else(|| err("missing element type"))?;
            let extra = match kind {
                // go-cty allows a third element: the optional attribute names.
                "object" => items.len() > 3,
                _ => items.len() > 2,
            };
            if extra {
                return Err(err("unexpected extra data in type description"));
            }
            match kind {
                "list" => Ok(Type::list(from_json_value(arg, depth + 1)?)),
                "set" => Ok(Type::set(from_json_value(arg, depth + 1)?)),
                "map" => Ok(Type::map(from_json_value(arg, depth + 1)?)),
                "object" => {
                    let obj = arg
                        .as_object()
                        .ok_or_else(|| err("object attributes must be a JSON object"))?;
                    let attrs = obj
                        .iter()
                        .map(|(k, t)| Ok((k.clone(), from_json_value(t, depth + 1)?)))
                        .collect::<Result<BTreeMap<_, _>, TypeJsonError>>()?;
                    Ok(Type::Object(attrs))
                }
                "tuple" => {
                    let elems = arg
                        .as_array()
                        .ok_or_else(|| err("tuple element types must be a JSON array"))?;
                    let elems = elems
                        .iter()
                        .map(|t| from_json_value(t, depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Type::Tuple(elems))
                }
                _ => Err(err("invalid complex type kind name")),
            }
        }
        _ => Err(err("invalid type description")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = Type::object([
            ("b<", Type::Tuple(vec![Type::String, Type::Dynamic])),
            ("a", Type::map(Type::list(Type::Number))),
        ]);
        let j = t.to_json();
        assert_eq!(
            j,
            r#"["object",{"a":["map",["list","number"]],"b\u003c":["tuple",["string","dynamic"]]}]"#
        );
        assert_eq!(Type::from_json(j.as_bytes()).unwrap(), t);
        assert!(Type::from_json(b"\"nope\"").is_err());
        assert!(Type::from_json(b"[\"list\"]").is_err());
    }
}
