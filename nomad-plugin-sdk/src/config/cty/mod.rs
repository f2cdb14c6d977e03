//! A model of go-cty values and types, the value system behind HCL.
//!
//! Nomad turns every plugin and task config into a go-cty value before it
//! encodes it for the plugin; this module holds the same values in Rust so
//! that [`msgpack`](crate::config::msgpack) can read and write them byte for
//! byte like go-cty, and [`from_value`](crate::config::from_value) can turn
//! them into the plugin's own serde types.

mod number;
mod set_order;
mod type_json;

use std::collections::BTreeMap;
use std::fmt;

pub use number::{Number, ParseNumberError};
pub use type_json::TypeJsonError;

/// A go-cty type.
///
/// ```
/// use nomad_plugin_sdk::config::cty::Type;
/// let t = Type::list(Type::Map(Box::new(Type::String)));
/// assert_eq!(t.to_json(), r#"["list",["map","string"]]"#);
/// assert_eq!(t.to_string(), "list of map of string");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// `bool`.
    Bool,
    /// `number`: arbitrary precision decimal.
    Number,
    /// `string`: Unicode text (NFC-normalised).
    String,
    /// `any` (`cty.DynamicPseudoType`): the type is decided by the value.
    Dynamic,
    /// `list(T)`.
    List(Box<Type>),
    /// `set(T)`.
    Set(Box<Type>),
    /// `map(T)`: string keys.
    Map(Box<Type>),
    /// `tuple([T, ...])`.
    Tuple(Vec<Type>),
    /// `object({name = T, ...})`.
    Object(BTreeMap<String, Type>),
}

impl Type {
    /// `list(element)`.
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }

    /// `set(element)`.
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }

    /// `map(element)`.
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }

    /// `object({...})` from `(name, type)` pairs.
    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Type)>) -> Type {
        Type::Object(attrs.into_iter().map(|(k, t)| (k.into(), t)).collect())
    }

    /// The element type of a list, set or map.
    pub fn element_type(&self) -> Option<&Type> {
        match self {
            Type::List(t) | Type::Set(t) | Type::Map(t) => Some(t),
            _ => None,
        }
    }

    /// True if `any` appears anywhere in this type.
    pub fn has_dynamic(&self) -> bool {
        match self {
            Type::Dynamic => true,
            Type::Bool | Type::Number | Type::String => false,
            Type::List(t) | Type::Set(t) | Type::Map(t) => t.has_dynamic(),
            Type::Tuple(ts) => ts.iter().any(Type::has_dynamic),
            Type::Object(ts) => ts.values().any(Type::has_dynamic),
        }
    }

    /// True if a value of type `self` may be used where `target` is
    /// expected without conversion (`any` in `target` matches anything),
    /// like go-cty's `TestConformance`.
    pub fn conforms_to(&self, target: &Type) -> bool {
        match (self, target) {
            (_, Type::Dynamic) => true,
            (Type::List(a), Type::List(b))
            | (Type::Set(a), Type::Set(b))
            | (Type::Map(a), Type::Map(b)) => a.conforms_to(b),
            (Type::Tuple(a), Type::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.conforms_to(y))
            }
            (Type::Object(a), Type::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, ta), (kb, tb))| ka == kb && ta.conforms_to(tb))
            }
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Type {
    /// go-cty's "friendly name" (`list of string`, `object`, ...).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(t) => write!(f, "list of {t}"),
            Type::Set(t) => write!(f, "set of {t}"),
            Type::Map(t) => write!(f, "map of {t}"),
            Type::Tuple(_) => f.write_str("tuple"),
            Type::Object(_) => f.write_str("object"),
        }
    }
}

/// A go-cty value.
///
/// Collections carry their element type so that empty and null values keep
/// it, exactly as go-cty does. Build them with the constructors, which keep
/// strings NFC-normalised and sets in go-cty's order.
///
/// ```
/// use nomad_plugin_sdk::config::cty::{Type, Value};
/// let v = Value::object([
///     ("image", Value::string("redis:7")),
///     ("ports", Value::set(Type::Number, [Value::from(6380), Value::from(6379)])),
///     ("labels", Value::null(Type::map(Type::String))),
/// ]);
/// assert_eq!(
///     v.ty(),
///     Type::object([
///         ("image", Type::String),
///         ("labels", Type::map(Type::String)),
///         ("ports", Type::set(Type::Number)),
///     ])
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A null value of the given type.
    Null(Type),
    /// A value not known yet (HCL evaluation with unknown variables).
    Unknown(Type),
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// A list.
    List {
        /// The element type.
        element_type: Type,
        /// The elements, each of `element_type`.
        elements: Vec<Value>,
    },
    /// A set; elements are unique and kept in go-cty's iteration order.
    Set {
        /// The element type.
        element_type: Type,
        /// The elements.
        elements: Vec<Value>,
    },
    /// A map with string keys (iterated in byte order of the keys).
    Map {
        /// The element type.
        element_type: Type,
        /// The entries.
        entries: BTreeMap<String, Value>,
    },
    /// A tuple.
    Tuple(Vec<Value>),
    /// An object: every attribute of its type is present.
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// A null value of type `ty`.
    pub fn null(ty: Type) -> Value {
        Value::Null(ty)
    }

    /// A string value (NFC-normalised, as `cty.StringVal` does).
    pub fn string(s: impl AsRef<str>) -> Value {
        Value::String(normalize(s.as_ref()))
    }

    /// A number value.
    pub fn number(n: impl Into<Number>) -> Value {
        Value::Number(n.into())
    }

    /// A list; the caller promises every element has type `element_type`.
    pub fn list(element_type: Type, elements: impl IntoIterator<Item = Value>) -> Value {
        Value::List {
            element_type,
            elements: elements.into_iter().collect(),
        }
    }

    /// A set: duplicates are removed and elements sorted in go-cty's order.
    pub fn set(element_type: Type, elements: impl IntoIterator<Item = Value>) -> Value {
        let elements = set_order::canonical_set(elements.into_iter().collect());
        Value::Set {
            element_type,
            elements,
        }
    }

    /// A map.
    pub fn map<K: AsRef<str>>(
        element_type: Type,
        entries: impl IntoIterator<Item = (K, Value)>,
    ) -> Value {
        Value::Map {
            element_type,
            entries: entries
                .into_iter()
                .map(|(k, v)| (normalize(k.as_ref()), v))
                .collect(),
        }
    }

    /// A tuple.
    pub fn tuple(elements: impl IntoIterator<Item = Value>) -> Value {
        Value::Tuple(elements.into_iter().collect())
    }

    /// An object.
    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The value's own type (go-cty `val.Type()`).
    pub fn ty(&self) -> Type {
        match self {
            Value::Null(t) | Value::Unknown(t) => t.clone(),
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List { element_type, .. } => Type::list(element_type.clone()),
            Value::Set { element_type, .. } => Type::set(element_type.clone()),
            Value::Map { element_type, .. } => Type::map(element_type.clone()),
            Value::Tuple(es) => Type::Tuple(es.iter().map(Value::ty).collect()),
            Value::Object(attrs) => {
                Type::Object(attrs.iter().map(|(k, v)| (k.clone(), v.ty())).collect())
            }
        }
    }

    /// True for a null value.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }

    /// True unless the value is unknown (nested unknowns are not checked).
    pub fn is_known(&self) -> bool {
        !matches!(self, Value::Unknown(_))
    }

    /// True if the value and everything inside it is known.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown(_) => false,
            Value::List { elements, .. } | Value::Set { elements, .. } | Value::Tuple(elements) => {
                elements.iter().all(Value::is_wholly_known)
            }
            Value::Map { entries, .. } | Value::Object(entries) => {
                entries.values().all(Value::is_wholly_known)
            }
            _ => true,
        }
    }

    /// A short description for error messages: `string "abc"`, `number 5`,
    /// `null`, `list with 2 elements`, ...
    pub fn describe(&self) -> String {
        match self {
            Value::Null(_) => "null".into(),
            Value::Unknown(t) => format!("an unknown {t}"),
            Value::Bool(b) => format!("bool {b}"),
            Value::Number(n) => format!("number {n}"),
            Value::String(s) if s.chars().count() > 40 => {
                let short: String = s.chars().take(40).collect();
                format!("string {short:?}...")
            }
            Value::String(s) => format!("string {s:?}"),
            Value::List { elements, .. } => format!("list with {} elements", elements.len()),
            Value::Set { elements, .. } => format!("set with {} elements", elements.len()),
            Value::Tuple(elements) => format!("tuple with {} elements", elements.len()),
            Value::Map { entries, .. } => format!("map with {} entries", entries.len()),
            Value::Object(_) => "object".into(),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::string(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::string(s)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

macro_rules! value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Number(Number::from(v))
            }
        }
    )*};
}
value_from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

pub(crate) fn normalize(s: &str) -> String {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => s.to_string(),
        _ => s.nfc().collect(),
    }
}
