//! Plugin configuration: schemas, go-cty values and their msgpack encoding.
//!
//! Nomad never sends HCL to a plugin. It asks the plugin for a schema (an
//! *hclspec*), decodes the operator's `config { ... }` block with it into a
//! go-cty value, and sends that value as go-cty msgpack. With this module a
//! plugin describes its config as a plain serde struct and gets that struct
//! back:
//!
//! ```
//! use nomad_plugin_sdk::config::{self, cty::Value, schema::ConfigSchema};
//! use serde::Deserialize;
//!
//! /// Configuration of the `redis` task driver.
//! #[derive(Deserialize, nomad_plugin_sdk::ConfigSchema, Debug)]
//! struct TaskConfig {
//!     /// The image to run.
//!     #[nomad(required)]
//!     image: String,
//!     /// Extra arguments.
//!     #[serde(default)]
//!     args: Vec<String>,
//!     #[nomad(default = 6379)]
//!     port: u16,
//! }
//!
//! // What Nomad would send for `config { image = "redis:7" }`:
//! let sent = Value::object([
//!     ("image", Value::string("redis:7")),
//!     ("args", Value::null(config::cty::Type::list(config::cty::Type::String))),
//!     ("port", Value::from(6379)),
//! ]);
//! let bytes = config::msgpack::to_msgpack(&sent).unwrap();
//! let cfg: TaskConfig = config::from_msgpack(&bytes).unwrap();
//! assert_eq!(cfg.image, "redis:7");
//! assert!(cfg.args.is_empty());
//! assert_eq!(cfg.port, 6379);
//! # let _ = TaskConfig::schema();
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`schema`] | the hclspec model, a builder, and the [`ConfigSchema`](schema::ConfigSchema) trait |
//! | [`cty`] | go-cty types and values |
//! | [`msgpack`] | go-cty's msgpack encoding, byte for byte |
//! | [`from_value`], [`from_msgpack`] | values into serde types, with errors that name the field |

pub mod cty;
mod de;
mod error;
pub mod msgpack;
mod path;
pub mod schema;

pub use de::{from_value, ValueDeserializer};
pub use error::Error;
pub use path::{Path, Step};

use serde::de::DeserializeOwned;

/// Decodes the msgpack config Nomad sent (`SetConfigRequest.msgpack_config`
/// or `TaskConfig.msgpack_driver_config`) into `T`.
///
/// The bytes are read without a type (see [`msgpack::decode_untyped`]), which
/// accepts everything Nomad can send for any schema. Empty bytes (no config
/// block at all) decode as an empty object, so a struct whose fields are all
/// optional or defaulted still decodes.
pub fn from_msgpack<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let value = if bytes.is_empty() {
        cty::Value::Object(Default::default())
    } else {
        msgpack::decode_untyped(bytes)?
    };
    from_value(&value)
}

/// Decodes go-cty msgpack of a known type (as go-cty's `Unmarshal` would)
/// and then into `T`.
pub fn from_msgpack_typed<T: DeserializeOwned>(bytes: &[u8], ty: &cty::Type) -> Result<T, Error> {
    let value = msgpack::decode(bytes, ty)?;
    from_value(&value)
}
