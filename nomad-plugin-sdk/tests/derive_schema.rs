//! The derive produces the schema a hand-written builder would.
// The structs exist for their schemas; serde never fills them here.
#![allow(dead_code)]
use std::collections::{BTreeMap, HashMap};

use nomad_plugin_sdk::config::schema::{self, attr, block, block_list, block_map, ConfigSchema};

#[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct Mount {
    #[nomad(required)]
    source: String,
    #[nomad(default = false)]
    readonly: bool,
}

#[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct Logging {
    driver: Option<String>,
}

#[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
#[serde(rename_all = "snake_case")]
struct Config {
    /// Doc comments stay in rustdoc only.
    #[nomad(required)]
    image: String,
    #[nomad(default = "bash")]
    shell: String,
    #[serde(default)]
    args: Vec<String>,
    labels: Option<HashMap<String, String>>,
    #[serde(rename = "cpu_hard_limit")]
    hard: Option<bool>,
    #[nomad(min = 1, max = 4)]
    mount: Vec<Mount>,
    logging: Option<Logging>,
    volume: BTreeMap<String, Logging>,
    #[nomad(type = "list(map(string))")]
    devices: Vec<HashMap<String, String>>,
    #[serde(skip)]
    _internal: u8,
}

#[test]
fn derive_matches_builder() {
    let want = schema::object([
        ("image", attr("string").required().into()),
        ("shell", attr("string").with_default("\"bash\"")),
        ("args", attr("list(string)").into()),
        ("labels", attr("map(string)").into()),
        ("cpu_hard_limit", attr("bool").into()),
        (
            "mount",
            block_list(schema::object([
                ("source", attr("string").required().into()),
                ("readonly", attr("bool").with_default("false")),
            ]))
            .min(1)
            .max(4)
            .into(),
        ),
        (
            "logging",
            block(schema::object([("driver", attr("string").into())])).into(),
        ),
        (
            "volume",
            block_map(
                ["name"],
                schema::object([("driver", attr("string").into())]),
            )
            .into(),
        ),
        ("devices", attr("list(map(string))").into()),
    ]);
    assert_eq!(Config::schema(), want);
    Config::schema().validate().expect("valid");
}
