//! Entry points of the testkit's fuzz targets: the HCL front end a host uses
//! to turn job and agent HCL into go-cty msgpack, and the parsers of what a
//! plugin prints (the go-plugin handshake line, hclog JSON on stderr).
//!
//! The same file is compiled into the testkit's stable test suite
//! (`nomad-plugin-testkit/tests/corpus.rs`), which replays every corpus file.
#![allow(dead_code)]

#[path = "../../../nomad-plugin-sdk/fuzz/src/stable.rs"]
pub mod stable;

use nomad_plugin_sdk::config::schema::{self, attr, block, block_list, block_map, Spec};
use nomad_plugin_testkit::hcl::{decode_config, encode_config};
use nomad_plugin_testkit::launch::{parse_handshake, parse_stderr_line, HostProtocol};

/// A schema with every kind of node the HCL front end evaluates.
pub fn rich_spec() -> Spec {
    schema::object([
        ("image", attr("string").required().into()),
        ("shell", attr("string").with_default("\"bash\"")),
        ("args", attr("list(string)").into()),
        ("labels", attr("map(string)").into()),
        ("port", attr("number").into()),
        ("flag", attr("bool").into()),
        ("anything", attr("any").into()),
        ("pair", attr("tuple([string, number])").into()),
        ("obj", attr("object({a = string, b = list(number)})").into()),
        (
            "mount",
            block_list(schema::object([
                ("source", attr("string").required().into()),
                ("readonly", attr("bool").with_default("false")),
            ]))
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
    ])
}

/// HCL source (any bytes, lossily read as UTF-8 as a host reading a file
/// would refuse or replace them) decoded and encoded against [`rich_spec`].
pub fn hcl_decode(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    let spec = rich_spec();
    let _ = decode_config(&src, &spec);
    if let Ok(bytes) = encode_config(&src, &spec) {
        let back = nomad_plugin_sdk::config::msgpack::decode_untyped(&bytes);
        assert!(
            back.is_ok(),
            "encode_config produced undecodable msgpack: {back:?}"
        );
    }
}

/// A handshake line as read from a plugin's stdout, against the hosts Nomad
/// and the autoscaler are (with and without broker multiplexing).
pub fn handshake(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    for host in [
        HostProtocol {
            versions: vec![2],
            multiplex: false,
        },
        HostProtocol {
            versions: vec![1, 2, 3],
            multiplex: true,
        },
    ] {
        let _ = parse_handshake(&line, &host);
    }
}

/// One stderr line of a plugin, JSON hclog or anything else.
pub fn hclog(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    let _ = parse_stderr_line(&line);
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// The targets by name, for the corpus replay and the stable fallback.
pub const TARGETS: &[(&str, Target)] = &[
    ("hcl_decode", hcl_decode),
    ("handshake", handshake),
    ("hclog", hclog),
];
