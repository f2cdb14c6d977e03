use rmp::encode as w;

use crate::config::cty::{Number, Type, Value};
use crate::config::{Error, Path, Step};

/// Encodes `val` as go-cty's `msgpack.Marshal(val, ty)` does.
///
/// `val` must conform to `ty` (`any` in `ty` accepts every value, which is
/// then written with its type as `[type JSON, value]`). Nomad always calls
/// this with the value's own type; see [`to_msgpack`].
pub fn encode(val: &Value, ty: &Type) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let mut path = Path::root();
    marshal(val, ty, &mut path, &mut out)?;
    Ok(out)
}

/// Encodes `val` with its own type, as Nomad does
/// (`msgpack.Marshal(val, val.Type())`).
pub fn to_msgpack(val: &Value) -> Result<Vec<u8>, Error> {
    encode(val, &val.ty())
}

fn io(path: &Path) -> impl Fn(w::ValueWriteError) -> Error + '_ {
    move |e| Error::encode(path, e.to_string())
}

fn marshal(val: &Value, ty: &Type, path: &mut Path, out: &mut Vec<u8>) -> Result<(), Error> {
    if *ty == Type::Dynamic {
        let own = val.ty();
        if own != Type::Dynamic {
            // The reader cannot know the type: send it along.
            w::write_array_len(out, 2).map_err(io(path))?;
            w::write_bin(out, own.to_json().as_bytes()).map_err(io(path))?;
            return marshal(val, &own, path, out);
        }
    }
    match val {
        Value::Unknown(_) => {
            out.extend_from_slice(&[0xd4, 0, 0]);
            return Ok(());
        }
        Value::Null(_) => {
            w::write_nil(out).map_err(|e| Error::encode(path, e.to_string()))?;
            return Ok(());
        }
        _ => {}
    }
    let mismatch = |path: &Path| {
        Error::encode(
            path,
            format!("{} does not conform to type {}", val.describe(), ty),
        )
    };
    match (val, ty) {
        (Value::String(s), Type::String) => {
            w::write_str(out, s).map_err(io(path))?;
        }
        (Value::Bool(b), Type::Bool) => {
            w::write_bool(out, *b).map_err(|e| Error::encode(path, e.to_string()))?;
        }
        (Value::Number(n), Type::Number) => write_number(n, path, out)?,
        (
            Value::List {
                element_type,
                elements,
            },
            Type::List(ety),
        ) if element_type.conforms_to(ety) => {
            write_seq(elements.iter(), elements.len(), ety, path, out)?;
        }
        (
            Value::Set {
                element_type,
                elements,
            },
            Type::Set(ety),
        ) if element_type.conforms_to(ety) => {
            // Sets built by hand may be out of order: sort as go-cty does.
            let Value::Set { elements, .. } = Value::set(element_type.clone(), elements.clone())
            else {
                return Err(mismatch(path));
            };
            write_seq(elements.iter(), elements.len(), ety, path, out)?;
        }
        (
            Value::Map {
                element_type,
                entries,
            },
            Type::Map(ety),
        ) if element_type.conforms_to(ety) => {
            w::write_map_len(out, len32(entries.len(), path)?).map_err(io(path))?;
            for (k, v) in entries {
                w::write_str(out, k).map_err(io(path))?;
                path.push(Step::Key(k.clone()));
                marshal(v, ety, path, out)?;
                path.pop();
            }
        }
        (Value::Tuple(elements), Type::Tuple(etys)) if elements.len() == etys.len() => {
            w::write_array_len(out, len32(etys.len(), path)?).map_err(io(path))?;
            for (i, (v, ety)) in elements.iter().zip(etys).enumerate() {
                path.push(Step::Index(i));
                marshal(v, ety, path, out)?;
                path.pop();
            }
        }
        (Value::Object(attrs), Type::Object(atys)) => {
            if attrs.len() != atys.len() || attrs.keys().zip(atys.keys()).any(|(a, b)| a != b) {
                return Err(mismatch(path));
            }
            // BTreeMap order is byte order, which is Go's sort.Strings order.
            w::write_map_len(out, len32(atys.len(), path)?).map_err(io(path))?;
            for ((name, v), aty) in attrs.iter().zip(atys.values()) {
                w::write_str(out, name).map_err(io(path))?;
                path.push(Step::Attr(name.clone()));
                marshal(v, aty, path, out)?;
                path.pop();
            }
        }
        _ => return Err(mismatch(path)),
    }
    Ok(())
}

fn write_seq<'a>(
    elements: impl Iterator<Item = &'a Value>,
    len: usize,
    ety: &Type,
    path: &mut Path,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    w::write_array_len(out, len32(len, path)?).map_err(io(path))?;
    for (i, v) in elements.enumerate() {
        path.push(Step::Index(i));
        marshal(v, ety, path, out)?;
        path.pop();
    }
    Ok(())
}

fn len32(len: usize, path: &Path) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::encode(path, "collection too large for msgpack"))
}

/// go-cty's number rule: int if integral and within i64, else float64 if
/// the value is exactly a non-integral float64, else decimal text.
fn write_number(n: &Number, path: &Path, out: &mut Vec<u8>) -> Result<(), Error> {
    if n.is_infinite() {
        let f = if n.is_negative() {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
        w::write_f64(out, f).map_err(io(path))?;
    } else if let Some(i) = n.as_i64() {
        w::write_sint(out, i).map_err(io(path))?;
    } else if let Some(f) = n.as_f64_exact().filter(|_| !n.is_integer()) {
        w::write_f64(out, f).map_err(io(path))?;
    } else {
        w::write_str(out, &n.to_string()).map_err(io(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Value {
        Value::Number(s.parse().unwrap())
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn numbers() {
        let cases = [
            ("0", "00"),
            ("127", "7f"),
            ("128", "cc80"),
            ("-1", "ff"),
            ("-33", "d0df"),
            ("65536", "ce00010000"),
            ("9223372036854775807", "cf7fffffffffffffff"),
            ("-9223372036854775808", "d38000000000000000"),
            ("0.5", "cb3fe0000000000000"),
            ("0.1", "a3302e31"),
            (
                "18446744073709551616",
                "b43138343436373434303733373039353531363136",
            ),
            ("inf", "cb7ff0000000000000"),
        ];
        for (n, want) in cases {
            assert_eq!(hex(&to_msgpack(&num(n)).unwrap()), want, "number {n}");
        }
    }

    #[test]
    fn dynamic_wrapper_and_unknown() {
        let b = encode(&Value::from(true), &Type::Dynamic).unwrap();
        assert_eq!(hex(&b), "92c40622626f6f6c22c3");
        let b = to_msgpack(&Value::Unknown(Type::String)).unwrap();
        assert_eq!(b, [0xd4, 0, 0]);
        let b = encode(&Value::Null(Type::Dynamic), &Type::Dynamic).unwrap();
        assert_eq!(b, [0xc0]);
    }

    #[test]
    fn mismatch_is_an_error_with_path() {
        let v = Value::object([("a", Value::list(Type::String, [Value::from(1)]))]);
        let ty = Type::object([("a", Type::list(Type::String))]);
        let err = encode(&v, &ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.a[0]: cannot encode value: number 1 does not conform to type string"
        );
    }
}
