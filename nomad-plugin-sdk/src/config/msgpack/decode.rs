use std::collections::BTreeMap;

use rmp::Marker;

use crate::config::cty::{normalize, Number, Type, Value};
use crate::config::{Error, Path, Step};

/// Deeper nesting than this is rejected instead of recursing further.
const MAX_DEPTH: usize = 128;

/// Decodes go-cty msgpack as go-cty's `msgpack.Unmarshal(bytes, ty)` does.
///
/// Where `ty` is `any`, the bytes must hold go-cty's `[type JSON, value]`
/// pair. Extension values are unknown values. Trailing bytes after the value
/// are ignored, as go-cty ignores them.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, Error> {
    Reader::new(bytes, false).value(ty, &mut Path::root(), 0)
}

/// Decodes what Nomad sends (go-cty msgpack written with the value's own
/// type) without knowing that type: maps become objects, arrays tuples, ints,
/// floats and numeric strings stay what msgpack says (strings stay strings).
///
/// This is how plugins read their config: Nomad's value type can differ from
/// the schema's (an `any` attribute, a default of another type), so the
/// bytes themselves are the only reliable description.
///
/// ```
/// use nomad_plugin_sdk::config::cty::Value;
/// use nomad_plugin_sdk::config::msgpack::decode_untyped;
/// let v = decode_untyped(b"\x81\xa4port\xcd\x1f\x90").unwrap();
/// assert_eq!(v, Value::object([("port", Value::from(8080))]));
/// ```
pub fn decode_untyped(bytes: &[u8]) -> Result<Value, Error> {
    Reader::new(bytes, true).value(&Type::Dynamic, &mut Path::root(), 0)
}

struct Reader<'a> {
    rd: &'a [u8],
    /// `any` means "whatever the bytes say" rather than a `[type, value]` pair.
    infer_dynamic: bool,
}

impl<'a> Reader<'a> {
    fn new(rd: &'a [u8], infer_dynamic: bool) -> Reader<'a> {
        Reader { rd, infer_dynamic }
    }

    fn peek(&self, path: &Path) -> Result<Marker, Error> {
        self.rd
            .first()
            .map(|b| Marker::from_u8(*b))
            .ok_or_else(|| Error::msgpack(path, "unexpected end of data"))
    }

    fn marker(&mut self, path: &Path) -> Result<Marker, Error> {
        rmp::decode::read_marker(&mut self.rd)
            .map_err(|_| Error::msgpack(path, "unexpected end of data"))
    }

    fn take(&mut self, n: usize, path: &Path) -> Result<&'a [u8], Error> {
        if n > self.rd.len() {
            return Err(Error::msgpack(path, "unexpected end of data"));
        }
        let (head, tail) = self.rd.split_at(n);
        self.rd = tail;
        Ok(head)
    }

    fn u8(&mut self, path: &Path) -> Result<u8, Error> {
        rmp::decode::RmpRead::read_data_u8(&mut self.rd).map_err(|_| eof(path))
    }
    fn u16(&mut self, path: &Path) -> Result<u16, Error> {
        rmp::decode::RmpRead::read_data_u16(&mut self.rd).map_err(|_| eof(path))
    }
    fn u32(&mut self, path: &Path) -> Result<u32, Error> {
        rmp::decode::RmpRead::read_data_u32(&mut self.rd).map_err(|_| eof(path))
    }

    /// Reads the length that follows a str/bin marker, or `None` for
    /// markers that are neither.
    fn raw_len(&mut self, m: Marker, path: &Path) -> Result<Option<usize>, Error> {
        Ok(Some(match m {
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 | Marker::Bin8 => usize::from(self.u8(path)?),
            Marker::Str16 | Marker::Bin16 => usize::from(self.u16(path)?),
            Marker::Str32 | Marker::Bin32 => self.u32(path)? as usize,
            _ => return Ok(None),
        }))
    }

    /// A str or bin as UTF-8 text (go-cty's decoder accepts both).
    fn string(&mut self, what: &str, path: &Path) -> Result<String, Error> {
        let m = self.marker(path)?;
        let Some(n) = self.raw_len(m, path)? else {
            return Err(Error::msgpack(path, format!("{what} is required")));
        };
        let raw = self.take(n, path)?;
        std::str::from_utf8(raw)
            .map(normalize)
            .map_err(|_| Error::msgpack(path, "string is not valid UTF-8"))
    }

    fn array_len(&mut self, what: &str, path: &Path) -> Result<usize, Error> {
        match self.marker(path)? {
            Marker::FixArray(n) => Ok(usize::from(n)),
            Marker::Array16 => Ok(usize::from(self.u16(path)?)),
            Marker::Array32 => Ok(self.u32(path)? as usize),
            _ => Err(Error::msgpack(path, format!("{what} is required"))),
        }
    }

    fn map_len(&mut self, what: &str, path: &Path) -> Result<usize, Error> {
        match self.marker(path)? {
            Marker::FixMap(n) => Ok(usize::from(n)),
            Marker::Map16 => Ok(usize::from(self.u16(path)?)),
            Marker::Map32 => Ok(self.u32(path)? as usize),
            _ => Err(Error::msgpack(path, format!("{what} is required"))),
        }
    }

    /// A capacity hint that a hostile length cannot inflate: every element
    /// takes at least one byte.
    fn cap(&self, n: usize) -> usize {
        n.min(self.rd.len())
    }

    fn value(&mut self, ty: &Type, path: &mut Path, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::msgpack(path, "value nested too deeply"));
        }
        let peek = self.peek(path)?;
        if is_ext(peek) {
            return self.unknown(ty, path);
        }
        if *ty == Type::Dynamic {
            return if self.infer_dynamic {
                self.inferred(path, depth)
            } else {
                self.dynamic(path, depth)
            };
        }
        if peek == Marker::Null {
            self.marker(path)?;
            return Ok(Value::Null(ty.clone()));
        }
        match ty {
            Type::Bool => match self.marker(path)? {
                Marker::True => Ok(Value::Bool(true)),
                Marker::False => Ok(Value::Bool(false)),
                _ => Err(Error::msgpack(path, "bool is required")),
            },
            Type::Number => self.number(path).map(Value::Number),
            Type::String => self.string("string", path).map(Value::String),
            Type::List(ety) | Type::Set(ety) => {
                let what = if matches!(ty, Type::List(_)) {
                    "a list"
                } else {
                    "a set"
                };
                let n = self.array_len(what, path)?;
                let mut elements = Vec::with_capacity(self.cap(n));
                for i in 0..n {
                    path.push(Step::Index(i));
                    elements.push(self.value(ety, path, depth + 1)?);
                    path.pop();
                }
                let element_type = (**ety).clone();
                Ok(if matches!(ty, Type::List(_)) {
                    Value::List {
                        element_type,
                        elements,
                    }
                } else {
                    Value::set(element_type, elements)
                })
            }
            Type::Map(ety) => {
                let n = self.map_len("a map", path)?;
                let mut entries = BTreeMap::new();
                for _ in 0..n {
                    let key = self.string("map key", path)?;
                    path.push(Step::Key(key.clone()));
                    let v = self.value(ety, path, depth + 1)?;
                    path.pop();
                    entries.insert(key, v);
                }
                Ok(Value::Map {
                    element_type: (**ety).clone(),
                    entries,
                })
            }
            Type::Tuple(etys) => {
                let n = self.array_len("a tuple", path)?;
                if n == 0 {
                    // go-cty yields an empty tuple here whatever the type says.
                    return Ok(Value::Tuple(Vec::new()));
                }
                if n != etys.len() {
                    return Err(Error::msgpack(
                        path,
                        format!("a tuple of length {} is required", etys.len()),
                    ));
                }
                let mut elements = Vec::with_capacity(n);
                for (i, ety) in etys.iter().enumerate() {
                    path.push(Step::Index(i));
                    elements.push(self.value(ety, path, depth + 1)?);
                    path.pop();
                }
                Ok(Value::Tuple(elements))
            }
            Type::Object(atys) => {
                let n = self.map_len("an object", path)?;
                if n == 0 {
                    // go-cty yields an empty object here whatever the type says.
                    return Ok(Value::Object(BTreeMap::new()));
                }
                if n != atys.len() {
                    return Err(Error::msgpack(
                        path,
                        format!(
                            "an object with {} attributes is required ({n} given)",
                            atys.len()
                        ),
                    ));
                }
                let mut attrs = BTreeMap::new();
                for _ in 0..n {
                    let key = self.string("attribute name", path)?;
                    path.push(Step::Attr(key.clone()));
                    let Some(aty) = atys.get(&key) else {
                        return Err(Error::msgpack(path, "unsupported attribute"));
                    };
                    let v = self.value(aty, path, depth + 1)?;
                    path.pop();
                    if attrs.insert(key.clone(), v).is_some() {
                        return Err(Error::msgpack(path, format!("duplicate attribute {key:?}")));
                    }
                }
                Ok(Value::Object(attrs))
            }
            Type::Dynamic => self.dynamic(path, depth),
        }
    }

    fn number(&mut self, path: &Path) -> Result<Number, Error> {
        let m = self.marker(path)?;
        let bad = || Error::msgpack(path, "number is required");
        Ok(match m {
            Marker::FixPos(v) => Number::from(v),
            Marker::FixNeg(v) => Number::from(v),
            Marker::U8 => Number::from(self.u8(path)?),
            Marker::U16 => Number::from(self.u16(path)?),
            Marker::U32 => Number::from(self.u32(path)?),
            Marker::U64 => Number::from(
                rmp::decode::RmpRead::read_data_u64(&mut self.rd).map_err(|_| eof(path))?,
            ),
            Marker::I8 => Number::from(
                rmp::decode::RmpRead::read_data_i8(&mut self.rd).map_err(|_| eof(path))?,
            ),
            Marker::I16 => Number::from(
                rmp::decode::RmpRead::read_data_i16(&mut self.rd).map_err(|_| eof(path))?,
            ),
            Marker::I32 => Number::from(
                rmp::decode::RmpRead::read_data_i32(&mut self.rd).map_err(|_| eof(path))?,
            ),
            Marker::I64 => Number::from(
                rmp::decode::RmpRead::read_data_i64(&mut self.rd).map_err(|_| eof(path))?,
            ),
            Marker::F32 => {
                let f = rmp::decode::RmpRead::read_data_f32(&mut self.rd).map_err(|_| eof(path))?;
                Number::from_f64(f64::from(f)).ok_or_else(bad)?
            }
            Marker::F64 => {
                let f = rmp::decode::RmpRead::read_data_f64(&mut self.rd).map_err(|_| eof(path))?;
                Number::from_f64(f).ok_or_else(bad)?
            }
            m => {
                let Some(n) = self.raw_len(m, path)? else {
                    return Err(bad());
                };
                let raw = self.take(n, path)?;
                std::str::from_utf8(raw)
                    .ok()
                    .and_then(|s| s.parse::<Number>().ok())
                    .ok_or_else(bad)?
            }
        })
    }

    /// go-cty's `[type JSON, value]` pair.
    fn dynamic(&mut self, path: &mut Path, depth: usize) -> Result<Value, Error> {
        if self.peek(path)? == Marker::Null {
            self.marker(path)?;
            return Ok(Value::Null(Type::Dynamic));
        }
        let n = self.array_len("a dynamic value", path)?;
        if n != 2 {
            return Err(Error::msgpack(
                path,
                "dynamic value array must have exactly two elements",
            ));
        }
        let m = self.marker(path)?;
        let Some(len) = self.raw_len(m, path)? else {
            return Err(Error::msgpack(path, "dynamic value type must be bytes"));
        };
        let ty = Type::from_json(self.take(len, path)?)
            .map_err(|e| Error::msgpack(path, e.to_string()))?;
        self.value(&ty, path, depth + 1)
    }

    /// A value whose type is read off the msgpack itself.
    fn inferred(&mut self, path: &mut Path, depth: usize) -> Result<Value, Error> {
        let m = self.peek(path)?;
        match m {
            Marker::Null => {
                self.marker(path)?;
                Ok(Value::Null(Type::Dynamic))
            }
            Marker::True | Marker::False => self.value(&Type::Bool, path, depth),
            Marker::FixStr(_)
            | Marker::Str8
            | Marker::Str16
            | Marker::Str32
            | Marker::Bin8
            | Marker::Bin16
            | Marker::Bin32 => self.value(&Type::String, path, depth),
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let n = self.array_len("an array", path)?;
                let mut elements = Vec::with_capacity(self.cap(n));
                for i in 0..n {
                    path.push(Step::Index(i));
                    elements.push(self.value(&Type::Dynamic, path, depth + 1)?);
                    path.pop();
                }
                Ok(Value::Tuple(elements))
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let n = self.map_len("a map", path)?;
                let mut attrs = BTreeMap::new();
                for _ in 0..n {
                    let key = self.string("map key", path)?;
                    path.push(Step::Attr(key.clone()));
                    let v = self.value(&Type::Dynamic, path, depth + 1)?;
                    path.pop();
                    if attrs.insert(key.clone(), v).is_some() {
                        return Err(Error::msgpack(path, format!("duplicate key {key:?}")));
                    }
                }
                Ok(Value::Object(attrs))
            }
            Marker::Reserved => Err(Error::msgpack(path, "reserved msgpack marker 0xc1")),
            _ => self.value(&Type::Number, path, depth),
        }
    }

    /// go-cty writes unknown values as extensions; refinements are checked
    /// for shape and then dropped (this model has no refinements).
    fn unknown(&mut self, ty: &Type, path: &Path) -> Result<Value, Error> {
        let (code, len) = match self.marker(path)? {
            Marker::FixExt1 => (None, 1),
            Marker::FixExt2 => (None, 2),
            Marker::FixExt4 => (None, 4),
            Marker::FixExt8 => (None, 8),
            Marker::FixExt16 => (None, 16),
            Marker::Ext8 => (None, usize::from(self.u8(path)?)),
            Marker::Ext16 => (None, usize::from(self.u16(path)?)),
            Marker::Ext32 => (None, self.u32(path)? as usize),
            _ => (Some(()), 0),
        };
        if code.is_some() {
            return Err(Error::msgpack(
                path,
                "extension code is required for unknown value",
            ));
        }
        let ext_type = self.u8(path)? as i8;
        if len > 1 {
            if ext_type != 0x0c {
                return Err(Error::msgpack(
                    path,
                    format!("unsupported extension type 0x{ext_type:02x} with len {len}"),
                ));
            }
            if len > 1024 {
                return Err(Error::msgpack(path, "oversize unknown value refinement"));
            }
        }
        let body = self.take(len, path)?;
        if len > 1 {
            let mut r = Reader::new(body, true);
            r.map_len("a refinement map", path).map_err(|_| {
                Error::msgpack(path, "failed to decode msgpack extension body: not a map")
            })?;
        }
        Ok(Value::Unknown(ty.clone()))
    }
}

fn is_ext(m: Marker) -> bool {
    matches!(
        m,
        Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32
    )
}

fn eof(path: &Path) -> Error {
    Error::msgpack(path, "unexpected end of data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::msgpack::{encode, to_msgpack};

    #[test]
    fn round_trip_typed() {
        let ty = Type::object([
            ("s", Type::String),
            ("n", Type::list(Type::Number)),
            ("m", Type::map(Type::Bool)),
            ("d", Type::Dynamic),
            ("t", Type::Tuple(vec![Type::String, Type::Number])),
            ("set", Type::set(Type::String)),
        ]);
        let v = Value::object([
            ("s", Value::string("x")),
            (
                "n",
                Value::list(
                    Type::Number,
                    ["0.1", "1e30", "-5", "2.5"]
                        .iter()
                        .map(|s| Value::Number(s.parse().unwrap())),
                ),
            ),
            ("m", Value::map(Type::Bool, [("k", Value::from(true))])),
            ("d", Value::list(Type::String, [Value::string("dyn")])),
            (
                "t",
                Value::tuple([Value::string("a"), Value::Null(Type::Number)]),
            ),
            (
                "set",
                Value::set(Type::String, [Value::string("z"), Value::string("a")]),
            ),
        ]);
        let b = encode(&v, &ty).unwrap();
        assert_eq!(decode(&b, &ty).unwrap(), v);
    }

    #[test]
    fn unknowns_and_errors() {
        assert_eq!(
            decode(&[0xd4, 0, 0], &Type::String).unwrap(),
            Value::Unknown(Type::String)
        );
        assert_eq!(
            decode(&[0xd5, 0x0c, 0x81, 0x01], &Type::String).unwrap(),
            Value::Unknown(Type::String)
        );
        assert!(decode(&[0xd5, 0x05, 0x81, 0x01], &Type::String).is_err());
        let err = decode(b"\x81\xa1a\xa1x", &Type::object([("a", Type::Number)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.a: invalid msgpack config: number is required"
        );
        assert!(decode(&[0xdd, 0xff, 0xff, 0xff, 0xff], &Type::list(Type::Bool)).is_err());
    }

    #[test]
    fn untyped_reads_what_nomad_sends() {
        let v = Value::object([
            ("a", Value::Null(Type::String)),
            ("b", Value::list(Type::Number, [Value::from(1)])),
        ]);
        let b = to_msgpack(&v).unwrap();
        assert_eq!(
            decode_untyped(&b).unwrap(),
            Value::object([
                ("a", Value::Null(Type::Dynamic)),
                ("b", Value::tuple([Value::from(1)])),
            ])
        );
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let bytes = vec![0x91; 10_000];
        assert!(decode_untyped(&bytes).is_err());
    }
}
