//! go-cty's msgpack encoding, both ways.
//!
//! This is the encoding Nomad uses for `SetConfigRequest.msgpack_config` and
//! `TaskConfig.msgpack_driver_config` (`cty/msgpack.Marshal(val, val.Type())`
//! in zclconf/go-cty v1.19.0). [`encode`] writes the same bytes as go-cty;
//! [`decode`] reads them back as go-cty's `Unmarshal` does, and
//! [`decode_untyped`] reads what Nomad sends without knowing the type.
//!
//! Framing (markers, lengths) is written and read with the `rmp` crate;
//! this module only decides *what* to write, following go-cty:
//!
//! | value | msgpack |
//! |---|---|
//! | null | nil |
//! | unknown | ext type 0, one zero byte (`d4 00 00`) |
//! | integral number that fits `i64` | smallest int encoding |
//! | non-integral number exactly representable as `f64` | float64 |
//! | ±infinity | float64 |
//! | any other number | its decimal text as a string (`"0.1"`) |
//! | list, set, tuple | array (sets in go-cty's order) |
//! | map, object | map; object attributes sorted by name, all present |
//! | value of a concrete type where `any` is expected | `[bin(type JSON), value]` |
//!
//! ```
//! use nomad_plugin_sdk::config::cty::Value;
//! use nomad_plugin_sdk::config::msgpack;
//! let v = Value::object([("n", Value::number("0.1".parse::<nomad_plugin_sdk::config::cty::Number>().unwrap()))]);
//! let bytes = msgpack::to_msgpack(&v).unwrap();
//! assert_eq!(bytes, b"\x81\xa1n\xa30.1");
//! assert_eq!(msgpack::decode(&bytes, &v.ty()).unwrap(), v);
//! ```

mod decode;
mod encode;

pub use decode::{decode, decode_untyped};
pub use encode::{encode, to_msgpack};
