//! Entry points of the SDK's fuzz targets.
//!
//! Each function feeds arbitrary bytes to one decoder of peer input and
//! returns normally whatever the bytes are: an `Err` is the expected answer
//! to garbage, a panic is a bug. The same file is compiled into the SDK's
//! stable test suite (`nomad-plugin-sdk/tests/corpus.rs`), which replays
//! every corpus file, so a crash fixed once stays fixed without nightly.
#![allow(dead_code)]

#[path = "stable.rs"]
pub mod stable;

#[cfg(feature = "fuzzing")]
#[path = "csi.rs"]
mod csi;
#[cfg(feature = "fuzzing")]
pub use csi::csi_request;

use std::collections::BTreeMap;
use std::path::PathBuf;

use nomad_plugin_sdk::config::schema::ConfigSchema;
use nomad_plugin_sdk::config::{self, cty, msgpack};
use nomad_plugin_sdk::host::schema;
use prost::Message;
use serde::{Deserialize, Serialize};

/// A config using every shape the derive supports: attributes of each
/// primitive, collections, optional and required fields, nested blocks,
/// block lists with bounds and labelled block maps.
#[derive(Debug, Deserialize, nomad_plugin_sdk::ConfigSchema)]
pub struct Rich {
    #[nomad(required)]
    pub image: String,
    #[nomad(default = "bash")]
    pub shell: String,
    #[serde(default)]
    pub args: Vec<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub cpu_hard_limit: Option<bool>,
    pub port: Option<u16>,
    pub weight: Option<i64>,
    pub ratio: Option<f64>,
    #[nomad(min = 0, max = 4)]
    #[serde(default)]
    pub mount: Vec<Mount>,
    pub logging: Option<Logging>,
    #[serde(default)]
    pub volume: BTreeMap<String, Logging>,
    #[nomad(type = "list(map(string))")]
    #[serde(default)]
    pub devices: Vec<BTreeMap<String, String>>,
}

/// A nested block of [`Rich`].
#[derive(Debug, Deserialize, nomad_plugin_sdk::ConfigSchema)]
pub struct Mount {
    #[nomad(required)]
    pub source: String,
    #[nomad(default = false)]
    pub readonly: bool,
}

/// A nested block of [`Rich`].
#[derive(Debug, Deserialize, nomad_plugin_sdk::ConfigSchema)]
pub struct Logging {
    pub driver: Option<String>,
}

/// The reference driver's task config, field for field (rsexec is a binary,
/// so its type cannot be imported).
#[derive(Debug, Deserialize, nomad_plugin_sdk::ConfigSchema)]
pub struct RsExecTask {
    #[nomad(required)]
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The reference driver's driver state, field for field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RsExecState {
    pub dir: PathBuf,
    pub supervisor: (i32, u64),
    pub task: (i32, u64),
    pub started_at_ms: u64,
}

/// go-cty msgpack, as Nomad sends `msgpack_driver_config`: decoded untyped
/// (what `from_msgpack` does), typed against the derived schema's implied
/// type, and deserialized into the derived struct. A value that decodes is
/// re-encoded and must decode again to the same value.
pub fn cty_msgpack(data: &[u8]) {
    if let Ok(value) = msgpack::decode_untyped(data) {
        let _ = config::from_value::<Rich>(&value);
    }
    let _ = config::from_msgpack::<Rich>(data);
    if let Ok(ty) = Rich::schema().implied_type() {
        if let Ok(value) = msgpack::decode(data, &ty) {
            let _ = config::from_value::<Rich>(&value);
            if let Ok(again) = msgpack::encode(&value, &ty) {
                let back = msgpack::decode(&again, &ty);
                assert!(back.is_ok(), "re-encoded value does not decode: {back:?}");
            }
        }
    }
    for ty in [cty::Type::String, cty::Type::Number, cty::Type::Dynamic] {
        let _ = msgpack::decode(data, &ty);
    }
}

/// An `hclspec.Spec` protobuf, as a host reads it from `ConfigSchema`:
/// converted to a [`Spec`](nomad_plugin_sdk::config::schema::Spec), checked, its implied type computed, and
/// converted back.
pub fn hclspec_proto(data: &[u8]) {
    let Ok(pb) = nomad_plugin_proto::nomad::hclspec::Spec::decode(data) else {
        return;
    };
    let Ok(spec) = schema::from_proto(&pb) else {
        return;
    };
    let _ = spec.validate();
    let _ = spec.implied_type();
    let back = schema::from_proto(&schema::to_proto(&spec));
    assert!(
        back.is_ok(),
        "a converted spec does not convert back: {back:?}"
    );
}

/// The JSON driver state Nomad hands back in `RecoverTask` (the SDK decodes
/// it with serde_json into the driver's `State`).
pub fn driver_state(data: &[u8]) {
    if let Ok(state) = serde_json::from_slice::<RsExecState>(data) {
        let again = serde_json::to_vec(&state).expect("a decoded state encodes");
        let back: RsExecState = serde_json::from_slice(&again).expect("round trip");
        assert_eq!(back, state);
    }
    let _ = serde_json::from_slice::<serde_json::Value>(data);
}

/// `msgpack_driver_config` of `StartTask`/`RecoverTask`, decoded into the
/// reference driver's task config as the driver adapter does.
pub fn task_config(data: &[u8]) {
    let _ = config::from_msgpack::<RsExecTask>(data);
    if let Ok(ty) = RsExecTask::schema().implied_type() {
        let _ = config::from_msgpack_typed::<RsExecTask>(data, &ty);
    }
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// The targets by name, for the corpus replay and the stable fallback.
pub const TARGETS: &[(&str, Target)] = &[
    ("cty_msgpack", cty_msgpack),
    ("hclspec_proto", hclspec_proto),
    ("driver_state", driver_state),
    ("task_config", task_config),
    #[cfg(feature = "fuzzing")]
    ("csi_request", csi_request),
];
