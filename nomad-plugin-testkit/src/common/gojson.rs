//! Decoding plugin stdout with the rules of Go's `encoding/json`, which is
//! what Nomad uses: one JSON value, object keys matched to fields
//! case-insensitively (last match wins), unknown keys ignored, `null` leaving
//! a field unset, integers only for `int64`, strings only for `string`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// The top-level value a plugin printed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Top {
    /// `null`: Go leaves a struct untouched, or sets a `**T` target to nil.
    Null,
    /// An object, its members in document order (duplicates kept).
    Object(Vec<(String, Value)>),
}

/// Why Go's `json.Unmarshal` would fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoJsonError(pub(crate) String);

impl fmt::Display for GoJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Top;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_unit<E>(self) -> Result<Top, E> {
        Ok(Top::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            members.push((k, v));
        }
        Ok(Top::Object(members))
    }
}

/// Parses stdout as Go would into a struct: exactly one value, surrounding
/// whitespace allowed; invalid UTF-8 inside strings is replaced (Go does not
/// reject it).
pub(crate) fn parse(stdout: &[u8]) -> Result<Top, GoJsonError> {
    let text = String::from_utf8_lossy(stdout);
    if text.trim().is_empty() {
        return Err(GoJsonError("unexpected end of JSON input".into()));
    }
    let mut de = serde_json::Deserializer::from_str(&text);
    let top = (&mut de).deserialize_any(Members).map_err(|e| {
        if e.is_data() {
            GoJsonError(format!(
                "json: cannot unmarshal a non-object value into the response struct ({e})"
            ))
        } else {
            GoJsonError(format!("invalid JSON: {e}"))
        }
    })?;
    de.end()
        .map_err(|e| GoJsonError(format!("invalid character after top-level value: {e}")))?;
    Ok(top)
}

/// Go's case folding for field names: ASCII upper-cased, other characters
/// `ToUpper(ToLower(r))`.
fn fold(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii() {
                vec![c.to_ascii_uppercase()]
            } else {
                c.to_lowercase().flat_map(char::to_uppercase).collect()
            }
        })
        .collect()
}

/// Every value whose key matches `field` the way Go matches struct fields,
/// in document order.
pub(crate) fn matches<'a>(members: &'a [(String, Value)], field: &str) -> Vec<&'a Value> {
    let want = fold(field);
    members
        .iter()
        .filter(|(k, _)| k == field || fold(k) == want)
        .map(|(_, v)| v)
        .collect()
}

/// A Go `string` field: the last non-null string, `""` when absent.
pub(crate) fn string_field(
    members: &[(String, Value)],
    field: &str,
) -> Result<String, GoJsonError> {
    let mut out = String::new();
    for v in matches(members, field) {
        match v {
            Value::Null => {}
            Value::String(s) => out = s.clone(),
            other => return Err(type_error(other, field, "string")),
        }
    }
    Ok(out)
}

/// A Go `*string` field: `None` when absent or `null`.
pub(crate) fn string_ptr_field(
    members: &[(String, Value)],
    field: &str,
) -> Result<Option<String>, GoJsonError> {
    let mut out = None;
    for v in matches(members, field) {
        match v {
            Value::Null => out = None,
            Value::String(s) => out = Some(s.clone()),
            other => return Err(type_error(other, field, "string")),
        }
    }
    Ok(out)
}

/// A Go `int64` field: only integer literals fit; `0` when absent.
pub(crate) fn int64_field(members: &[(String, Value)], field: &str) -> Result<i64, GoJsonError> {
    let mut out = 0;
    for v in matches(members, field) {
        match v {
            Value::Null => {}
            Value::Number(n) => match n.as_i64() {
                Some(i) if !n.is_f64() => out = i,
                _ => return Err(type_error(v, field, "int64")),
            },
            other => return Err(type_error(other, field, "int64")),
        }
    }
    Ok(out)
}

/// A Go `map[string]string` field: `None` when absent or `null`.
pub(crate) fn string_map_field(
    members: &[(String, Value)],
    field: &str,
) -> Result<Option<BTreeMap<String, String>>, GoJsonError> {
    let mut out = None;
    for v in matches(members, field) {
        match v {
            Value::Null => out = None,
            Value::Object(map) => {
                // Go decodes into the existing map, merging duplicates.
                let target: &mut BTreeMap<String, String> = out.get_or_insert_with(BTreeMap::new);
                for (k, item) in map {
                    match item {
                        Value::String(s) => {
                            target.insert(k.clone(), s.clone());
                        }
                        // A null element stores the zero value.
                        Value::Null => {
                            target.insert(k.clone(), String::new());
                        }
                        other => {
                            return Err(type_error(other, &format!("{field}.{k}"), "string"));
                        }
                    }
                }
            }
            other => return Err(type_error(other, field, "map[string]string")),
        }
    }
    Ok(out)
}

fn type_error(v: &Value, field: &str, go_type: &str) -> GoJsonError {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    GoJsonError(format!(
        "json: cannot unmarshal {kind} {v} into Go struct field .{field} of type {go_type}"
    ))
}

/// `json.Marshal` of a Go `map[string]string`: keys sorted, compact, with
/// Go's HTML-safe escapes; `None` (a nil map) is `null`.
pub(crate) fn go_marshal_string_map(map: Option<&BTreeMap<String, String>>) -> String {
    let Some(map) = map else {
        return "null".into();
    };
    let json = serde_json::to_string(map).unwrap_or_else(|_| "null".into());
    // These characters only occur inside strings, where Go escapes them.
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &str) -> Vec<(String, Value)> {
        match parse(s.as_bytes()).unwrap() {
            Top::Object(m) => m,
            Top::Null => panic!("null"),
        }
    }

    #[test]
    fn one_value_only() {
        assert!(parse(b"").is_err());
        assert!(parse(b"  \n").is_err());
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"starting\n{}").is_err());
        assert!(
            parse("\u{feff}{}".as_bytes()).is_err(),
            "a BOM is not whitespace"
        );
        assert!(parse(b"[]").is_err());
        assert!(parse(b"\"x\"").is_err());
        assert_eq!(parse(b" null \n").unwrap(), Top::Null);
        assert!(matches!(parse(b"\n{\"a\":1}\n").unwrap(), Top::Object(_)));
    }

    #[test]
    fn keys_fold_and_last_wins() {
        let m = obj(r#"{"PATH":"/a","Path":"/b","unknown":[1]}"#);
        assert_eq!(string_field(&m, "path").unwrap(), "/b");
        let m = obj(r#"{"verſion":"1"}"#);
        assert_eq!(
            string_ptr_field(&m, "version").unwrap().as_deref(),
            Some("1")
        );
        let m = obj(r#"{"version":"1","version":null}"#);
        assert_eq!(string_ptr_field(&m, "version").unwrap(), None);
    }

    #[test]
    fn int64_takes_integer_literals_only() {
        assert_eq!(int64_field(&obj(r#"{"bytes":5}"#), "bytes").unwrap(), 5);
        assert_eq!(int64_field(&obj(r#"{"bytes":-1}"#), "bytes").unwrap(), -1);
        assert_eq!(int64_field(&obj(r#"{}"#), "bytes").unwrap(), 0);
        for bad in ["5.0", "1e3", "\"5\"", "9223372036854775808", "true"] {
            let m = obj(&format!("{{\"bytes\":{bad}}}"));
            assert!(int64_field(&m, "bytes").is_err(), "{bad}");
        }
    }

    #[test]
    fn string_maps_take_strings_only() {
        let m = obj(r#"{"result":{"a":"1","b":null}}"#);
        let r = string_map_field(&m, "result").unwrap().unwrap();
        assert_eq!((r["a"].as_str(), r["b"].as_str()), ("1", ""));
        assert!(string_map_field(&obj(r#"{"result":{"a":1}}"#), "result").is_err());
        assert!(string_map_field(&obj(r#"{"result":[]}"#), "result").is_err());
        assert_eq!(
            string_map_field(&obj(r#"{"result":null}"#), "result").unwrap(),
            None
        );
    }

    #[test]
    fn marshal_matches_go() {
        assert_eq!(go_marshal_string_map(None), "null");
        let m: BTreeMap<_, _> = [
            ("b".to_owned(), "<&>".to_owned()),
            ("a".to_owned(), "v".to_owned()),
        ]
        .into();
        assert_eq!(
            go_marshal_string_map(Some(&m)),
            r#"{"a":"v","b":"\u003c\u0026\u003e"}"#
        );
    }
}
