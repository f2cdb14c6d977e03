//! A serde `Deserializer` over cty values.
//!
//! Rules that make Nomad's config values feel like ordinary serde input:
//! * an object attribute that is null counts as *absent*, so `Option<T>`
//!   fields become `None` and `#[serde(default)]` applies (Nomad sends every
//!   attribute of the schema, null where the operator wrote nothing);
//! * numbers fit any integer type they are in range of, and any float type;
//!   numbers that arrived as decimal text (`"0.1"`) are parsed;
//! * lists, sets and tuples are sequences; maps and objects are maps.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::cty::{Number, Value};
use super::{Error, Path, Step};

/// Deserializes a `T` from a cty value.
///
/// ```
/// use serde::Deserialize;
/// use nomad_plugin_sdk::config::{cty::{Type, Value}, from_value};
///
/// #[derive(Deserialize, Debug, PartialEq)]
/// struct Config {
///     image: String,
///     #[serde(default)]
///     port: u16,
///     args: Option<Vec<String>>,
/// }
///
/// let v = Value::object([
///     ("image", Value::string("redis")),
///     ("port", Value::null(Type::Number)),
///     ("args", Value::null(Type::list(Type::String))),
/// ]);
/// let c: Config = from_value(&v).unwrap();
/// assert_eq!(c, Config { image: "redis".into(), port: 0, args: None });
///
/// let bad = Value::object([("image", Value::string("redis")), ("port", Value::string("http"))]);
/// let err = from_value::<Config>(&bad).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"config.port: expected an integer between 0 and 65535, found string "http""#
/// );
/// ```
pub fn from_value<'de, T: de::Deserialize<'de>>(value: &'de Value) -> Result<T, Error> {
    let path = Path::root();
    T::deserialize(ValueDeserializer { value, path: &path }).map_err(|e| e.locate(&path))
}

/// A serde `Deserializer` reading one [`Value`]; see [`from_value`].
pub struct ValueDeserializer<'de, 'p> {
    value: &'de Value,
    path: &'p Path,
}

impl<'de, 'p> ValueDeserializer<'de, 'p> {
    /// A deserializer for `value`, which sits at `path` in the config.
    pub fn new(value: &'de Value, path: &'p Path) -> Self {
        ValueDeserializer { value, path }
    }

    fn type_error(&self, expected: impl Into<String>) -> Error {
        Error::Type {
            path: self.path.clone(),
            expected: expected.into(),
            found: self.value.describe(),
        }
    }

    /// The number held, also accepting decimal text as go-cty writes it.
    fn number(&self, expected: &str) -> Result<Number, Error> {
        match self.value {
            Value::Number(n) => Ok(n.clone()),
            Value::String(s) => s.parse().map_err(|_| self.type_error(expected)),
            _ => Err(self.type_error(expected)),
        }
    }

    fn integer<T: TryFrom<i128>>(&self, min: i128, max: u128) -> Result<T, Error> {
        let expected = format!("an integer between {min} and {max}");
        let n = self.number(&expected)?;
        n.as_i128()
            .and_then(|i| T::try_from(i).ok())
            .ok_or_else(|| self.type_error(expected))
    }

    fn located<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        r.map_err(|e| e.locate(self.path))
    }
}

macro_rules! deserialize_int {
    ($($method:ident $visit:ident $t:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let v: $t = self.integer(<$t>::MIN as i128, <$t>::MAX as u128)?;
            self.located(visitor.$visit(v))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match self.value {
            Value::Null(_) => visitor.visit_none(),
            Value::Unknown(_) => return Err(self.type_error("a known value")),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else {
                    visitor.visit_f64(n.to_f64_lossy())
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::List { elements, .. } | Value::Set { elements, .. } | Value::Tuple(elements) => {
                visitor.visit_seq(SeqAccess::new(elements, self.path))
            }
            Value::Map { entries, .. } => {
                visitor.visit_map(MapAccess::new(entries, self.path, false))
            }
            Value::Object(attrs) => visitor.visit_map(MapAccess::new(attrs, self.path, true)),
        };
        self.located(r)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Bool(b) => self.located(visitor.visit_bool(*b)),
            // go-cty's conversion from string to bool accepts these two.
            Value::String(s) if s == "true" => self.located(visitor.visit_bool(true)),
            Value::String(s) if s == "false" => self.located(visitor.visit_bool(false)),
            _ => Err(self.type_error("a bool")),
        }
    }

    deserialize_int!(
        deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16,
        deserialize_i32 visit_i32 i32, deserialize_i64 visit_i64 i64,
        deserialize_i128 visit_i128 i128,
        deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64
    );

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let v: u128 = self.integer(0, u128::MAX)?;
        self.located(visitor.visit_u128(v))
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let f = self.number("a number")?.to_f64_lossy();
        if f.is_finite() && (f as f32).is_infinite() {
            return Err(self.type_error("a number within the range of f32"));
        }
        self.located(visitor.visit_f32(f as f32))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let f = self.number("a number")?.to_f64_lossy();
        self.located(visitor.visit_f64(f))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) if s.chars().count() == 1 => {
                let c = s.chars().next().unwrap_or_default();
                self.located(visitor.visit_char(c))
            }
            _ => Err(self.type_error("a single character")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => self.located(visitor.visit_borrowed_str(s)),
            // go-cty converts numbers and bools to strings where a string is
            // declared; a default of another type can still arrive this way.
            Value::Number(n) => self.located(visitor.visit_string(n.to_string())),
            Value::Bool(b) => self.located(visitor.visit_string(b.to_string())),
            _ => Err(self.type_error("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => self.located(visitor.visit_borrowed_bytes(s.as_bytes())),
            _ => Err(self.type_error("a string")),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null(_) => self.located(visitor.visit_none()),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null(_) => self.located(visitor.visit_unit()),
            _ => Err(self.type_error("null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::List { elements, .. } | Value::Set { elements, .. } | Value::Tuple(elements) => {
                let r = visitor.visit_seq(SeqAccess::new(elements, self.path));
                self.located(r)
            }
            _ => Err(self.type_error("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match self.value {
            Value::Map { entries, .. } => {
                visitor.visit_map(MapAccess::new(entries, self.path, false))
            }
            // A map of objects comes as an object when the schema said `any`;
            // keep null entries so `HashMap<String, Option<T>>` sees them.
            Value::Object(attrs) => visitor.visit_map(MapAccess::new(attrs, self.path, false)),
            _ => return Err(self.type_error("a map")),
        };
        self.located(r)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let r = match self.value {
            Value::Object(attrs) => visitor.visit_map(MapAccess::new(attrs, self.path, true)),
            Value::Map { entries, .. } => {
                visitor.visit_map(MapAccess::new(entries, self.path, true))
            }
            _ => return Err(self.type_error("an object")),
        };
        self.located(r)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => {
                let d: de::value::StrDeserializer<'_, Error> = s.as_str().into_deserializer();
                self.located(visitor.visit_enum(d))
            }
            Value::Object(attrs) | Value::Map { entries: attrs, .. } => {
                let mut present = attrs.iter().filter(|(_, v)| !v.is_null());
                match (present.next(), present.next()) {
                    (Some((k, v)), None) => {
                        let r = visitor.visit_enum(EnumAccess {
                            variant: k,
                            value: v,
                            path: self.path.join(Step::Attr(k.clone())),
                        });
                        self.located(r)
                    }
                    _ => Err(self.type_error("a string or an object with exactly one attribute")),
                }
            }
            _ => Err(self.type_error("a string naming a variant")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqAccess<'de, 'p> {
    iter: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    path: &'p Path,
}

impl<'de, 'p> SeqAccess<'de, 'p> {
    fn new(elements: &'de [Value], path: &'p Path) -> Self {
        SeqAccess {
            iter: elements.iter().enumerate(),
            path,
        }
    }
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((i, value)) = self.iter.next() else {
            return Ok(None);
        };
        let path = self.path.join(Step::Index(i));
        seed.deserialize(ValueDeserializer { value, path: &path })
            .map(Some)
            .map_err(|e| e.locate(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapAccess<'de, 'p> {
    iter: std::collections::btree_map::Iter<'de, String, Value>,
    pending: Option<(&'de String, &'de Value)>,
    path: &'p Path,
    /// Object attributes: null means absent, names print as `.name`.
    object: bool,
}

impl<'de, 'p> MapAccess<'de, 'p> {
    fn new(
        entries: &'de std::collections::BTreeMap<String, Value>,
        path: &'p Path,
        object: bool,
    ) -> Self {
        MapAccess {
            iter: entries.iter(),
            pending: None,
            path,
            object,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapAccess<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        loop {
            let Some((k, v)) = self.iter.next() else {
                return Ok(None);
            };
            if self.object && v.is_null() {
                continue;
            }
            self.pending = Some((k, v));
            let d: de::value::BorrowedStrDeserializer<'de, Error> =
                de::value::BorrowedStrDeserializer::new(k);
            return seed.deserialize(d).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((k, value)) = self.pending.take() else {
            return Err(de::Error::custom("map value requested before its key"));
        };
        let step = if self.object {
            Step::Attr(k.clone())
        } else {
            Step::Key(k.clone())
        };
        let path = self.path.join(step);
        seed.deserialize(ValueDeserializer { value, path: &path })
            .map_err(|e| e.locate(&path))
    }
}

struct EnumAccess<'de> {
    variant: &'de str,
    value: &'de Value,
    path: Path,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let d: de::value::BorrowedStrDeserializer<'de, Error> =
            de::value::BorrowedStrDeserializer::new(self.variant);
        Ok((seed.deserialize(d)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for EnumAccess<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(ValueDeserializer {
            value: self.value,
            path: &self.path,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(
            ValueDeserializer {
                value: self.value,
                path: &self.path,
            },
            visitor,
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(
            ValueDeserializer {
                value: self.value,
                path: &self.path,
            },
            visitor,
        )
    }
}
