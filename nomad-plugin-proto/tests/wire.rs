//! Wire pinning for `nomad-plugin-proto`.
//!
//! Everything expected in this file was transcribed by hand from the upstream
//! `.proto` files (not from this crate's copies), so that a typo in our copies
//! shows up here as a failure:
//!
//! * hashicorp/go-plugin, tag v1.8.0, `internal/plugin/*.proto`
//! * hashicorp/nomad, `plugins/{base,drivers,device}/proto/*.proto`,
//!   `plugins/shared/hclspec/hcl_spec.proto`,
//!   `plugins/shared/structs/proto/*.proto`
//! * container-storage-interface/spec, tag v1.12.0, `csi.proto`
//! * hashicorp/nomad-autoscaler, `plugins/{base,apm,strategy,target,shared}/proto/v1/*.proto`
//!
//! Three kinds of checks:
//!
//! 1. `service_methods_match_upstream`: every rpc of every service (full gRPC
//!    path, request and response type, streaming flags) against the
//!    descriptor set the crate embeds.
//! 2. Byte tests: a message is built in Rust, encoded with prost, and compared
//!    with bytes worked out by hand from the upstream field numbers and wire
//!    types (a tag byte is `(field_number << 3) | wire_type`, wire types being
//!    0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit). The
//!    expected bytes are also decoded back and compared with the value, so
//!    the decoder is pinned too.
//! 3. Enum tests: the numeric value of each enum variant against upstream.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use nomad_plugin_proto::prost::Message;
use nomad_plugin_proto::prost_types;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// One rpc as upstream declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rpc {
    /// gRPC path: `/<package>.<Service>/<Method>`.
    path: &'static str,
    /// Fully qualified request message name, without the leading dot.
    input: &'static str,
    /// Fully qualified response message name, without the leading dot.
    output: &'static str,
    client_streaming: bool,
    server_streaming: bool,
}

const fn rpc(
    path: &'static str,
    input: &'static str,
    output: &'static str,
    client_streaming: bool,
    server_streaming: bool,
) -> Rpc {
    Rpc {
        path,
        input,
        output,
        client_streaming,
        server_streaming,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Concatenates byte pieces; lets the expectations mix tag bytes and ASCII.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Encodes `msg` and compares it with `expected`; then decodes `expected` and
/// compares it with `msg`.
fn assert_wire<M>(what: &str, msg: &M, expected: &[u8])
where
    M: Message + Default + PartialEq + Debug,
{
    let got = msg.encode_to_vec();
    assert!(
        got == expected,
        "{what}: encoding differs from upstream\n  expected: {}\n  got:      {}\n  value: {msg:?}",
        hex(expected),
        hex(&got),
    );
    let back = M::decode(expected).unwrap_or_else(|e| panic!("{what}: cannot decode: {e}"));
    assert!(
        &back == msg,
        "{what}: decoding the upstream bytes gives a different value\n  expected: {msg:?}\n  got:      {back:?}",
    );
}

fn map1(k: &str, v: &str) -> std::collections::HashMap<String, String> {
    std::iter::once((k.to_string(), v.to_string())).collect()
}

fn ts(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos })
}

fn dur(seconds: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos: 0 })
}

// Little-endian IEEE-754 doubles used below.
const F64_0_5: [u8; 8] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x3f];
const F64_1_0: [u8; 8] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f];
const F64_1_5: [u8; 8] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f];
const F64_2_0: [u8; 8] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40];
/// -1 as an int32/int64 varint (ten bytes, not zigzag).
const VARINT_MINUS_1: [u8; 10] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];

// ---------------------------------------------------------------------------
// 1. Service methods
// ---------------------------------------------------------------------------

#[test]
fn service_methods_match_upstream() {
    let fds = <prost_types::FileDescriptorSet as Message>::decode(
        nomad_plugin_proto::FILE_DESCRIPTOR_SET,
    )
    .expect("FILE_DESCRIPTOR_SET decodes");

    let mut ours: BTreeMap<String, Rpc> = BTreeMap::new();
    let mut dupes = Vec::new();
    for file in &fds.file {
        let package = file.package();
        if package == "google"
            || package.starts_with("google.")
            || file.name().starts_with("google/")
        {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                let path = format!("/{package}.{}/{}", service.name(), method.name());
                let entry = Rpc {
                    path: "",
                    input: leak(method.input_type().trim_start_matches('.')),
                    output: leak(method.output_type().trim_start_matches('.')),
                    client_streaming: method.client_streaming(),
                    server_streaming: method.server_streaming(),
                };
                if ours.insert(path.clone(), entry).is_some() {
                    dupes.push(path);
                }
            }
        }
    }

    let upstream: Vec<&Rpc> = go_plugin::METHODS
        .iter()
        .chain(nomad::METHODS)
        .chain(csi::METHODS)
        .chain(autoscaler::METHODS)
        .collect();
    let mut table: BTreeMap<&str, &Rpc> = BTreeMap::new();
    for r in &upstream {
        assert!(
            table.insert(r.path, r).is_none(),
            "table lists {} twice",
            r.path
        );
    }

    let ours_paths: BTreeSet<&str> = ours.keys().map(String::as_str).collect();
    let table_paths: BTreeSet<&str> = table.keys().copied().collect();
    let missing: Vec<&str> = table_paths.difference(&ours_paths).copied().collect();
    let extra: Vec<&str> = ours_paths.difference(&table_paths).copied().collect();

    let mut problems = Vec::new();
    for p in &dupes {
        problems.push(format!("declared twice in our descriptor set: {p}"));
    }
    for p in &missing {
        problems.push(format!(
            "missing from our .proto files (upstream has it): {p}"
        ));
    }
    for p in &extra {
        problems.push(format!(
            "extra in our .proto files (upstream lacks it): {p}"
        ));
    }
    for (path, want) in &table {
        let Some(got) = ours.get(*path) else { continue };
        if got.input != want.input {
            problems.push(format!(
                "{path}: request type is {}, upstream {}",
                got.input, want.input
            ));
        }
        if got.output != want.output {
            problems.push(format!(
                "{path}: response type is {}, upstream {}",
                got.output, want.output
            ));
        }
        if got.client_streaming != want.client_streaming {
            problems.push(format!(
                "{path}: client_streaming is {}, upstream {}",
                got.client_streaming, want.client_streaming
            ));
        }
        if got.server_streaming != want.server_streaming {
            problems.push(format!(
                "{path}: server_streaming is {}, upstream {}",
                got.server_streaming, want.server_streaming
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) between our services and upstream ({} methods in the table, {} in ours):\n  {}",
        problems.len(),
        table.len(),
        ours.len(),
        problems.join("\n  ")
    );
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

// ---------------------------------------------------------------------------
// hashicorp/go-plugin v1.8.0, internal/plugin/
// ---------------------------------------------------------------------------

#[rustfmt::skip]
mod go_plugin {
    use super::*;
    use nomad_plugin_proto::go_plugin as pb;

    /// grpc_controller.proto, grpc_stdio.proto and grpc_broker.proto, package
    /// `plugin`.
    pub(crate) const METHODS: &[Rpc] = &[
        // grpc_controller.proto: GRPCController
        rpc(
            "/plugin.GRPCController/Shutdown",
            "plugin.Empty",
            "plugin.Empty",
            false,
            false,
        ),
        // grpc_stdio.proto: GRPCStdio (request is the well-known Empty)
        rpc(
            "/plugin.GRPCStdio/StreamStdio",
            "google.protobuf.Empty",
            "plugin.StdioData",
            false,
            true,
        ),
        // grpc_broker.proto: GRPCBroker (bidirectional)
        rpc(
            "/plugin.GRPCBroker/StartStream",
            "plugin.ConnInfo",
            "plugin.ConnInfo",
            true,
            true,
        ),
    ];

    // grpc_stdio.proto: StdioData { Channel channel = 1; bytes data = 2; }
    #[test]
    fn stdio_data() {
        let msg = pb::StdioData {
            channel: pb::stdio_data::Channel::Stderr as i32,
            data: b"hi".to_vec(),
        };
        let expected = cat(&[
            &[0x08, 0x02],        // field 1 (channel), varint, STDERR = 2
            &[0x12, 0x02], b"hi", // field 2 (data), length-delimited
        ]);
        assert_wire("plugin.StdioData", &msg, &expected);
    }

    // grpc_broker.proto: ConnInfo { uint32 service_id = 1; string network = 2;
    // string address = 3; Knock knock = 4; } with
    // Knock { bool knock = 1; bool ack = 2; string error = 3; }
    #[test]
    fn conn_info_with_knock() {
        let msg = pb::ConnInfo {
            service_id: 7,
            network: "tcp".into(),
            address: "a:1".into(),
            knock: Some(pb::conn_info::Knock {
                knock: true,
                ack: true,
                error: "e".into(),
            }),
        };
        let expected = cat(&[
            &[0x08, 0x07],         // field 1 (service_id), varint
            &[0x12, 0x03], b"tcp", // field 2 (network), length-delimited
            &[0x1a, 0x03], b"a:1", // field 3 (address), length-delimited
            &[0x22, 0x07],         // field 4 (knock), length-delimited, 7 bytes
            &[0x08, 0x01],         //   field 1 (knock), varint
            &[0x10, 0x01],         //   field 2 (ack), varint
            &[0x1a, 0x01], b"e",   //   field 3 (error), length-delimited
        ]);
        assert_wire("plugin.ConnInfo", &msg, &expected);
    }

    #[test]
    fn enums() {
        use pb::stdio_data::Channel;
        assert_eq!(Channel::Invalid as i32, 0);
        assert_eq!(Channel::Stdout as i32, 1);
        assert_eq!(Channel::Stderr as i32, 2);
    }
}

// ---------------------------------------------------------------------------
// hashicorp/nomad, plugins/
// ---------------------------------------------------------------------------

#[rustfmt::skip]
mod nomad {
    use super::*;
    use nomad_plugin_proto::nomad::{base, device, drivers, hclspec, structs};

    pub(crate) const METHODS: &[Rpc] = &[
        // plugins/base/proto/base.proto: BasePlugin
        rpc(
            "/hashicorp.nomad.plugins.base.proto.BasePlugin/PluginInfo",
            "hashicorp.nomad.plugins.base.proto.PluginInfoRequest",
            "hashicorp.nomad.plugins.base.proto.PluginInfoResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.base.proto.BasePlugin/ConfigSchema",
            "hashicorp.nomad.plugins.base.proto.ConfigSchemaRequest",
            "hashicorp.nomad.plugins.base.proto.ConfigSchemaResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.base.proto.BasePlugin/SetConfig",
            "hashicorp.nomad.plugins.base.proto.SetConfigRequest",
            "hashicorp.nomad.plugins.base.proto.SetConfigResponse",
            false,
            false,
        ),
        // plugins/drivers/proto/driver.proto: Driver
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/Init",
            "hashicorp.nomad.plugins.drivers.proto.InitRequest",
            "hashicorp.nomad.plugins.drivers.proto.InitResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/TaskConfigSchema",
            "hashicorp.nomad.plugins.drivers.proto.TaskConfigSchemaRequest",
            "hashicorp.nomad.plugins.drivers.proto.TaskConfigSchemaResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/Capabilities",
            "hashicorp.nomad.plugins.drivers.proto.CapabilitiesRequest",
            "hashicorp.nomad.plugins.drivers.proto.CapabilitiesResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/Fingerprint",
            "hashicorp.nomad.plugins.drivers.proto.FingerprintRequest",
            "hashicorp.nomad.plugins.drivers.proto.FingerprintResponse",
            false,
            true,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/RecoverTask",
            "hashicorp.nomad.plugins.drivers.proto.RecoverTaskRequest",
            "hashicorp.nomad.plugins.drivers.proto.RecoverTaskResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/StartTask",
            "hashicorp.nomad.plugins.drivers.proto.StartTaskRequest",
            "hashicorp.nomad.plugins.drivers.proto.StartTaskResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/WaitTask",
            "hashicorp.nomad.plugins.drivers.proto.WaitTaskRequest",
            "hashicorp.nomad.plugins.drivers.proto.WaitTaskResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/StopTask",
            "hashicorp.nomad.plugins.drivers.proto.StopTaskRequest",
            "hashicorp.nomad.plugins.drivers.proto.StopTaskResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/DestroyTask",
            "hashicorp.nomad.plugins.drivers.proto.DestroyTaskRequest",
            "hashicorp.nomad.plugins.drivers.proto.DestroyTaskResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/InspectTask",
            "hashicorp.nomad.plugins.drivers.proto.InspectTaskRequest",
            "hashicorp.nomad.plugins.drivers.proto.InspectTaskResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/TaskStats",
            "hashicorp.nomad.plugins.drivers.proto.TaskStatsRequest",
            "hashicorp.nomad.plugins.drivers.proto.TaskStatsResponse",
            false,
            true,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/TaskEvents",
            "hashicorp.nomad.plugins.drivers.proto.TaskEventsRequest",
            "hashicorp.nomad.plugins.drivers.proto.DriverTaskEvent",
            false,
            true,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/Shutdown",
            "hashicorp.nomad.plugins.drivers.proto.ShutdownRequest",
            "hashicorp.nomad.plugins.drivers.proto.ShutdownResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/SignalTask",
            "hashicorp.nomad.plugins.drivers.proto.SignalTaskRequest",
            "hashicorp.nomad.plugins.drivers.proto.SignalTaskResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/ExecTask",
            "hashicorp.nomad.plugins.drivers.proto.ExecTaskRequest",
            "hashicorp.nomad.plugins.drivers.proto.ExecTaskResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/ExecTaskStreaming",
            "hashicorp.nomad.plugins.drivers.proto.ExecTaskStreamingRequest",
            "hashicorp.nomad.plugins.drivers.proto.ExecTaskStreamingResponse",
            true,
            true,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/CreateNetwork",
            "hashicorp.nomad.plugins.drivers.proto.CreateNetworkRequest",
            "hashicorp.nomad.plugins.drivers.proto.CreateNetworkResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.drivers.proto.Driver/DestroyNetwork",
            "hashicorp.nomad.plugins.drivers.proto.DestroyNetworkRequest",
            "hashicorp.nomad.plugins.drivers.proto.DestroyNetworkResponse",
            false,
            false,
        ),
        // plugins/device/proto/device.proto: DevicePlugin (package has no
        // trailing `.proto`)
        rpc(
            "/hashicorp.nomad.plugins.device.DevicePlugin/Fingerprint",
            "hashicorp.nomad.plugins.device.FingerprintRequest",
            "hashicorp.nomad.plugins.device.FingerprintResponse",
            false,
            true,
        ),
        rpc(
            "/hashicorp.nomad.plugins.device.DevicePlugin/Reserve",
            "hashicorp.nomad.plugins.device.ReserveRequest",
            "hashicorp.nomad.plugins.device.ReserveResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad.plugins.device.DevicePlugin/Stats",
            "hashicorp.nomad.plugins.device.StatsRequest",
            "hashicorp.nomad.plugins.device.StatsResponse",
            false,
            true,
        ),
    ];

    /// A `Spec` holding `Literal { value: v }`, the smallest non-empty spec.
    fn literal_spec(v: &str) -> hclspec::Spec {
        hclspec::Spec {
            block: Some(hclspec::spec::Block::Literal(hclspec::Literal {
                value: v.into(),
            })),
        }
    }
    /// Encoding of `literal_spec("x")`: field 10 (literal), length-delimited,
    /// holding field 1 (value).
    const LITERAL_X: [u8; 5] = [0x52, 0x03, 0x0a, 0x01, b'x'];
    const LITERAL_Y: [u8; 5] = [0x52, 0x03, 0x0a, 0x01, b'y'];

    // ---- plugins/base/proto/base.proto ----

    mod base_proto {
        use super::*;

        // PluginInfoResponse { PluginType type = 1; repeated string
        // plugin_api_versions = 2; string plugin_version = 3; string name = 4; }
        #[test]
        fn plugin_info_response() {
            let msg = base::PluginInfoResponse {
                r#type: base::PluginType::Driver as i32,
                plugin_api_versions: vec!["0.1.0".into()],
                plugin_version: "1.2".into(),
                name: "x".into(),
            };
            let expected = cat(&[
                &[0x08, 0x02],           // field 1 (type), varint, DRIVER = 2
                &[0x12, 0x05], b"0.1.0", // field 2 (plugin_api_versions), length-delimited
                &[0x1a, 0x03], b"1.2",   // field 3 (plugin_version), length-delimited
                &[0x22, 0x01], b"x",     // field 4 (name), length-delimited
            ]);
            assert_wire("base.PluginInfoResponse", &msg, &expected);
        }

        // SetConfigRequest { bytes msgpack_config = 1; NomadConfig
        // nomad_config = 2; string plugin_api_version = 3; }
        // NomadConfig { NomadDriverConfig driver = 1; }
        // NomadDriverConfig { uint32 ClientMaxPort = 1; uint32 ClientMinPort = 2;
        // ClientTopology Topology = 3; }
        #[test]
        fn set_config_request() {
            let msg = base::SetConfigRequest {
                msgpack_config: vec![0x80],
                nomad_config: Some(base::NomadConfig {
                    driver: Some(base::NomadDriverConfig {
                        client_max_port: 14512,
                        client_min_port: 14000,
                        ..Default::default()
                    }),
                }),
                plugin_api_version: "0.1.0".into(),
            };
            let expected = cat(&[
                &[0x0a, 0x01, 0x80],     // field 1 (msgpack_config), length-delimited
                &[0x12, 0x08],           // field 2 (nomad_config), length-delimited, 8 bytes
                &[0x0a, 0x06],           //   field 1 (driver), length-delimited, 6 bytes
                &[0x08, 0xb0, 0x71],     //     field 1 (ClientMaxPort), varint 14512
                &[0x10, 0xb0, 0x6d],     //     field 2 (ClientMinPort), varint 14000
                &[0x1a, 0x05], b"0.1.0", // field 3 (plugin_api_version), length-delimited
            ]);
            assert_wire("base.SetConfigRequest", &msg, &expected);
        }

        // ClientTopology { repeated uint32 node_ids = 1; ClientTopologySLIT
        // distances = 2; repeated ClientTopologyCore cores = 3; uint64
        // override_total_compute = 4; uint64 override_withold_compute = 5; }
        // ClientTopologySLIT { uint32 dimension = 1; repeated uint32 values = 2 (packed); }
        // ClientTopologyCore { socket_id = 1; node_id = 2; core_id = 3;
        // CoreGrade core_grade = 4; disable = 5; base_speed = 6; max_speed = 7;
        // guess_speed = 8; }
        #[test]
        fn nomad_driver_config_topology() {
            let msg = base::NomadDriverConfig {
                topology: Some(base::ClientTopology {
                    node_ids: vec![0],
                    distances: Some(base::ClientTopologySlit {
                        dimension: 1,
                        values: vec![10],
                    }),
                    cores: vec![base::ClientTopologyCore {
                        core_id: 3,
                        core_grade: base::CoreGrade::Efficiency as i32,
                        ..Default::default()
                    }],
                    override_total_compute: 5,
                    override_withold_compute: 6,
                }),
                ..Default::default()
            };
            let expected: Vec<u8> = vec![
                0x1a, 0x14,       // field 3 (Topology), length-delimited, 20 bytes
                0x0a, 0x01, 0x00, //   field 1 (node_ids), packed, [0]
                0x12, 0x05,       //   field 2 (distances), length-delimited
                0x08, 0x01,       //     field 1 (dimension), varint
                0x12, 0x01, 0x0a, //     field 2 (values), packed, [10]
                0x1a, 0x04,       //   field 3 (cores), length-delimited
                0x18, 0x03,       //     field 3 (core_id), varint
                0x20, 0x01,       //     field 4 (core_grade), varint, Efficiency = 1
                0x20, 0x05,       //   field 4 (override_total_compute), varint
                0x28, 0x06,       //   field 5 (override_withold_compute), varint
            ];
            assert_wire("base.NomadDriverConfig.Topology", &msg, &expected);
        }

        // ClientTopologyCore's remaining fields.
        #[test]
        fn client_topology_core() {
            let msg = base::ClientTopologyCore {
                socket_id: 1,
                node_id: 2,
                core_id: 3,
                core_grade: base::CoreGrade::Performance as i32,
                disable: true,
                base_speed: 4,
                max_speed: 5,
                guess_speed: 6,
            };
            let expected: Vec<u8> = vec![
                0x08, 0x01, // field 1 (socket_id), varint
                0x10, 0x02, // field 2 (node_id), varint
                0x18, 0x03, // field 3 (core_id), varint
                // field 4 (core_grade) is Performance = 0, the default: omitted
                0x28, 0x01, // field 5 (disable), varint
                0x30, 0x04, // field 6 (base_speed), varint
                0x38, 0x05, // field 7 (max_speed), varint
                0x40, 0x06, // field 8 (guess_speed), varint
            ];
            assert_wire("base.ClientTopologyCore", &msg, &expected);
        }

        // ConfigSchemaResponse { hclspec.Spec spec = 1; }
        #[test]
        fn config_schema_response() {
            let msg = base::ConfigSchemaResponse {
                spec: Some(literal_spec("x")),
            };
            let expected = cat(&[
                &[0x0a, 0x05], // field 1 (spec), length-delimited
                &LITERAL_X,    //   field 10 (literal) { field 1 (value) "x" }
            ]);
            assert_wire("base.ConfigSchemaResponse", &msg, &expected);
        }

        #[test]
        fn enums() {
            assert_eq!(base::PluginType::Unknown as i32, 0);
            assert_eq!(base::PluginType::Driver as i32, 2);
            assert_eq!(base::PluginType::Device as i32, 3);
            assert_eq!(base::CoreGrade::Performance as i32, 0);
            assert_eq!(base::CoreGrade::Efficiency as i32, 1);
        }
    }

    // ---- plugins/shared/hclspec/hcl_spec.proto ----
    //
    // Spec has `oneof block { Object object = 1; Array array = 2; Attr Attr = 3;
    // Block block_value = 4; BlockAttrs block_attrs = 5; BlockList block_list = 6;
    // BlockSet block_set = 7; BlockMap block_map = 8; Default default = 9;
    // Literal literal = 10; }`. One test per oneof tag.

    mod hcl_spec {
        use super::hclspec::spec::Block as B;
        use super::*;

        fn spec(b: B) -> hclspec::Spec {
            hclspec::Spec { block: Some(b) }
        }

        // Object { map<string, Spec> attributes = 1; }
        #[test]
        fn spec_object() {
            let msg = spec(B::Object(hclspec::Object {
                attributes: std::iter::once(("a".to_string(), literal_spec("x"))).collect(),
            }));
            let expected = cat(&[
                &[0x0a, 0x0c],       // field 1 (object), length-delimited, 12 bytes
                &[0x0a, 0x0a],       //   field 1 (attributes), map entry, 10 bytes
                &[0x0a, 0x01], b"a", //     key
                &[0x12, 0x05],       //     value (Spec)
                &LITERAL_X,
            ]);
            assert_wire("hclspec.Spec.object", &msg, &expected);
        }

        // Array { repeated Spec values = 1; }
        #[test]
        fn spec_array() {
            let msg = spec(B::Array(hclspec::Array {
                values: vec![literal_spec("x")],
            }));
            let expected = cat(&[
                &[0x12, 0x07], // field 2 (array), length-delimited
                &[0x0a, 0x05], //   field 1 (values), length-delimited
                &LITERAL_X,
            ]);
            assert_wire("hclspec.Spec.array", &msg, &expected);
        }

        // Attr { string name = 1; string type = 2; bool required = 3; }
        #[test]
        fn spec_attr() {
            let msg = spec(B::Attr(hclspec::Attr {
                name: "n".into(),
                r#type: "string".into(),
                required: true,
            }));
            let expected = cat(&[
                &[0x1a, 0x0d],            // field 3 (Attr), length-delimited, 13 bytes
                &[0x0a, 0x01], b"n",      //   field 1 (name)
                &[0x12, 0x06], b"string", //   field 2 (type)
                &[0x18, 0x01],            //   field 3 (required), varint
            ]);
            assert_wire("hclspec.Spec.Attr", &msg, &expected);
        }

        // Block { string name = 1; bool required = 2; Spec nested = 3; }
        #[test]
        fn spec_block_value() {
            let msg = spec(B::BlockValue(Box::new(hclspec::Block {
                name: "b".into(),
                required: true,
                nested: Some(Box::new(literal_spec("x"))),
            })));
            let expected = cat(&[
                &[0x22, 0x0c],       // field 4 (block_value), length-delimited, 12 bytes
                &[0x0a, 0x01], b"b", //   field 1 (name)
                &[0x10, 0x01],       //   field 2 (required), varint
                &[0x1a, 0x05],       //   field 3 (nested), length-delimited
                &LITERAL_X,
            ]);
            assert_wire("hclspec.Spec.block_value", &msg, &expected);
        }

        // BlockAttrs { string name = 1; string type = 2; bool required = 3; }
        #[test]
        fn spec_block_attrs() {
            let msg = spec(B::BlockAttrs(hclspec::BlockAttrs {
                name: "n".into(),
                r#type: "string".into(),
                required: true,
            }));
            let expected = cat(&[
                &[0x2a, 0x0d],            // field 5 (block_attrs), length-delimited
                &[0x0a, 0x01], b"n",      //   field 1 (name)
                &[0x12, 0x06], b"string", //   field 2 (type)
                &[0x18, 0x01],            //   field 3 (required), varint
            ]);
            assert_wire("hclspec.Spec.block_attrs", &msg, &expected);
        }

        // BlockList { string name = 1; uint64 min_items = 2; uint64 max_items = 3;
        // Spec nested = 4; }
        #[test]
        fn spec_block_list() {
            let msg = spec(B::BlockList(Box::new(hclspec::BlockList {
                name: "l".into(),
                min_items: 1,
                max_items: 2,
                nested: Some(Box::new(literal_spec("x"))),
            })));
            let expected = cat(&[
                &[0x32, 0x0e],       // field 6 (block_list), length-delimited, 14 bytes
                &[0x0a, 0x01], b"l", //   field 1 (name)
                &[0x10, 0x01],       //   field 2 (min_items), varint
                &[0x18, 0x02],       //   field 3 (max_items), varint
                &[0x22, 0x05],       //   field 4 (nested), length-delimited
                &LITERAL_X,
            ]);
            assert_wire("hclspec.Spec.block_list", &msg, &expected);
        }

        // BlockSet: same fields as BlockList.
        #[test]
        fn spec_block_set() {
            let msg = spec(B::BlockSet(Box::new(hclspec::BlockSet {
                name: "s".into(),
                min_items: 1,
                max_items: 2,
                nested: Some(Box::new(literal_spec("x"))),
            })));
            let expected = cat(&[
                &[0x3a, 0x0e],       // field 7 (block_set), length-delimited, 14 bytes
                &[0x0a, 0x01], b"s", //   field 1 (name)
                &[0x10, 0x01],       //   field 2 (min_items), varint
                &[0x18, 0x02],       //   field 3 (max_items), varint
                &[0x22, 0x05],       //   field 4 (nested), length-delimited
                &LITERAL_X,
            ]);
            assert_wire("hclspec.Spec.block_set", &msg, &expected);
        }

        // BlockMap { string name = 1; repeated string labels = 2; Spec nested = 3; }
        #[test]
        fn spec_block_map() {
            let msg = spec(B::BlockMap(Box::new(hclspec::BlockMap {
                name: "m".into(),
                labels: vec!["k".into()],
                nested: Some(Box::new(literal_spec("x"))),
            })));
            let expected = cat(&[
                &[0x42, 0x0d],       // field 8 (block_map), length-delimited, 13 bytes
                &[0x0a, 0x01], b"m", //   field 1 (name)
                &[0x12, 0x01], b"k", //   field 2 (labels)
                &[0x1a, 0x05],       //   field 3 (nested), length-delimited
                &LITERAL_X,
            ]);
            assert_wire("hclspec.Spec.block_map", &msg, &expected);
        }

        // Default { Spec primary = 1; Spec default = 2; }
        #[test]
        fn spec_default() {
            let msg = spec(B::Default(Box::new(hclspec::Default {
                primary: Some(Box::new(literal_spec("x"))),
                default: Some(Box::new(literal_spec("y"))),
            })));
            let expected = cat(&[
                &[0x4a, 0x0e], // field 9 (default), length-delimited, 14 bytes
                &[0x0a, 0x05], //   field 1 (primary), length-delimited
                &LITERAL_X,
                &[0x12, 0x05], //   field 2 (default), length-delimited
                &LITERAL_Y,
            ]);
            assert_wire("hclspec.Spec.default", &msg, &expected);
        }

        // Literal { string value = 1; }
        #[test]
        fn spec_literal() {
            let msg = literal_spec("x");
            let expected = cat(&[
                &[0x52, 0x03],       // field 10 (literal), length-delimited
                &[0x0a, 0x01], b"x", //   field 1 (value)
            ]);
            assert_wire("hclspec.Spec.literal", &msg, &expected);
        }
    }

    // ---- plugins/shared/structs/proto/{attribute,stats,recoverable_error}.proto ----

    mod shared_structs {
        use super::structs::attribute::Value as V;
        use super::*;

        fn attr(v: V) -> structs::Attribute {
            structs::Attribute {
                value: Some(v),
                unit: String::new(),
            }
        }

        // Attribute { oneof value { double float_val = 1; int64 int_val = 2;
        // string string_val = 3; bool bool_val = 4; } string unit = 5; }
        #[test]
        fn attribute_float_val() {
            let expected = cat(&[&[0x09], &F64_1_5]); // field 1 (float_val), 64-bit, 1.5
            assert_wire(
                "structs.Attribute.float_val",
                &attr(V::FloatVal(1.5)),
                &expected,
            );
        }

        #[test]
        fn attribute_int_val() {
            // field 2 (int_val), varint, -1 as int64 (not zigzag)
            let expected = cat(&[&[0x10], &VARINT_MINUS_1]);
            assert_wire("structs.Attribute.int_val", &attr(V::IntVal(-1)), &expected);
        }

        #[test]
        fn attribute_string_val() {
            let expected = cat(&[&[0x1a, 0x01], b"s"]); // field 3 (string_val), length-delimited
            assert_wire(
                "structs.Attribute.string_val",
                &attr(V::StringVal("s".into())),
                &expected,
            );
        }

        #[test]
        fn attribute_bool_val() {
            let expected = [0x20, 0x01]; // field 4 (bool_val), varint
            assert_wire(
                "structs.Attribute.bool_val",
                &attr(V::BoolVal(true)),
                &expected,
            );
        }

        #[test]
        fn attribute_unit() {
            let msg = structs::Attribute {
                value: Some(V::IntVal(42)),
                unit: "MiB".into(),
            };
            let expected = cat(&[
                &[0x10, 0x2a],         // field 2 (int_val), varint 42
                &[0x2a, 0x03], b"MiB", // field 5 (unit), length-delimited
            ]);
            assert_wire("structs.Attribute.unit", &msg, &expected);
        }

        // StatValue { DoubleValue float_numerator_val = 1; DoubleValue
        // float_denominator_val = 2; Int64Value int_numerator_val = 3;
        // Int64Value int_denominator_val = 4; StringValue string_val = 5;
        // BoolValue bool_val = 6; string unit = 7; string desc = 8; }
        // The wrappers are messages whose value is field 1.
        #[test]
        fn stat_value() {
            let msg = structs::StatValue {
                float_numerator_val: Some(1.5),
                float_denominator_val: Some(2.0),
                int_numerator_val: Some(3),
                int_denominator_val: Some(4),
                string_val: Some("s".into()),
                bool_val: Some(true),
                unit: "u".into(),
                desc: "d".into(),
            };
            let expected = cat(&[
                &[0x0a, 0x09, 0x09], &F64_1_5,   // field 1 (float_numerator_val) { field 1, 64-bit }
                &[0x12, 0x09, 0x09], &F64_2_0,   // field 2 (float_denominator_val) { field 1, 64-bit }
                &[0x1a, 0x02, 0x08, 0x03],       // field 3 (int_numerator_val) { field 1, varint }
                &[0x22, 0x02, 0x08, 0x04],       // field 4 (int_denominator_val) { field 1, varint }
                &[0x2a, 0x03, 0x0a, 0x01], b"s", // field 5 (string_val) { field 1, length-delimited }
                &[0x32, 0x02, 0x08, 0x01],       // field 6 (bool_val) { field 1, varint }
                &[0x3a, 0x01], b"u",             // field 7 (unit), length-delimited
                &[0x42, 0x01], b"d",             // field 8 (desc), length-delimited
            ]);
            assert_wire("structs.StatValue", &msg, &expected);
        }

        // StatObject { map<string, StatObject> nested = 1;
        // map<string, StatValue> attributes = 2; }
        #[test]
        fn stat_object() {
            let inner = structs::StatObject {
                attributes: std::iter::once((
                    "x".to_string(),
                    structs::StatValue {
                        unit: "u".into(),
                        ..Default::default()
                    },
                ))
                .collect(),
                ..Default::default()
            };
            let msg = structs::StatObject {
                nested: std::iter::once(("n".to_string(), inner)).collect(),
                ..Default::default()
            };
            let expected = cat(&[
                &[0x0a, 0x0f],       // field 1 (nested), map entry, 15 bytes
                &[0x0a, 0x01], b"n", //   key
                &[0x12, 0x0a],       //   value (StatObject), 10 bytes
                &[0x12, 0x08],       //     field 2 (attributes), map entry
                &[0x0a, 0x01], b"x", //       key
                &[0x12, 0x03],       //       value (StatValue)
                &[0x3a, 0x01], b"u", //         field 7 (unit)
            ]);
            assert_wire("structs.StatObject", &msg, &expected);
        }

        // RecoverableError { bool recoverable = 1; }
        #[test]
        fn recoverable_error() {
            let msg = structs::RecoverableError { recoverable: true };
            assert_wire("structs.RecoverableError", &msg, &[0x08, 0x01]); // field 1, varint
        }
    }

    // ---- plugins/drivers/proto/driver.proto ----

    mod driver_proto {
        use super::drivers as d;
        use super::*;

        fn config_id(id: &str) -> Option<d::TaskConfig> {
            Some(d::TaskConfig {
                id: id.into(),
                ..Default::default()
            })
        }

        // TaskConfig { string id = 1; string name = 2; bytes msgpack_driver_config = 3;
        // map<string,string> env = 4; map<string,string> device_env = 5;
        // Resources resources = 6; repeated Mount mounts = 7; repeated Device
        // devices = 8; string user = 9; string alloc_dir = 10; string stdout_path = 11;
        // string stderr_path = 12; ... }
        // Resources { AllocatedTaskResources allocated_resources = 1; ... }
        // AllocatedTaskResources { AllocatedCpuResources cpu = 1;
        // AllocatedMemoryResources memory = 2; ... }
        // AllocatedCpuResources { int64 cpu_shares = 1; }
        // AllocatedMemoryResources { int64 memory_mb = 2; int64 memory_max_mb = 3; }
        #[test]
        fn task_config() {
            let msg = d::TaskConfig {
                id: "i".into(),
                name: "n".into(),
                msgpack_driver_config: vec![0x80],
                env: map1("K", "V"),
                resources: Some(d::Resources {
                    allocated_resources: Some(d::AllocatedTaskResources {
                        cpu: Some(d::AllocatedCpuResources { cpu_shares: 100 }),
                        memory: Some(d::AllocatedMemoryResources {
                            memory_mb: 256,
                            memory_max_mb: 0,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                user: "u".into(),
                alloc_dir: "/a".into(),
                stdout_path: "/o".into(),
                stderr_path: "/e".into(),
                ..Default::default()
            };
            let expected = cat(&[
                &[0x0a, 0x01], b"i",  // field 1 (id), length-delimited
                &[0x12, 0x01], b"n",  // field 2 (name), length-delimited
                &[0x1a, 0x01, 0x80],  // field 3 (msgpack_driver_config), length-delimited
                &[0x22, 0x06],        // field 4 (env), map entry
                &[0x0a, 0x01], b"K",  //   key
                &[0x12, 0x01], b"V",  //   value
                &[0x32, 0x0b],        // field 6 (resources), length-delimited, 11 bytes
                &[0x0a, 0x09],        //   field 1 (allocated_resources), 9 bytes
                &[0x0a, 0x02],        //     field 1 (cpu)
                &[0x08, 0x64],        //       field 1 (cpu_shares), varint 100
                &[0x12, 0x03],        //     field 2 (memory)
                &[0x10, 0x80, 0x02],  //       field 2 (memory_mb), varint 256
                &[0x4a, 0x01], b"u",  // field 9 (user), length-delimited
                &[0x52, 0x02], b"/a", // field 10 (alloc_dir), length-delimited
                &[0x5a, 0x02], b"/o", // field 11 (stdout_path), length-delimited
                &[0x62, 0x02], b"/e", // field 12 (stderr_path), length-delimited
            ]);
            assert_wire("drivers.TaskConfig", &msg, &expected);
        }

        // TaskConfig { ... map<string,string> device_env = 5; repeated Mount
        // mounts = 7; repeated Device devices = 8; }
        // Mount { task_path = 1; host_path = 2; bool readonly = 3;
        // propagation_mode = 4; selinux_label = 5; request_name = 6; }
        // Device { task_path = 1; host_path = 2; cgroup_permissions = 3; }
        #[test]
        fn task_config_mounts_and_devices() {
            let msg = d::TaskConfig {
                device_env: map1("D", "1"),
                mounts: vec![d::Mount {
                    task_path: "/t".into(),
                    host_path: "/h".into(),
                    readonly: true,
                    propagation_mode: "p".into(),
                    selinux_label: "z".into(),
                    request_name: "r".into(),
                }],
                devices: vec![d::Device {
                    task_path: "/t".into(),
                    host_path: "/h".into(),
                    cgroup_permissions: "rw".into(),
                }],
                ..Default::default()
            };
            let expected = cat(&[
                &[0x2a, 0x06],        // field 5 (device_env), map entry
                &[0x0a, 0x01], b"D",  //   key
                &[0x12, 0x01], b"1",  //   value
                &[0x3a, 0x13],        // field 7 (mounts), length-delimited, 19 bytes
                &[0x0a, 0x02], b"/t", //   field 1 (task_path)
                &[0x12, 0x02], b"/h", //   field 2 (host_path)
                &[0x18, 0x01],        //   field 3 (readonly), varint
                &[0x22, 0x01], b"p",  //   field 4 (propagation_mode)
                &[0x2a, 0x01], b"z",  //   field 5 (selinux_label)
                &[0x32, 0x01], b"r",  //   field 6 (request_name)
                &[0x42, 0x0c],        // field 8 (devices), length-delimited, 12 bytes
                &[0x0a, 0x02], b"/t", //   field 1 (task_path)
                &[0x12, 0x02], b"/h", //   field 2 (host_path)
                &[0x1a, 0x02], b"rw", //   field 3 (cgroup_permissions)
            ]);
            assert_wire("drivers.TaskConfig mounts/devices", &msg, &expected);
        }

        // TaskConfig { ... string task_group_name = 13; string job_name = 14;
        // string alloc_id = 15; NetworkIsolationSpec network_isolation_spec = 16;
        // DNSConfig dns = 17; string job_id = 18; string namespace = 19;
        // string node_name = 20; string node_id = 21; string parent_job_id = 22; }
        // Fields 16 and up take a two-byte tag.
        #[test]
        fn task_config_identity_fields() {
            let msg = d::TaskConfig {
                task_group_name: "g".into(),
                job_name: "j".into(),
                alloc_id: "a".into(),
                network_isolation_spec: Some(d::NetworkIsolationSpec {
                    mode: d::network_isolation_spec::NetworkIsolationMode::Group as i32,
                    path: "/p".into(),
                    ..Default::default()
                }),
                dns: Some(d::DnsConfig {
                    servers: vec!["1".into()],
                    ..Default::default()
                }),
                job_id: "J".into(),
                namespace: "ns".into(),
                node_name: "nn".into(),
                node_id: "ni".into(),
                parent_job_id: "p".into(),
                ..Default::default()
            };
            let expected = cat(&[
                &[0x6a, 0x01], b"g",        // field 13 (task_group_name)
                &[0x72, 0x01], b"j",        // field 14 (job_name)
                &[0x7a, 0x01], b"a",        // field 15 (alloc_id)
                &[0x82, 0x01, 0x06],        // field 16 (network_isolation_spec), 6 bytes
                &[0x08, 0x01],              //   field 1 (mode), varint, GROUP = 1
                &[0x12, 0x02], b"/p",       //   field 2 (path)
                &[0x8a, 0x01, 0x03],        // field 17 (dns), 3 bytes
                &[0x0a, 0x01], b"1",        //   field 1 (servers)
                &[0x92, 0x01, 0x01], b"J",  // field 18 (job_id)
                &[0x9a, 0x01, 0x02], b"ns", // field 19 (namespace)
                &[0xa2, 0x01, 0x02], b"nn", // field 20 (node_name)
                &[0xaa, 0x01, 0x02], b"ni", // field 21 (node_id)
                &[0xb2, 0x01, 0x01], b"p",  // field 22 (parent_job_id)
            ]);
            assert_wire("drivers.TaskConfig identity fields", &msg, &expected);
        }

        // DNSConfig { repeated string servers = 1; searches = 2; options = 3; }
        #[test]
        fn dns_config() {
            let msg = d::DnsConfig {
                servers: vec!["s".into()],
                searches: vec!["q".into()],
                options: vec!["o".into()],
            };
            let expected = cat(&[
                &[0x0a, 0x01], b"s", // field 1 (servers)
                &[0x12, 0x01], b"q", // field 2 (searches)
                &[0x1a, 0x01], b"o", // field 3 (options)
            ]);
            assert_wire("drivers.DNSConfig", &msg, &expected);
        }

        // Resources { ...; LinuxResources linux_resources = 2; repeated
        // PortMapping ports = 3; }
        // PortMapping { string label = 1; int32 value = 2; int32 to = 3;
        // string host_ip = 4; }
        #[test]
        fn resources_linux_and_ports() {
            let msg = d::Resources {
                linux_resources: Some(d::LinuxResources {
                    cpu_shares: 3,
                    ..Default::default()
                }),
                ports: vec![d::PortMapping {
                    label: "http".into(),
                    value: 8080,
                    to: 80,
                    host_ip: "1.2.3.4".into(),
                }],
                ..Default::default()
            };
            let expected = cat(&[
                &[0x12, 0x02],             // field 2 (linux_resources)
                &[0x18, 0x03],             //   field 3 (cpu_shares), varint
                &[0x1a, 0x14],             // field 3 (ports), 20 bytes
                &[0x0a, 0x04], b"http",    //   field 1 (label)
                &[0x10, 0x90, 0x3f],       //   field 2 (value), varint 8080
                &[0x18, 0x50],             //   field 3 (to), varint 80
                &[0x22, 0x07], b"1.2.3.4", //   field 4 (host_ip)
            ]);
            assert_wire("drivers.Resources", &msg, &expected);
        }

        // LinuxResources { int64 cpu_period = 1; int64 cpu_quota = 2;
        // int64 cpu_shares = 3; int64 memory_limit_bytes = 4; int64
        // oom_score_adj = 5; string cpuset_cpus = 6; (7 reserved)
        // double PercentTicks = 8; string cpuset_cgroup = 9; }
        #[test]
        fn linux_resources() {
            let msg = d::LinuxResources {
                cpu_period: 1,
                cpu_quota: 2,
                cpu_shares: 3,
                memory_limit_bytes: 4,
                oom_score_adj: 5,
                cpuset_cpus: "0".into(),
                cpuset_cgroup: "c".into(),
                percent_ticks: 0.5,
            };
            let expected = cat(&[
                &[0x08, 0x01],       // field 1 (cpu_period), varint
                &[0x10, 0x02],       // field 2 (cpu_quota), varint
                &[0x18, 0x03],       // field 3 (cpu_shares), varint
                &[0x20, 0x04],       // field 4 (memory_limit_bytes), varint
                &[0x28, 0x05],       // field 5 (oom_score_adj), varint
                &[0x32, 0x01], b"0", // field 6 (cpuset_cpus)
                &[0x41], &F64_0_5,   // field 8 (PercentTicks), 64-bit
                &[0x4a, 0x01], b"c", // field 9 (cpuset_cgroup)
            ]);
            assert_wire("drivers.LinuxResources", &msg, &expected);
        }

        // AllocatedTaskResources { ...; AllocatedMemoryResources memory = 2;
        // repeated NetworkResource networks = 5; }
        // NetworkResource { device = 1; cidr = 2; ip = 3; int32 mbits = 4;
        // repeated NetworkPort reserved_ports = 5; dynamic_ports = 6; }
        // NetworkPort { string label = 1; int32 value = 2; }
        #[test]
        fn allocated_task_resources_networks() {
            let msg = d::AllocatedTaskResources {
                memory: Some(d::AllocatedMemoryResources {
                    memory_mb: 1,
                    memory_max_mb: 2,
                }),
                networks: vec![d::NetworkResource {
                    device: "eth0".into(),
                    cidr: "c".into(),
                    ip: "i".into(),
                    mbits: 10,
                    reserved_ports: vec![d::NetworkPort {
                        label: "a".into(),
                        value: 1,
                    }],
                    dynamic_ports: vec![d::NetworkPort {
                        label: "b".into(),
                        value: 2,
                    }],
                }],
                ..Default::default()
            };
            let expected = cat(&[
                &[0x12, 0x04],          // field 2 (memory)
                &[0x10, 0x01],          //   field 2 (memory_mb), varint
                &[0x18, 0x02],          //   field 3 (memory_max_mb), varint
                &[0x2a, 0x1c],          // field 5 (networks), 28 bytes
                &[0x0a, 0x04], b"eth0", //   field 1 (device)
                &[0x12, 0x01], b"c",    //   field 2 (cidr)
                &[0x1a, 0x01], b"i",    //   field 3 (ip)
                &[0x20, 0x0a],          //   field 4 (mbits), varint
                &[0x2a, 0x05],          //   field 5 (reserved_ports)
                &[0x0a, 0x01], b"a",    //     field 1 (label)
                &[0x10, 0x01],          //     field 2 (value)
                &[0x32, 0x05],          //   field 6 (dynamic_ports)
                &[0x0a, 0x01], b"b",    //     field 1 (label)
                &[0x10, 0x02],          //     field 2 (value)
            ]);
            assert_wire("drivers.AllocatedTaskResources", &msg, &expected);
        }

        // TaskHandle { int32 version = 1; TaskConfig config = 2; TaskState
        // state = 3; bytes driver_state = 4; }
        #[test]
        fn task_handle() {
            let msg = d::TaskHandle {
                version: 1,
                config: config_id("i"),
                state: d::TaskState::Running as i32,
                driver_state: vec![0xde, 0xad],
            };
            let expected = cat(&[
                &[0x08, 0x01],             // field 1 (version), varint
                &[0x12, 0x03],             // field 2 (config), length-delimited
                &[0x0a, 0x01], b"i",       //   field 1 (id)
                &[0x18, 0x01],             // field 3 (state), varint, RUNNING = 1
                &[0x22, 0x02, 0xde, 0xad], // field 4 (driver_state), length-delimited
            ]);
            assert_wire("drivers.TaskHandle", &msg, &expected);
        }

        // StartTaskRequest { TaskConfig task = 1; }
        #[test]
        fn start_task_request() {
            let msg = d::StartTaskRequest {
                task: config_id("i"),
            };
            let expected = cat(&[&[0x0a, 0x03], &[0x0a, 0x01], b"i"]); // field 1 (task) { field 1 (id) }
            assert_wire("drivers.StartTaskRequest", &msg, &expected);
        }

        // StartTaskResponse { Result result = 1; string driver_error_msg = 2;
        // TaskHandle handle = 3; NetworkOverride network_override = 4; }
        // NetworkOverride { map<string,int32> port_map = 1; string addr = 2;
        // bool auto_advertise = 3; }
        #[test]
        fn start_task_response() {
            let msg = d::StartTaskResponse {
                result: d::start_task_response::Result::Retry as i32,
                driver_error_msg: "e".into(),
                handle: Some(d::TaskHandle {
                    version: 1,
                    config: config_id("i"),
                    state: 0,
                    driver_state: vec![0x01],
                }),
                network_override: Some(d::NetworkOverride {
                    port_map: std::iter::once(("http".to_string(), 8080)).collect(),
                    addr: "10.0.0.1".into(),
                    auto_advertise: true,
                }),
            };
            let expected = cat(&[
                &[0x08, 0x01],              // field 1 (result), varint, RETRY = 1
                &[0x12, 0x01], b"e",        // field 2 (driver_error_msg)
                &[0x1a, 0x0a],              // field 3 (handle), 10 bytes
                &[0x08, 0x01],              //   field 1 (version)
                &[0x12, 0x03],              //   field 2 (config)
                &[0x0a, 0x01], b"i",        //     field 1 (id)
                &[0x22, 0x01, 0x01],        //   field 4 (driver_state)
                &[0x22, 0x17],              // field 4 (network_override), 23 bytes
                &[0x0a, 0x09],              //   field 1 (port_map), map entry
                &[0x0a, 0x04], b"http",     //     key
                &[0x10, 0x90, 0x3f],        //     value, varint 8080
                &[0x12, 0x08], b"10.0.0.1", //   field 2 (addr)
                &[0x18, 0x01],              //   field 3 (auto_advertise), varint
            ]);
            assert_wire("drivers.StartTaskResponse", &msg, &expected);
        }

        // WaitTaskRequest { string task_id = 1; }
        // WaitTaskResponse { ExitResult result = 1; string err = 2; }
        // ExitResult { int32 exit_code = 1; int32 signal = 2; bool oom_killed = 3; }
        #[test]
        fn wait_task() {
            let req = d::WaitTaskRequest {
                task_id: "t".into(),
            };
            assert_wire(
                "drivers.WaitTaskRequest",
                &req,
                &cat(&[&[0x0a, 0x01], b"t"]),
            );

            let msg = d::WaitTaskResponse {
                result: Some(d::ExitResult {
                    exit_code: 137,
                    signal: 9,
                    oom_killed: true,
                }),
                err: "x".into(),
            };
            let expected = cat(&[
                &[0x0a, 0x07],       // field 1 (result), 7 bytes
                &[0x08, 0x89, 0x01], //   field 1 (exit_code), varint 137
                &[0x10, 0x09],       //   field 2 (signal), varint
                &[0x18, 0x01],       //   field 3 (oom_killed), varint
                &[0x12, 0x01], b"x", // field 2 (err)
            ]);
            assert_wire("drivers.WaitTaskResponse", &msg, &expected);
        }

        // ExitResult.exit_code is int32: negative values are ten-byte varints.
        #[test]
        fn exit_result_negative_code() {
            let msg = d::ExitResult {
                exit_code: -1,
                ..Default::default()
            };
            let expected = cat(&[&[0x08], &VARINT_MINUS_1]); // field 1 (exit_code), varint
            assert_wire("drivers.ExitResult", &msg, &expected);
        }

        // StopTaskRequest { string task_id = 1; Duration timeout = 2; string signal = 3; }
        // DestroyTaskRequest { string task_id = 1; bool force = 2; }
        // SignalTaskRequest { string task_id = 1; string signal = 2; }
        #[test]
        fn stop_destroy_signal_requests() {
            let stop = d::StopTaskRequest {
                task_id: "t".into(),
                timeout: dur(5),
                signal: "SIGINT".into(),
            };
            let expected = cat(&[
                &[0x0a, 0x01], b"t",       // field 1 (task_id)
                &[0x12, 0x02, 0x08, 0x05], // field 2 (timeout) { field 1 (seconds) 5 }
                &[0x1a, 0x06], b"SIGINT",  // field 3 (signal)
            ]);
            assert_wire("drivers.StopTaskRequest", &stop, &expected);

            let destroy = d::DestroyTaskRequest {
                task_id: "t".into(),
                force: true,
            };
            let expected = cat(&[&[0x0a, 0x01], b"t", &[0x10, 0x01]]); // fields 1 (task_id), 2 (force)
            assert_wire("drivers.DestroyTaskRequest", &destroy, &expected);

            let signal = d::SignalTaskRequest {
                task_id: "t".into(),
                signal: "HUP".into(),
            };
            let expected = cat(&[&[0x0a, 0x01], b"t", &[0x12, 0x03], b"HUP"]); // fields 1, 2
            assert_wire("drivers.SignalTaskRequest", &signal, &expected);
        }

        // InspectTaskRequest { string task_id = 1; }
        // InspectTaskResponse { TaskStatus task = 1; TaskDriverStatus driver = 2;
        // NetworkOverride network_override = 3; }
        // TaskStatus { string id = 1; string name = 2; TaskState state = 3;
        // Timestamp started_at = 4; Timestamp completed_at = 5; ExitResult result = 6; }
        // TaskDriverStatus { map<string,string> attributes = 1; }
        #[test]
        fn inspect_task() {
            let req = d::InspectTaskRequest {
                task_id: "t".into(),
            };
            assert_wire(
                "drivers.InspectTaskRequest",
                &req,
                &cat(&[&[0x0a, 0x01], b"t"]),
            );

            let msg = d::InspectTaskResponse {
                task: Some(d::TaskStatus {
                    id: "i".into(),
                    name: "n".into(),
                    state: d::TaskState::Exited as i32,
                    started_at: ts(1, 0),
                    completed_at: ts(2, 5),
                    result: Some(d::ExitResult {
                        exit_code: 1,
                        ..Default::default()
                    }),
                }),
                driver: Some(d::TaskDriverStatus {
                    attributes: map1("k", "v"),
                }),
                network_override: Some(d::NetworkOverride {
                    addr: "a".into(),
                    ..Default::default()
                }),
            };
            let expected = cat(&[
                &[0x0a, 0x16],                         // field 1 (task), 22 bytes
                &[0x0a, 0x01], b"i",                   //   field 1 (id)
                &[0x12, 0x01], b"n",                   //   field 2 (name)
                &[0x18, 0x02],                         //   field 3 (state), EXITED = 2
                &[0x22, 0x02, 0x08, 0x01],             //   field 4 (started_at) { seconds 1 }
                &[0x2a, 0x04, 0x08, 0x02, 0x10, 0x05], //   field 5 (completed_at) { seconds 2, nanos 5 }
                &[0x32, 0x02, 0x08, 0x01],             //   field 6 (result) { exit_code 1 }
                &[0x12, 0x08],                         // field 2 (driver), 8 bytes
                &[0x0a, 0x06],                         //   field 1 (attributes), map entry
                &[0x0a, 0x01], b"k",                   //     key
                &[0x12, 0x01], b"v",                   //     value
                &[0x1a, 0x03],                         // field 3 (network_override)
                &[0x12, 0x01], b"a",                   //   field 2 (addr)
            ]);
            assert_wire("drivers.InspectTaskResponse", &msg, &expected);
        }

        // TaskStatsRequest { string task_id = 1; Duration collection_interval = 2; }
        #[test]
        fn task_stats_request() {
            let msg = d::TaskStatsRequest {
                task_id: "t".into(),
                collection_interval: dur(1),
            };
            let expected = cat(&[&[0x0a, 0x01], b"t", &[0x12, 0x02, 0x08, 0x01]]); // fields 1, 2
            assert_wire("drivers.TaskStatsRequest", &msg, &expected);
        }

        // TaskStatsResponse { TaskStats stats = 1; }
        // TaskStats { string id = 1; Timestamp timestamp = 2; TaskResourceUsage
        // agg_resource_usage = 3; map<string, TaskResourceUsage>
        // resource_usage_by_pid = 4; }
        // TaskResourceUsage { CPUUsage cpu = 1; MemoryUsage memory = 2; }
        // CPUUsage { ...; double percent = 6; repeated Fields measured_fields = 7; }
        // MemoryUsage { uint64 rss = 1; ...; repeated Fields measured_fields = 6;
        // uint64 usage = 7; uint64 swap = 8; }
        #[test]
        fn task_stats_response() {
            use d::cpu_usage::Fields as CpuF;
            use d::memory_usage::Fields as MemF;
            let agg = d::TaskResourceUsage {
                cpu: Some(d::CpuUsage {
                    percent: 0.5,
                    measured_fields: vec![CpuF::Percent as i32],
                    ..Default::default()
                }),
                memory: Some(d::MemoryUsage {
                    rss: 1024,
                    usage: 7,
                    swap: 8,
                    measured_fields: vec![MemF::Rss as i32, MemF::Usage as i32, MemF::Swap as i32],
                    ..Default::default()
                }),
            };
            let by_pid = d::TaskResourceUsage {
                memory: Some(d::MemoryUsage {
                    rss: 1,
                    ..Default::default()
                }),
                ..Default::default()
            };
            let msg = d::TaskStatsResponse {
                stats: Some(d::TaskStats {
                    id: "i".into(),
                    timestamp: ts(1, 0),
                    agg_resource_usage: Some(agg),
                    resource_usage_by_pid: std::iter::once(("1".to_string(), by_pid)).collect(),
                }),
            };
            let expected = cat(&[
                &[0x0a, 0x30],                   // field 1 (stats), 48 bytes
                &[0x0a, 0x01], b"i",             //   field 1 (id)
                &[0x12, 0x02, 0x08, 0x01],       //   field 2 (timestamp) { seconds 1 }
                &[0x1a, 0x1c],                   //   field 3 (agg_resource_usage), 28 bytes
                &[0x0a, 0x0c],                   //     field 1 (cpu), 12 bytes
                &[0x31], &F64_0_5,               //       field 6 (percent), 64-bit
                &[0x3a, 0x01, 0x05],             //       field 7 (measured_fields), packed, [PERCENT = 5]
                &[0x12, 0x0c],                   //     field 2 (memory), 12 bytes
                &[0x08, 0x80, 0x08],             //       field 1 (rss), varint 1024
                &[0x32, 0x03, 0x00, 0x05, 0x06], //       field 6 (measured_fields), packed, [RSS, USAGE, SWAP]
                &[0x38, 0x07],                   //       field 7 (usage), varint
                &[0x40, 0x08],                   //       field 8 (swap), varint
                &[0x22, 0x09],                   //   field 4 (resource_usage_by_pid), map entry
                &[0x0a, 0x01], b"1",             //     key
                &[0x12, 0x04],                   //     value (TaskResourceUsage)
                &[0x12, 0x02, 0x08, 0x01],       //       field 2 (memory) { rss 1 }
            ]);
            assert_wire("drivers.TaskStatsResponse", &msg, &expected);
        }

        // CPUUsage { double system_mode = 1; double user_mode = 2; double
        // total_ticks = 3; uint64 throttled_periods = 4; uint64 throttled_time = 5; ... }
        #[test]
        fn cpu_usage() {
            let msg = d::CpuUsage {
                system_mode: 1.0,
                user_mode: 2.0,
                total_ticks: 0.5,
                throttled_periods: 3,
                throttled_time: 4,
                ..Default::default()
            };
            let expected = cat(&[
                &[0x09], &F64_1_0, // field 1 (system_mode), 64-bit
                &[0x11], &F64_2_0, // field 2 (user_mode), 64-bit
                &[0x19], &F64_0_5, // field 3 (total_ticks), 64-bit
                &[0x20, 0x03],     // field 4 (throttled_periods), varint
                &[0x28, 0x04],     // field 5 (throttled_time), varint
            ]);
            assert_wire("drivers.CPUUsage", &msg, &expected);
        }

        // MemoryUsage { ...; uint64 cache = 2; uint64 max_usage = 3; uint64
        // kernel_usage = 4; uint64 kernel_max_usage = 5; ... }
        #[test]
        fn memory_usage() {
            let msg = d::MemoryUsage {
                cache: 2,
                max_usage: 3,
                kernel_usage: 4,
                kernel_max_usage: 5,
                ..Default::default()
            };
            let expected: Vec<u8> = vec![
                0x10, 0x02, // field 2 (cache), varint
                0x18, 0x03, // field 3 (max_usage), varint
                0x20, 0x04, // field 4 (kernel_usage), varint
                0x28, 0x05, // field 5 (kernel_max_usage), varint
            ];
            assert_wire("drivers.MemoryUsage", &msg, &expected);
        }

        // ExecTaskRequest { string task_id = 1; repeated string command = 2;
        // Duration timeout = 3; }
        // ExecTaskResponse { bytes stdout = 1; bytes stderr = 2; ExitResult result = 3; }
        #[test]
        fn exec_task() {
            let req = d::ExecTaskRequest {
                task_id: "t".into(),
                command: vec!["ls".into(), "-l".into()],
                timeout: dur(1),
            };
            let expected = cat(&[
                &[0x0a, 0x01], b"t",       // field 1 (task_id)
                &[0x12, 0x02], b"ls",      // field 2 (command)
                &[0x12, 0x02], b"-l",      // field 2 (command)
                &[0x1a, 0x02, 0x08, 0x01], // field 3 (timeout) { seconds 1 }
            ]);
            assert_wire("drivers.ExecTaskRequest", &req, &expected);

            let msg = d::ExecTaskResponse {
                stdout: b"o".to_vec(),
                stderr: b"e".to_vec(),
                result: Some(d::ExitResult {
                    exit_code: 2,
                    ..Default::default()
                }),
            };
            let expected = cat(&[
                &[0x0a, 0x01], b"o",       // field 1 (stdout), length-delimited
                &[0x12, 0x01], b"e",       // field 2 (stderr), length-delimited
                &[0x1a, 0x02, 0x08, 0x02], // field 3 (result) { exit_code 2 }
            ]);
            assert_wire("drivers.ExecTaskResponse", &msg, &expected);
        }

        // ExecTaskStreamingRequest { Setup setup = 1; TerminalSize tty_size = 2;
        // ExecTaskStreamingIOOperation stdin = 3; }
        // Setup { string task_id = 1; repeated string command = 2; bool tty = 3; }
        // TerminalSize { int32 height = 1; int32 width = 2; }
        // ExecTaskStreamingIOOperation { bytes data = 1; bool close = 2; }
        #[test]
        fn exec_task_streaming_request() {
            use d::exec_task_streaming_request as r;
            let setup = d::ExecTaskStreamingRequest {
                setup: Some(r::Setup {
                    task_id: "t".into(),
                    command: vec!["sh".into()],
                    tty: true,
                }),
                ..Default::default()
            };
            let expected = cat(&[
                &[0x0a, 0x09],        // field 1 (setup), 9 bytes
                &[0x0a, 0x01], b"t",  //   field 1 (task_id)
                &[0x12, 0x02], b"sh", //   field 2 (command)
                &[0x18, 0x01],        //   field 3 (tty), varint
            ]);
            assert_wire("drivers.ExecTaskStreamingRequest.setup", &setup, &expected);

            let tty = d::ExecTaskStreamingRequest {
                tty_size: Some(r::TerminalSize {
                    height: 24,
                    width: 80,
                }),
                ..Default::default()
            };
            let expected: Vec<u8> = vec![
                0x12, 0x04, // field 2 (tty_size)
                0x08, 0x18, //   field 1 (height), varint 24
                0x10, 0x50, //   field 2 (width), varint 80
            ];
            assert_wire("drivers.ExecTaskStreamingRequest.tty_size", &tty, &expected);

            let stdin = d::ExecTaskStreamingRequest {
                stdin: Some(d::ExecTaskStreamingIoOperation {
                    data: b"x".to_vec(),
                    close: true,
                }),
                ..Default::default()
            };
            let expected = cat(&[
                &[0x1a, 0x05],       // field 3 (stdin)
                &[0x0a, 0x01], b"x", //   field 1 (data), length-delimited
                &[0x10, 0x01],       //   field 2 (close), varint
            ]);
            assert_wire("drivers.ExecTaskStreamingRequest.stdin", &stdin, &expected);
        }

        // ExecTaskStreamingResponse { ExecTaskStreamingIOOperation stdout = 1;
        // ExecTaskStreamingIOOperation stderr = 2; bool exited = 3; ExitResult result = 4; }
        #[test]
        fn exec_task_streaming_response() {
            let msg = d::ExecTaskStreamingResponse {
                stdout: Some(d::ExecTaskStreamingIoOperation {
                    data: b"o".to_vec(),
                    close: false,
                }),
                stderr: Some(d::ExecTaskStreamingIoOperation {
                    data: Vec::new(),
                    close: true,
                }),
                exited: true,
                result: Some(d::ExitResult {
                    exit_code: 3,
                    ..Default::default()
                }),
            };
            let expected = cat(&[
                &[0x0a, 0x03, 0x0a, 0x01], b"o", // field 1 (stdout) { field 1 (data) }
                &[0x12, 0x02, 0x10, 0x01],       // field 2 (stderr) { field 2 (close) }
                &[0x18, 0x01],                   // field 3 (exited), varint
                &[0x22, 0x02, 0x08, 0x03],       // field 4 (result) { exit_code 3 }
            ]);
            assert_wire("drivers.ExecTaskStreamingResponse", &msg, &expected);
        }

        // FingerprintResponse { map<string, structs.Attribute> attributes = 1;
        // HealthState health = 2; string health_description = 3; string err = 4; }
        #[test]
        fn fingerprint_response() {
            let msg = d::FingerprintResponse {
                attributes: std::iter::once((
                    "d".to_string(),
                    structs::Attribute {
                        value: Some(structs::attribute::Value::BoolVal(true)),
                        unit: String::new(),
                    },
                ))
                .collect(),
                health: d::fingerprint_response::HealthState::Healthy as i32,
                health_description: "ok".into(),
                err: "e".into(),
            };
            let expected = cat(&[
                &[0x0a, 0x07],             // field 1 (attributes), map entry
                &[0x0a, 0x01], b"d",       //   key
                &[0x12, 0x02, 0x20, 0x01], //   value (Attribute) { field 4 (bool_val) }
                &[0x10, 0x02],             // field 2 (health), varint, HEALTHY = 2
                &[0x1a, 0x02], b"ok",      // field 3 (health_description)
                &[0x22, 0x01], b"e",       // field 4 (err)
            ]);
            assert_wire("drivers.FingerprintResponse", &msg, &expected);
        }

        // CapabilitiesResponse { DriverCapabilities capabilities = 1; }
        // DriverCapabilities { bool send_signals = 1; bool exec = 2; FSIsolation
        // fs_isolation = 3; repeated NetworkIsolationSpec.NetworkIsolationMode
        // network_isolation_modes = 4; bool must_create_network = 5; MountConfigs
        // mount_configs = 6; (7 reserved) bool disable_log_collection = 8;
        // bool dynamic_workload_users = 9; }
        #[test]
        fn capabilities_response() {
            use d::network_isolation_spec::NetworkIsolationMode as M;
            let msg = d::CapabilitiesResponse {
                capabilities: Some(d::DriverCapabilities {
                    send_signals: true,
                    exec: true,
                    fs_isolation: d::driver_capabilities::FsIsolation::Image as i32,
                    network_isolation_modes: vec![M::Host as i32, M::Group as i32],
                    must_create_network: true,
                    mount_configs: d::driver_capabilities::MountConfigs::NoMounts as i32,
                    disable_log_collection: true,
                    dynamic_workload_users: true,
                }),
            };
            let expected: Vec<u8> = vec![
                0x0a, 0x12, // field 1 (capabilities), 18 bytes
                0x08, 0x01, //   field 1 (send_signals)
                0x10, 0x01, //   field 2 (exec)
                0x18, 0x02, //   field 3 (fs_isolation), IMAGE = 2
                0x22, 0x02, 0x00,
                0x01,       //   field 4 (network_isolation_modes), packed, [HOST, GROUP]
                0x28, 0x01, //   field 5 (must_create_network)
                0x30, 0x01, //   field 6 (mount_configs), NO_MOUNTS = 1
                0x40, 0x01, //   field 8 (disable_log_collection)
                0x48, 0x01, //   field 9 (dynamic_workload_users)
            ];
            assert_wire("drivers.CapabilitiesResponse", &msg, &expected);
        }

        // TaskConfigSchemaResponse { hclspec.Spec spec = 1; }
        #[test]
        fn task_config_schema_response() {
            let msg = d::TaskConfigSchemaResponse {
                spec: Some(literal_spec("x")),
            };
            let expected = cat(&[&[0x0a, 0x05], &LITERAL_X]); // field 1 (spec)
            assert_wire("drivers.TaskConfigSchemaResponse", &msg, &expected);
        }

        // RecoverTaskRequest { string task_id = 1; TaskHandle handle = 2; }
        #[test]
        fn recover_task_request() {
            let msg = d::RecoverTaskRequest {
                task_id: "t".into(),
                handle: Some(d::TaskHandle {
                    version: 1,
                    config: config_id("t"),
                    state: d::TaskState::Running as i32,
                    driver_state: vec![0x01],
                }),
            };
            let expected = cat(&[
                &[0x0a, 0x01], b"t", // field 1 (task_id)
                &[0x12, 0x0c],       // field 2 (handle), 12 bytes
                &[0x08, 0x01],       //   field 1 (version)
                &[0x12, 0x03],       //   field 2 (config)
                &[0x0a, 0x01], b"t", //     field 1 (id)
                &[0x18, 0x01],       //   field 3 (state), RUNNING = 1
                &[0x22, 0x01, 0x01], //   field 4 (driver_state)
            ]);
            assert_wire("drivers.RecoverTaskRequest", &msg, &expected);
        }

        // DriverTaskEvent { string task_id = 1; string alloc_id = 2; string
        // task_name = 3; Timestamp timestamp = 4; string message = 5;
        // map<string,string> annotations = 6; }
        #[test]
        fn driver_task_event() {
            let msg = d::DriverTaskEvent {
                task_id: "t".into(),
                alloc_id: "a".into(),
                task_name: "n".into(),
                timestamp: ts(1, 0),
                message: "m".into(),
                annotations: map1("k", "v"),
            };
            let expected = cat(&[
                &[0x0a, 0x01], b"t",       // field 1 (task_id)
                &[0x12, 0x01], b"a",       // field 2 (alloc_id)
                &[0x1a, 0x01], b"n",       // field 3 (task_name)
                &[0x22, 0x02, 0x08, 0x01], // field 4 (timestamp) { seconds 1 }
                &[0x2a, 0x01], b"m",       // field 5 (message)
                &[0x32, 0x06],             // field 6 (annotations), map entry
                &[0x0a, 0x01], b"k",       //   key
                &[0x12, 0x01], b"v",       //   value
            ]);
            assert_wire("drivers.DriverTaskEvent", &msg, &expected);
        }

        // NetworkIsolationSpec { NetworkIsolationMode mode = 1; string path = 2;
        // map<string,string> labels = 3; HostsConfig hostsConfig = 4; }
        // HostsConfig { string hostname = 1; string address = 2; }
        #[test]
        fn network_isolation_spec() {
            let msg = d::NetworkIsolationSpec {
                mode: d::network_isolation_spec::NetworkIsolationMode::Task as i32,
                path: "/p".into(),
                labels: map1("k", "v"),
                hosts_config: Some(d::HostsConfig {
                    hostname: "h".into(),
                    address: "a".into(),
                }),
            };
            let expected = cat(&[
                &[0x08, 0x02],        // field 1 (mode), TASK = 2
                &[0x12, 0x02], b"/p", // field 2 (path)
                &[0x1a, 0x06],        // field 3 (labels), map entry
                &[0x0a, 0x01], b"k",  //   key
                &[0x12, 0x01], b"v",  //   value
                &[0x22, 0x06],        // field 4 (hostsConfig)
                &[0x0a, 0x01], b"h",  //   field 1 (hostname)
                &[0x12, 0x01], b"a",  //   field 2 (address)
            ]);
            assert_wire("drivers.NetworkIsolationSpec", &msg, &expected);
        }

        // CreateNetworkRequest { string alloc_id = 1; string hostname = 2; }
        // CreateNetworkResponse { NetworkIsolationSpec isolation_spec = 1; bool created = 2; }
        // DestroyNetworkRequest { string alloc_id = 1; NetworkIsolationSpec isolation_spec = 2; }
        #[test]
        fn create_destroy_network() {
            let req = d::CreateNetworkRequest {
                alloc_id: "a".into(),
                hostname: "h".into(),
            };
            let expected = cat(&[&[0x0a, 0x01], b"a", &[0x12, 0x01], b"h"]); // fields 1, 2
            assert_wire("drivers.CreateNetworkRequest", &req, &expected);

            let resp = d::CreateNetworkResponse {
                isolation_spec: Some(d::NetworkIsolationSpec {
                    mode: d::network_isolation_spec::NetworkIsolationMode::Group as i32,
                    ..Default::default()
                }),
                created: true,
            };
            let expected: Vec<u8> = vec![
                0x0a, 0x02, 0x08, 0x01, // field 1 (isolation_spec) { mode GROUP }
                0x10, 0x01,             // field 2 (created), varint
            ];
            assert_wire("drivers.CreateNetworkResponse", &resp, &expected);

            let destroy = d::DestroyNetworkRequest {
                alloc_id: "a".into(),
                isolation_spec: Some(d::NetworkIsolationSpec {
                    path: "/p".into(),
                    ..Default::default()
                }),
            };
            let expected = cat(&[
                &[0x0a, 0x01], b"a",              // field 1 (alloc_id)
                &[0x12, 0x04, 0x12, 0x02], b"/p", // field 2 (isolation_spec) { path }
            ]);
            assert_wire("drivers.DestroyNetworkRequest", &destroy, &expected);
        }

        #[test]
        fn enum_task_state() {
            assert_eq!(d::TaskState::Unknown as i32, 0);
            assert_eq!(d::TaskState::Running as i32, 1);
            assert_eq!(d::TaskState::Exited as i32, 2);
        }

        #[test]
        fn enum_fingerprint_health_state() {
            use d::fingerprint_response::HealthState as H;
            assert_eq!(H::Undetected as i32, 0);
            assert_eq!(H::Unhealthy as i32, 1);
            assert_eq!(H::Healthy as i32, 2);
        }

        #[test]
        fn enum_start_task_result() {
            use d::start_task_response::Result as R;
            assert_eq!(R::Success as i32, 0);
            assert_eq!(R::Retry as i32, 1);
            assert_eq!(R::Fatal as i32, 2);
        }

        #[test]
        fn enum_fs_isolation() {
            use d::driver_capabilities::FsIsolation as F;
            assert_eq!(F::None as i32, 0);
            assert_eq!(F::Chroot as i32, 1);
            assert_eq!(F::Image as i32, 2);
            assert_eq!(F::Unveil as i32, 3);
        }

        #[test]
        fn enum_mount_configs() {
            // Upstream aliases ANY_MOUNTS to UNKNOWN_MOUNTS (both 0).
            use d::driver_capabilities::MountConfigs as M;
            assert_eq!(M::UnknownMounts as i32, 0);
            assert_eq!(M::NoMounts as i32, 1);
        }

        #[test]
        fn enum_network_isolation_mode() {
            use d::network_isolation_spec::NetworkIsolationMode as M;
            assert_eq!(M::Host as i32, 0);
            assert_eq!(M::Group as i32, 1);
            assert_eq!(M::Task as i32, 2);
            assert_eq!(M::None as i32, 3);
        }

        #[test]
        fn enum_cpu_usage_fields() {
            use d::cpu_usage::Fields as F;
            assert_eq!(F::SystemMode as i32, 0);
            assert_eq!(F::UserMode as i32, 1);
            assert_eq!(F::TotalTicks as i32, 2);
            assert_eq!(F::ThrottledPeriods as i32, 3);
            assert_eq!(F::ThrottledTime as i32, 4);
            assert_eq!(F::Percent as i32, 5);
        }

        #[test]
        fn enum_memory_usage_fields() {
            use d::memory_usage::Fields as F;
            assert_eq!(F::Rss as i32, 0);
            assert_eq!(F::Cache as i32, 1);
            assert_eq!(F::MaxUsage as i32, 2);
            assert_eq!(F::KernelUsage as i32, 3);
            assert_eq!(F::KernelMaxUsage as i32, 4);
            assert_eq!(F::Usage as i32, 5);
            assert_eq!(F::Swap as i32, 6);
        }
    }

    // ---- plugins/device/proto/device.proto ----
    //
    // Device health is a plain `bool healthy = 2` on DetectedDevice; upstream
    // has no health enum for devices, so it is pinned by the byte test below.

    mod device_proto {
        use super::*;

        // FingerprintResponse { repeated DeviceGroup device_group = 1; }
        // DeviceGroup { string vendor = 1; string device_type = 2; string
        // device_name = 3; repeated DetectedDevice devices = 4;
        // map<string, structs.Attribute> attributes = 5; }
        // DetectedDevice { string ID = 1; bool healthy = 2; string
        // health_description = 3; DeviceLocality hw_locality = 4; }
        // DeviceLocality { string pci_bus_id = 1; }
        #[test]
        fn fingerprint_response() {
            let msg = device::FingerprintResponse {
                device_group: vec![device::DeviceGroup {
                    vendor: "nvidia".into(),
                    device_type: "gpu".into(),
                    device_name: "t4".into(),
                    devices: vec![device::DetectedDevice {
                        id: "GPU-1".into(),
                        healthy: true,
                        health_description: "ok".into(),
                        hw_locality: Some(device::DeviceLocality {
                            pci_bus_id: "00:01".into(),
                        }),
                    }],
                    attributes: std::iter::once((
                        "m".to_string(),
                        structs::Attribute {
                            value: Some(structs::attribute::Value::IntVal(16)),
                            unit: "GiB".into(),
                        },
                    ))
                    .collect(),
                }],
            };
            let expected = cat(&[
                &[0x0a, 0x37],            // field 1 (device_group), 55 bytes
                &[0x0a, 0x06], b"nvidia", //   field 1 (vendor)
                &[0x12, 0x03], b"gpu",    //   field 2 (device_type)
                &[0x1a, 0x02], b"t4",     //   field 3 (device_name)
                &[0x22, 0x16],            //   field 4 (devices), 22 bytes
                &[0x0a, 0x05], b"GPU-1",  //     field 1 (ID)
                &[0x10, 0x01],            //     field 2 (healthy), varint
                &[0x1a, 0x02], b"ok",     //     field 3 (health_description)
                &[0x22, 0x07],            //     field 4 (hw_locality)
                &[0x0a, 0x05], b"00:01",  //       field 1 (pci_bus_id)
                &[0x2a, 0x0c],            //   field 5 (attributes), map entry
                &[0x0a, 0x01], b"m",      //     key
                &[0x12, 0x07],            //     value (Attribute)
                &[0x10, 0x10],            //       field 2 (int_val) 16
                &[0x2a, 0x03], b"GiB",    //       field 5 (unit)
            ]);
            assert_wire("device.FingerprintResponse", &msg, &expected);
        }

        // ReserveRequest { repeated string device_ids = 1; }
        #[test]
        fn reserve_request() {
            let msg = device::ReserveRequest {
                device_ids: vec!["a".into(), "b".into()],
            };
            let expected = cat(&[&[0x0a, 0x01], b"a", &[0x0a, 0x01], b"b"]); // field 1, twice
            assert_wire("device.ReserveRequest", &msg, &expected);
        }

        // ReserveResponse { ContainerReservation container_res = 1; }
        // ContainerReservation { map<string,string> envs = 1; repeated Mount
        // mounts = 2; repeated DeviceSpec devices = 3; }
        // Mount { task_path = 1; host_path = 2; bool read_only = 3; }
        // DeviceSpec { task_path = 1; host_path = 2; permissions = 3; }
        #[test]
        fn reserve_response() {
            let msg = device::ReserveResponse {
                container_res: Some(device::ContainerReservation {
                    envs: map1("K", "V"),
                    mounts: vec![device::Mount {
                        task_path: "/t".into(),
                        host_path: "/h".into(),
                        read_only: true,
                    }],
                    devices: vec![device::DeviceSpec {
                        task_path: "/t".into(),
                        host_path: "/h".into(),
                        permissions: "rwm".into(),
                    }],
                }),
            };
            let expected = cat(&[
                &[0x0a, 0x23],         // field 1 (container_res), 35 bytes
                &[0x0a, 0x06],         //   field 1 (envs), map entry
                &[0x0a, 0x01], b"K",   //     key
                &[0x12, 0x01], b"V",   //     value
                &[0x12, 0x0a],         //   field 2 (mounts), 10 bytes
                &[0x0a, 0x02], b"/t",  //     field 1 (task_path)
                &[0x12, 0x02], b"/h",  //     field 2 (host_path)
                &[0x18, 0x01],         //     field 3 (read_only), varint
                &[0x1a, 0x0d],         //   field 3 (devices), 13 bytes
                &[0x0a, 0x02], b"/t",  //     field 1 (task_path)
                &[0x12, 0x02], b"/h",  //     field 2 (host_path)
                &[0x1a, 0x03], b"rwm", //     field 3 (permissions)
            ]);
            assert_wire("device.ReserveResponse", &msg, &expected);
        }

        // StatsRequest { Duration collection_interval = 1; }
        #[test]
        fn stats_request() {
            let msg = device::StatsRequest {
                collection_interval: dur(1),
            };
            assert_wire("device.StatsRequest", &msg, &[0x0a, 0x02, 0x08, 0x01]);
            // field 1 { seconds 1 }
        }

        // StatsResponse { repeated DeviceGroupStats groups = 1; }
        // DeviceGroupStats { string vendor = 1; string type = 2; string name = 3;
        // map<string, DeviceStats> instance_stats = 4; }
        // DeviceStats { structs.StatValue summary = 1; structs.StatObject stats = 2;
        // Timestamp timestamp = 3; }
        #[test]
        fn stats_response() {
            let stats = device::DeviceStats {
                summary: Some(structs::StatValue {
                    int_numerator_val: Some(3),
                    ..Default::default()
                }),
                stats: Some(structs::StatObject {
                    attributes: std::iter::once((
                        "a".to_string(),
                        structs::StatValue {
                            bool_val: Some(true),
                            ..Default::default()
                        },
                    ))
                    .collect(),
                    ..Default::default()
                }),
                timestamp: ts(1, 0),
            };
            let msg = device::StatsResponse {
                groups: vec![device::DeviceGroupStats {
                    vendor: "v".into(),
                    r#type: "t".into(),
                    name: "n".into(),
                    instance_stats: std::iter::once(("i".to_string(), stats)).collect(),
                }],
            };
            let expected = cat(&[
                &[0x0a, 0x27],                         // field 1 (groups), 39 bytes
                &[0x0a, 0x01], b"v",                   //   field 1 (vendor)
                &[0x12, 0x01], b"t",                   //   field 2 (type)
                &[0x1a, 0x01], b"n",                   //   field 3 (name)
                &[0x22, 0x1c],                         //   field 4 (instance_stats), map entry, 28 bytes
                &[0x0a, 0x01], b"i",                   //     key
                &[0x12, 0x17],                         //     value (DeviceStats), 23 bytes
                &[0x0a, 0x04, 0x1a, 0x02, 0x08, 0x03], // field 1 (summary) { field 3 (int_numerator_val) { 3 } }
                &[0x12, 0x0b],                         //       field 2 (stats), 11 bytes
                &[0x12, 0x09],                         //         field 2 (attributes), map entry
                &[0x0a, 0x01], b"a",                   //           key
                &[0x12, 0x04, 0x32, 0x02, 0x08, 0x01], //   value { field 6 (bool_val) { true } }
                &[0x1a, 0x02, 0x08, 0x01],             //       field 3 (timestamp) { seconds 1 }
            ]);
            assert_wire("device.StatsResponse", &msg, &expected);
        }
    }
}

// ---------------------------------------------------------------------------
// container-storage-interface/spec v1.12.0, csi.proto (package csi.v1)
// ---------------------------------------------------------------------------

#[rustfmt::skip]
mod csi {
    use super::*;
    use nomad_plugin_proto::csi as pb;

    pub(crate) const METHODS: &[Rpc] = &[
        // Identity
        rpc(
            "/csi.v1.Identity/GetPluginInfo",
            "csi.v1.GetPluginInfoRequest",
            "csi.v1.GetPluginInfoResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Identity/GetPluginCapabilities",
            "csi.v1.GetPluginCapabilitiesRequest",
            "csi.v1.GetPluginCapabilitiesResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Identity/Probe",
            "csi.v1.ProbeRequest",
            "csi.v1.ProbeResponse",
            false,
            false,
        ),
        // Controller
        rpc(
            "/csi.v1.Controller/CreateVolume",
            "csi.v1.CreateVolumeRequest",
            "csi.v1.CreateVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/DeleteVolume",
            "csi.v1.DeleteVolumeRequest",
            "csi.v1.DeleteVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/ControllerPublishVolume",
            "csi.v1.ControllerPublishVolumeRequest",
            "csi.v1.ControllerPublishVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/ControllerUnpublishVolume",
            "csi.v1.ControllerUnpublishVolumeRequest",
            "csi.v1.ControllerUnpublishVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/ValidateVolumeCapabilities",
            "csi.v1.ValidateVolumeCapabilitiesRequest",
            "csi.v1.ValidateVolumeCapabilitiesResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/ListVolumes",
            "csi.v1.ListVolumesRequest",
            "csi.v1.ListVolumesResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/GetCapacity",
            "csi.v1.GetCapacityRequest",
            "csi.v1.GetCapacityResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/ControllerGetCapabilities",
            "csi.v1.ControllerGetCapabilitiesRequest",
            "csi.v1.ControllerGetCapabilitiesResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/CreateSnapshot",
            "csi.v1.CreateSnapshotRequest",
            "csi.v1.CreateSnapshotResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/DeleteSnapshot",
            "csi.v1.DeleteSnapshotRequest",
            "csi.v1.DeleteSnapshotResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/ListSnapshots",
            "csi.v1.ListSnapshotsRequest",
            "csi.v1.ListSnapshotsResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/GetSnapshot",
            "csi.v1.GetSnapshotRequest",
            "csi.v1.GetSnapshotResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/ControllerExpandVolume",
            "csi.v1.ControllerExpandVolumeRequest",
            "csi.v1.ControllerExpandVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/ControllerGetVolume",
            "csi.v1.ControllerGetVolumeRequest",
            "csi.v1.ControllerGetVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Controller/ControllerModifyVolume",
            "csi.v1.ControllerModifyVolumeRequest",
            "csi.v1.ControllerModifyVolumeResponse",
            false,
            false,
        ),
        // GroupController
        rpc(
            "/csi.v1.GroupController/GroupControllerGetCapabilities",
            "csi.v1.GroupControllerGetCapabilitiesRequest",
            "csi.v1.GroupControllerGetCapabilitiesResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.GroupController/CreateVolumeGroupSnapshot",
            "csi.v1.CreateVolumeGroupSnapshotRequest",
            "csi.v1.CreateVolumeGroupSnapshotResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.GroupController/DeleteVolumeGroupSnapshot",
            "csi.v1.DeleteVolumeGroupSnapshotRequest",
            "csi.v1.DeleteVolumeGroupSnapshotResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.GroupController/GetVolumeGroupSnapshot",
            "csi.v1.GetVolumeGroupSnapshotRequest",
            "csi.v1.GetVolumeGroupSnapshotResponse",
            false,
            false,
        ),
        // SnapshotMetadata (both server-streaming)
        rpc(
            "/csi.v1.SnapshotMetadata/GetMetadataAllocated",
            "csi.v1.GetMetadataAllocatedRequest",
            "csi.v1.GetMetadataAllocatedResponse",
            false,
            true,
        ),
        rpc(
            "/csi.v1.SnapshotMetadata/GetMetadataDelta",
            "csi.v1.GetMetadataDeltaRequest",
            "csi.v1.GetMetadataDeltaResponse",
            false,
            true,
        ),
        // Node
        rpc(
            "/csi.v1.Node/NodeStageVolume",
            "csi.v1.NodeStageVolumeRequest",
            "csi.v1.NodeStageVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Node/NodeUnstageVolume",
            "csi.v1.NodeUnstageVolumeRequest",
            "csi.v1.NodeUnstageVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Node/NodePublishVolume",
            "csi.v1.NodePublishVolumeRequest",
            "csi.v1.NodePublishVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Node/NodeUnpublishVolume",
            "csi.v1.NodeUnpublishVolumeRequest",
            "csi.v1.NodeUnpublishVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Node/NodeGetVolumeStats",
            "csi.v1.NodeGetVolumeStatsRequest",
            "csi.v1.NodeGetVolumeStatsResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Node/NodeExpandVolume",
            "csi.v1.NodeExpandVolumeRequest",
            "csi.v1.NodeExpandVolumeResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Node/NodeGetCapabilities",
            "csi.v1.NodeGetCapabilitiesRequest",
            "csi.v1.NodeGetCapabilitiesResponse",
            false,
            false,
        ),
        rpc(
            "/csi.v1.Node/NodeGetInfo",
            "csi.v1.NodeGetInfoRequest",
            "csi.v1.NodeGetInfoResponse",
            false,
            false,
        ),
    ];

    fn access_mode(
        m: pb::volume_capability::access_mode::Mode,
    ) -> Option<pb::volume_capability::AccessMode> {
        Some(pb::volume_capability::AccessMode { mode: m as i32 })
    }

    fn block_cap(m: pb::volume_capability::access_mode::Mode) -> pb::VolumeCapability {
        pb::VolumeCapability {
            access_type: Some(pb::volume_capability::AccessType::Block(
                pb::volume_capability::BlockVolume {},
            )),
            access_mode: access_mode(m),
        }
    }

    fn topology(k: &str, v: &str) -> pb::Topology {
        pb::Topology {
            segments: map1(k, v),
        }
    }

    // GetPluginInfoResponse { string name = 1; string vendor_version = 2;
    // map<string,string> manifest = 3; }
    // ProbeResponse { google.protobuf.BoolValue ready = 1; }
    #[test]
    fn identity_messages() {
        let info = pb::GetPluginInfoResponse {
            name: "n".into(),
            vendor_version: "1".into(),
            manifest: map1("k", "v"),
        };
        let expected = cat(&[
            &[0x0a, 0x01], b"n", // field 1 (name)
            &[0x12, 0x01], b"1", // field 2 (vendor_version)
            &[0x1a, 0x06],       // field 3 (manifest), map entry
            &[0x0a, 0x01], b"k", //   key
            &[0x12, 0x01], b"v", //   value
        ]);
        assert_wire("csi.GetPluginInfoResponse", &info, &expected);

        let probe = pb::ProbeResponse { ready: Some(true) };
        assert_wire("csi.ProbeResponse", &probe, &[0x0a, 0x02, 0x08, 0x01]); // field 1 { field 1 true }
    }

    // GetPluginCapabilitiesResponse { repeated PluginCapability capabilities = 1; }
    // PluginCapability { oneof type { Service service = 1; VolumeExpansion
    // volume_expansion = 2; } } with Service { Type type = 1; } and
    // VolumeExpansion { Type type = 1; }
    #[test]
    fn get_plugin_capabilities_response() {
        use pb::plugin_capability as pc;
        let msg = pb::GetPluginCapabilitiesResponse {
            capabilities: vec![
                pb::PluginCapability {
                    r#type: Some(pc::Type::Service(pc::Service {
                        r#type: pc::service::Type::VolumeAccessibilityConstraints as i32,
                    })),
                },
                pb::PluginCapability {
                    r#type: Some(pc::Type::VolumeExpansion(pc::VolumeExpansion {
                        r#type: pc::volume_expansion::Type::Online as i32,
                    })),
                },
            ],
        };
        let expected: Vec<u8> = vec![
            0x0a, 0x04, // field 1 (capabilities)
            0x0a, 0x02, //   field 1 (service)
            0x08, 0x02, //     field 1 (type), VOLUME_ACCESSIBILITY_CONSTRAINTS = 2
            0x0a, 0x04, // field 1 (capabilities)
            0x12, 0x02, //   field 2 (volume_expansion)
            0x08, 0x01, //     field 1 (type), ONLINE = 1
        ];
        assert_wire("csi.GetPluginCapabilitiesResponse", &msg, &expected);
    }

    // CreateVolumeRequest { string name = 1; CapacityRange capacity_range = 2;
    // repeated VolumeCapability volume_capabilities = 3; map parameters = 4;
    // map secrets = 5; VolumeContentSource volume_content_source = 6;
    // TopologyRequirement accessibility_requirements = 7; map mutable_parameters = 8; }
    // CapacityRange { int64 required_bytes = 1; int64 limit_bytes = 2; }
    // VolumeCapability { oneof access_type { BlockVolume block = 1; MountVolume
    // mount = 2; } AccessMode access_mode = 3; }
    // MountVolume { string fs_type = 1; repeated string mount_flags = 2;
    // string volume_mount_group = 3; }  AccessMode { Mode mode = 1; }
    #[test]
    fn create_volume_request() {
        use pb::volume_capability as vc;
        let msg = pb::CreateVolumeRequest {
            name: "v".into(),
            capacity_range: Some(pb::CapacityRange {
                required_bytes: 1024,
                limit_bytes: 2048,
            }),
            volume_capabilities: vec![pb::VolumeCapability {
                access_type: Some(vc::AccessType::Mount(vc::MountVolume {
                    fs_type: "ext4".into(),
                    mount_flags: vec!["ro".into()],
                    volume_mount_group: "g".into(),
                })),
                access_mode: access_mode(vc::access_mode::Mode::SingleNodeWriter),
            }],
            parameters: map1("p", "1"),
            secrets: map1("s", "2"),
            ..Default::default()
        };
        let expected = cat(&[
            &[0x0a, 0x01], b"v",       // field 1 (name)
            &[0x12, 0x06],             // field 2 (capacity_range)
            &[0x08, 0x80, 0x08],       //   field 1 (required_bytes), varint 1024
            &[0x10, 0x80, 0x10],       //   field 2 (limit_bytes), varint 2048
            &[0x1a, 0x13],             // field 3 (volume_capabilities), 19 bytes
            &[0x12, 0x0d],             //   field 2 (mount), 13 bytes
            &[0x0a, 0x04], b"ext4",    //     field 1 (fs_type)
            &[0x12, 0x02], b"ro",      //     field 2 (mount_flags)
            &[0x1a, 0x01], b"g",       //     field 3 (volume_mount_group)
            &[0x1a, 0x02, 0x08, 0x01], //   field 3 (access_mode) { mode SINGLE_NODE_WRITER = 1 }
            &[0x22, 0x06],             // field 4 (parameters), map entry
            &[0x0a, 0x01], b"p",       //   key
            &[0x12, 0x01], b"1",       //   value
            &[0x2a, 0x06],             // field 5 (secrets), map entry
            &[0x0a, 0x01], b"s",       //   key
            &[0x12, 0x01], b"2",       //   value
        ]);
        assert_wire("csi.CreateVolumeRequest", &msg, &expected);
    }

    // The rest of CreateVolumeRequest: fields 6, 7 and 8.
    // VolumeContentSource { oneof type { SnapshotSource snapshot = 1;
    // VolumeSource volume = 2; } }  SnapshotSource { string snapshot_id = 1; }
    // TopologyRequirement { repeated Topology requisite = 1; preferred = 2; }
    // Topology { map<string,string> segments = 1; }
    #[test]
    fn create_volume_request_source_and_topology() {
        use pb::volume_content_source as vcs;
        let msg = pb::CreateVolumeRequest {
            volume_content_source: Some(pb::VolumeContentSource {
                r#type: Some(vcs::Type::Snapshot(vcs::SnapshotSource {
                    snapshot_id: "s".into(),
                })),
            }),
            accessibility_requirements: Some(pb::TopologyRequirement {
                requisite: vec![topology("z", "1")],
                preferred: vec![topology("z", "1")],
            }),
            mutable_parameters: map1("m", "1"),
            ..Default::default()
        };
        let expected = cat(&[
            &[0x32, 0x05],                   // field 6 (volume_content_source)
            &[0x0a, 0x03, 0x0a, 0x01], b"s", //   field 1 (snapshot) { field 1 (snapshot_id) }
            &[0x3a, 0x14],                   // field 7 (accessibility_requirements), 20 bytes
            &[0x0a, 0x08, 0x0a, 0x06],       //   field 1 (requisite) { field 1 (segments) entry
            &[0x0a, 0x01], b"z",
            &[0x12, 0x01], b"1",             //     key, value }
            &[0x12, 0x08, 0x0a, 0x06],       //   field 2 (preferred) { field 1 (segments) entry
            &[0x0a, 0x01], b"z",
            &[0x12, 0x01], b"1",             //     key, value }
            &[0x42, 0x06],                   // field 8 (mutable_parameters), map entry
            &[0x0a, 0x01], b"m",             //   key
            &[0x12, 0x01], b"1",             //   value
        ]);
        assert_wire("csi.CreateVolumeRequest fields 6-8", &msg, &expected);
    }

    // The block variant of VolumeCapability.access_type: an empty message
    // still goes on the wire because it is a oneof member.
    #[test]
    fn volume_capability_block() {
        let msg = block_cap(pb::volume_capability::access_mode::Mode::MultiNodeMultiWriter);
        let expected: Vec<u8> = vec![
            0x0a, 0x00, // field 1 (block), length-delimited, empty
            0x1a, 0x02, 0x08,
            0x05,       // field 3 (access_mode) { mode MULTI_NODE_MULTI_WRITER = 5 }
        ];
        assert_wire("csi.VolumeCapability.block", &msg, &expected);
    }

    // Volume { int64 capacity_bytes = 1; string volume_id = 2; map volume_context = 3;
    // VolumeContentSource content_source = 4; repeated Topology accessible_topology = 5; }
    // CreateVolumeResponse { Volume volume = 1; }
    #[test]
    fn volume() {
        use pb::volume_content_source as vcs;
        let msg = pb::Volume {
            capacity_bytes: 1024,
            volume_id: "v".into(),
            volume_context: map1("c", "d"),
            content_source: Some(pb::VolumeContentSource {
                r#type: Some(vcs::Type::Volume(vcs::VolumeSource {
                    volume_id: "s".into(),
                })),
            }),
            accessible_topology: vec![topology("z", "1")],
        };
        let expected = cat(&[
            &[0x08, 0x80, 0x08],             // field 1 (capacity_bytes), varint 1024
            &[0x12, 0x01], b"v",             // field 2 (volume_id)
            &[0x1a, 0x06],                   // field 3 (volume_context), map entry
            &[0x0a, 0x01], b"c",
            &[0x12, 0x01], b"d",
            &[0x22, 0x05],                   // field 4 (content_source)
            &[0x12, 0x03, 0x0a, 0x01], b"s", //   field 2 (volume) { field 1 (volume_id) }
            &[0x2a, 0x08, 0x0a, 0x06],       // field 5 (accessible_topology) { segments entry
            &[0x0a, 0x01], b"z",
            &[0x12, 0x01], b"1",             //   key, value }
        ]);
        assert_wire("csi.Volume", &msg, &expected);

        let resp = pb::CreateVolumeResponse {
            volume: Some(pb::Volume {
                volume_id: "v".into(),
                ..Default::default()
            }),
        };
        let expected = cat(&[&[0x0a, 0x03, 0x12, 0x01], b"v"]); // field 1 (volume) { field 2 (volume_id) }
        assert_wire("csi.CreateVolumeResponse", &resp, &expected);
    }

    // ControllerPublishVolumeRequest { string volume_id = 1; string node_id = 2;
    // VolumeCapability volume_capability = 3; bool readonly = 4; map secrets = 5;
    // map volume_context = 6; }
    // ControllerPublishVolumeResponse { map publish_context = 1; }
    #[test]
    fn controller_publish_volume() {
        let msg = pb::ControllerPublishVolumeRequest {
            volume_id: "v".into(),
            node_id: "n".into(),
            volume_capability: Some(block_cap(
                pb::volume_capability::access_mode::Mode::SingleNodeWriter,
            )),
            readonly: true,
            secrets: map1("k", "s"),
            volume_context: map1("c", "d"),
        };
        let expected = cat(&[
            &[0x0a, 0x01], b"v",                               // field 1 (volume_id)
            &[0x12, 0x01], b"n",                               // field 2 (node_id)
            &[0x1a, 0x06, 0x0a, 0x00, 0x1a, 0x02, 0x08, 0x01], // field 3 (volume_capability) { block, access_mode 1 }
            &[0x20, 0x01],                                     // field 4 (readonly), varint
            &[0x2a, 0x06], b"\x0a\x01k\x12\x01s",              // field 5 (secrets), map entry
            &[0x32, 0x06], b"\x0a\x01c\x12\x01d",              // field 6 (volume_context), map entry
        ]);
        assert_wire("csi.ControllerPublishVolumeRequest", &msg, &expected);

        let resp = pb::ControllerPublishVolumeResponse {
            publish_context: map1("a", "b"),
        };
        let expected = cat(&[&[0x0a, 0x06], b"\x0a\x01a\x12\x01b"]); // field 1 (publish_context), map entry
        assert_wire("csi.ControllerPublishVolumeResponse", &resp, &expected);
    }

    // NodeStageVolumeRequest { string volume_id = 1; map publish_context = 2;
    // string staging_target_path = 3; VolumeCapability volume_capability = 4;
    // map secrets = 5; map volume_context = 6; }
    #[test]
    fn node_stage_volume_request() {
        use pb::volume_capability as vc;
        let msg = pb::NodeStageVolumeRequest {
            volume_id: "v".into(),
            publish_context: map1("a", "b"),
            staging_target_path: "/s".into(),
            volume_capability: Some(pb::VolumeCapability {
                access_type: Some(vc::AccessType::Mount(vc::MountVolume {
                    fs_type: "xfs".into(),
                    ..Default::default()
                })),
                access_mode: None,
            }),
            secrets: map1("k", "s"),
            volume_context: map1("c", "d"),
        };
        let expected = cat(&[
            &[0x0a, 0x01], b"v",                           // field 1 (volume_id)
            &[0x12, 0x06], b"\x0a\x01a\x12\x01b",          // field 2 (publish_context), map entry
            &[0x1a, 0x02], b"/s",                          // field 3 (staging_target_path)
            &[0x22, 0x07, 0x12, 0x05, 0x0a, 0x03], b"xfs", // field 4 (volume_capability) { mount { fs_type } }
            &[0x2a, 0x06], b"\x0a\x01k\x12\x01s",          // field 5 (secrets), map entry
            &[0x32, 0x06], b"\x0a\x01c\x12\x01d",          // field 6 (volume_context), map entry
        ]);
        assert_wire("csi.NodeStageVolumeRequest", &msg, &expected);
    }

    // NodePublishVolumeRequest { string volume_id = 1; map publish_context = 2;
    // string staging_target_path = 3; string target_path = 4; VolumeCapability
    // volume_capability = 5; bool readonly = 6; map secrets = 7; map volume_context = 8; }
    #[test]
    fn node_publish_volume_request() {
        let msg = pb::NodePublishVolumeRequest {
            volume_id: "v".into(),
            publish_context: map1("a", "b"),
            staging_target_path: "/s".into(),
            target_path: "/t".into(),
            volume_capability: Some(block_cap(
                pb::volume_capability::access_mode::Mode::SingleNodeWriter,
            )),
            readonly: true,
            secrets: map1("k", "s"),
            volume_context: map1("c", "d"),
        };
        let expected = cat(&[
            &[0x0a, 0x01], b"v",                               // field 1 (volume_id)
            &[0x12, 0x06], b"\x0a\x01a\x12\x01b",              // field 2 (publish_context), map entry
            &[0x1a, 0x02], b"/s",                              // field 3 (staging_target_path)
            &[0x22, 0x02], b"/t",                              // field 4 (target_path)
            &[0x2a, 0x06, 0x0a, 0x00, 0x1a, 0x02, 0x08, 0x01], // field 5 (volume_capability) { block, access_mode 1 }
            &[0x30, 0x01],                                     // field 6 (readonly), varint
            &[0x3a, 0x06], b"\x0a\x01k\x12\x01s",              // field 7 (secrets), map entry
            &[0x42, 0x06], b"\x0a\x01c\x12\x01d",              // field 8 (volume_context), map entry
        ]);
        assert_wire("csi.NodePublishVolumeRequest", &msg, &expected);
    }

    // NodeGetInfoResponse { string node_id = 1; int64 max_volumes_per_node = 2;
    // Topology accessible_topology = 3; }
    #[test]
    fn node_get_info_response() {
        let msg = pb::NodeGetInfoResponse {
            node_id: "n".into(),
            max_volumes_per_node: 3,
            accessible_topology: Some(topology("z", "1")),
        };
        let expected = cat(&[
            &[0x0a, 0x01], b"n",                              // field 1 (node_id)
            &[0x10, 0x03],                                    // field 2 (max_volumes_per_node)
            &[0x1a, 0x08, 0x0a, 0x06], b"\x0a\x01z\x12\x011", // field 3 (accessible_topology) { segments }
        ]);
        assert_wire("csi.NodeGetInfoResponse", &msg, &expected);
    }

    // NodeGetVolumeStatsResponse { repeated VolumeUsage usage = 1;
    // VolumeCondition volume_condition = 2; }
    // VolumeUsage { int64 available = 1; int64 total = 2; int64 used = 3; Unit unit = 4; }
    // VolumeCondition { bool abnormal = 1; string message = 2; }
    #[test]
    fn node_get_volume_stats_response() {
        let msg = pb::NodeGetVolumeStatsResponse {
            usage: vec![pb::VolumeUsage {
                available: 1,
                total: 2,
                used: 3,
                unit: pb::volume_usage::Unit::Bytes as i32,
            }],
            volume_condition: Some(pb::VolumeCondition {
                abnormal: true,
                message: "m".into(),
            }),
        };
        let expected = cat(&[
            &[0x0a, 0x08, 0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x01], // field 1 (usage) { 1, 2, 3, BYTES }
            &[0x12, 0x05, 0x08, 0x01, 0x12, 0x01], b"m",                   // field 2 (volume_condition) { abnormal, message }
        ]);
        assert_wire("csi.NodeGetVolumeStatsResponse", &msg, &expected);
    }

    // ControllerGetCapabilitiesResponse { repeated ControllerServiceCapability
    // capabilities = 1; } ControllerServiceCapability { oneof type { RPC rpc = 1; } }
    // RPC { Type type = 1; } (same shape for NodeServiceCapability)
    #[test]
    fn service_capabilities() {
        use pb::controller_service_capability as csc;
        use pb::node_service_capability as nsc;
        let c = pb::ControllerGetCapabilitiesResponse {
            capabilities: vec![pb::ControllerServiceCapability {
                r#type: Some(csc::Type::Rpc(csc::Rpc {
                    r#type: csc::rpc::Type::PublishUnpublishVolume as i32,
                })),
            }],
        };
        // field 1 (capabilities) { field 1 (rpc) { field 1 (type) PUBLISH_UNPUBLISH_VOLUME = 2 } }
        assert_wire(
            "csi.ControllerGetCapabilitiesResponse",
            &c,
            &[0x0a, 0x04, 0x0a, 0x02, 0x08, 0x02],
        );

        let n = pb::NodeGetCapabilitiesResponse {
            capabilities: vec![pb::NodeServiceCapability {
                r#type: Some(nsc::Type::Rpc(nsc::Rpc {
                    r#type: nsc::rpc::Type::StageUnstageVolume as i32,
                })),
            }],
        };
        // field 1 (capabilities) { field 1 (rpc) { field 1 (type) STAGE_UNSTAGE_VOLUME = 1 } }
        assert_wire(
            "csi.NodeGetCapabilitiesResponse",
            &n,
            &[0x0a, 0x04, 0x0a, 0x02, 0x08, 0x01],
        );
    }

    #[test]
    fn enum_access_mode() {
        use pb::volume_capability::access_mode::Mode as M;
        assert_eq!(M::Unknown as i32, 0);
        assert_eq!(M::SingleNodeWriter as i32, 1);
        assert_eq!(M::SingleNodeReaderOnly as i32, 2);
        assert_eq!(M::MultiNodeReaderOnly as i32, 3);
        assert_eq!(M::MultiNodeSingleWriter as i32, 4);
        assert_eq!(M::MultiNodeMultiWriter as i32, 5);
        assert_eq!(M::SingleNodeSingleWriter as i32, 6);
        assert_eq!(M::SingleNodeMultiWriter as i32, 7);
    }

    #[test]
    fn enum_plugin_capability_types() {
        use pb::plugin_capability::service::Type as S;
        use pb::plugin_capability::volume_expansion::Type as E;
        assert_eq!(S::Unknown as i32, 0);
        assert_eq!(S::ControllerService as i32, 1);
        assert_eq!(S::VolumeAccessibilityConstraints as i32, 2);
        assert_eq!(S::GroupControllerService as i32, 3);
        assert_eq!(S::SnapshotMetadataService as i32, 4);
        assert_eq!(E::Unknown as i32, 0);
        assert_eq!(E::Online as i32, 1);
        assert_eq!(E::Offline as i32, 2);
    }

    #[test]
    fn enum_controller_service_capability_rpc_type() {
        use pb::controller_service_capability::rpc::Type as T;
        assert_eq!(T::Unknown as i32, 0);
        assert_eq!(T::CreateDeleteVolume as i32, 1);
        assert_eq!(T::PublishUnpublishVolume as i32, 2);
        assert_eq!(T::ListVolumes as i32, 3);
        assert_eq!(T::GetCapacity as i32, 4);
        assert_eq!(T::CreateDeleteSnapshot as i32, 5);
        assert_eq!(T::ListSnapshots as i32, 6);
        assert_eq!(T::CloneVolume as i32, 7);
        assert_eq!(T::PublishReadonly as i32, 8);
        assert_eq!(T::ExpandVolume as i32, 9);
        assert_eq!(T::ListVolumesPublishedNodes as i32, 10);
        assert_eq!(T::VolumeCondition as i32, 11);
        assert_eq!(T::GetVolume as i32, 12);
        assert_eq!(T::SingleNodeMultiWriter as i32, 13);
        assert_eq!(T::ModifyVolume as i32, 14);
        assert_eq!(T::GetSnapshot as i32, 15);
    }

    #[test]
    fn enum_node_service_capability_rpc_type() {
        use pb::node_service_capability::rpc::Type as T;
        assert_eq!(T::Unknown as i32, 0);
        assert_eq!(T::StageUnstageVolume as i32, 1);
        assert_eq!(T::GetVolumeStats as i32, 2);
        assert_eq!(T::ExpandVolume as i32, 3);
        assert_eq!(T::VolumeCondition as i32, 4);
        assert_eq!(T::SingleNodeMultiWriter as i32, 5);
        assert_eq!(T::VolumeMountGroup as i32, 6);
    }

    #[test]
    fn enum_group_controller_service_capability_rpc_type() {
        use pb::group_controller_service_capability::rpc::Type as T;
        assert_eq!(T::Unknown as i32, 0);
        assert_eq!(T::CreateDeleteGetVolumeGroupSnapshot as i32, 1);
    }

    #[test]
    fn enum_volume_usage_unit() {
        use pb::volume_usage::Unit as U;
        assert_eq!(U::Unknown as i32, 0);
        assert_eq!(U::Bytes as i32, 1);
        assert_eq!(U::Inodes as i32, 2);
    }

    #[test]
    fn enum_block_metadata_type() {
        assert_eq!(pb::BlockMetadataType::Unknown as i32, 0);
        assert_eq!(pb::BlockMetadataType::FixedLength as i32, 1);
        assert_eq!(pb::BlockMetadataType::VariableLength as i32, 2);
    }
}

// ---------------------------------------------------------------------------
// hashicorp/nomad-autoscaler, plugins/{base,apm,strategy,target,shared}/proto/v1/
// ---------------------------------------------------------------------------

#[rustfmt::skip]
mod autoscaler {
    use super::*;
    use nomad_plugin_proto::autoscaler::{apm, base, shared, strategy, target};

    pub(crate) const METHODS: &[Rpc] = &[
        // base.proto: BasePluginService
        rpc(
            "/hashicorp.nomad_autoscaler.plugins.base.proto.v1.BasePluginService/PluginInfo",
            "hashicorp.nomad_autoscaler.plugins.base.proto.v1.PluginInfoRequest",
            "hashicorp.nomad_autoscaler.plugins.base.proto.v1.PluginInfoResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad_autoscaler.plugins.base.proto.v1.BasePluginService/SetConfig",
            "hashicorp.nomad_autoscaler.plugins.base.proto.v1.SetConfigRequest",
            "hashicorp.nomad_autoscaler.plugins.base.proto.v1.SetConfigResponse",
            false,
            false,
        ),
        // apm.proto: APMPluginService
        rpc(
            "/hashicorp.nomad_autoscaler.plugins.apm.proto.v1.APMPluginService/Query",
            "hashicorp.nomad_autoscaler.plugins.apm.proto.v1.QueryRequest",
            "hashicorp.nomad_autoscaler.plugins.apm.proto.v1.QueryResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad_autoscaler.plugins.apm.proto.v1.APMPluginService/QueryMultiple",
            "hashicorp.nomad_autoscaler.plugins.apm.proto.v1.QueryMultipleRequest",
            "hashicorp.nomad_autoscaler.plugins.apm.proto.v1.QueryMultipleResponse",
            false,
            false,
        ),
        // strategy.proto: StrategyPluginService
        rpc(
            "/hashicorp.nomad_autoscaler.plugins.strategy.proto.v1.StrategyPluginService/Run",
            "hashicorp.nomad_autoscaler.plugins.strategy.proto.v1.RunRequest",
            "hashicorp.nomad_autoscaler.plugins.strategy.proto.v1.RunResponse",
            false,
            false,
        ),
        // target.proto: TargetPluginService
        rpc(
            "/hashicorp.nomad_autoscaler.plugins.target.proto.v1.TargetPluginService/Scale",
            "hashicorp.nomad_autoscaler.plugins.target.proto.v1.ScaleRequest",
            "hashicorp.nomad_autoscaler.plugins.target.proto.v1.ScaleResponse",
            false,
            false,
        ),
        rpc(
            "/hashicorp.nomad_autoscaler.plugins.target.proto.v1.TargetPluginService/Status",
            "hashicorp.nomad_autoscaler.plugins.target.proto.v1.StatusRequest",
            "hashicorp.nomad_autoscaler.plugins.target.proto.v1.StatusResponse",
            false,
            false,
        ),
    ];

    fn metric(seconds: i64, value: f64) -> shared::TimestampedMetric {
        shared::TimestampedMetric {
            timestamp: if seconds == 0 { None } else { ts(seconds, 0) },
            value,
        }
    }

    // base.proto: PluginInfoResponse { string name = 1; PluginType type = 2; }
    // SetConfigRequest { map<string,string> config = 1; }
    #[test]
    fn base_messages() {
        let info = base::PluginInfoResponse {
            name: "n".into(),
            r#type: base::PluginType::Strategy as i32,
        };
        let expected = cat(&[
            &[0x0a, 0x01], b"n", // field 1 (name)
            &[0x10, 0x02],       // field 2 (type), varint, PLUGIN_TYPE_STRATEGY = 2
        ]);
        assert_wire("autoscaler.base.PluginInfoResponse", &info, &expected);

        let cfg = base::SetConfigRequest {
            config: map1("k", "v"),
        };
        let expected = cat(&[&[0x0a, 0x06], b"\x0a\x01k\x12\x01v"]); // field 1 (config), map entry
        assert_wire("autoscaler.base.SetConfigRequest", &cfg, &expected);
    }

    // apm.proto: QueryRequest { string query = 1; shared.TimeRange time_range = 2; }
    // (QueryMultipleRequest has the same fields.)
    // shared.proto: TimeRange { Timestamp to = 1; Timestamp from = 2; }
    #[test]
    fn query_requests() {
        let range = shared::TimeRange {
            to: ts(2, 0),
            from: ts(1, 0),
        };
        let expected = cat(&[
            &[0x0a, 0x01], b"q",       // field 1 (query)
            &[0x12, 0x08],             // field 2 (time_range)
            &[0x0a, 0x02, 0x08, 0x02], //   field 1 (to) { seconds 2 }
            &[0x12, 0x02, 0x08, 0x01], //   field 2 (from) { seconds 1 }
        ]);
        let q = apm::QueryRequest {
            query: "q".into(),
            time_range: Some(range),
        };
        assert_wire("autoscaler.apm.QueryRequest", &q, &expected);
        let qm = apm::QueryMultipleRequest {
            query: "q".into(),
            time_range: Some(range),
        };
        assert_wire("autoscaler.apm.QueryMultipleRequest", &qm, &expected);
    }

    // shared.proto: TimestampedMetric { Timestamp timestamp = 1; double value = 2; }
    // apm.proto: QueryResponse { repeated TimestampedMetric timestamped_metric = 1; }
    // QueryMultipleResponse { repeated QueryResponse timestamped_metric = 1; }
    #[test]
    fn timestamped_metric_and_query_responses() {
        let tm_bytes = cat(&[
            &[0x0a, 0x02, 0x08, 0x01], // field 1 (timestamp) { seconds 1 }
            &[0x11], &F64_1_5,         // field 2 (value), 64-bit, 1.5
        ]);
        assert_wire(
            "autoscaler.shared.TimestampedMetric",
            &metric(1, 1.5),
            &tm_bytes,
        );

        let resp = apm::QueryResponse {
            timestamped_metric: vec![metric(1, 1.5)],
        };
        let resp_bytes = cat(&[&[0x0a, 0x0d], &tm_bytes]); // field 1 (timestamped_metric), 13 bytes
        assert_wire("autoscaler.apm.QueryResponse", &resp, &resp_bytes);

        let multi = apm::QueryMultipleResponse {
            timestamped_metric: vec![resp],
        };
        let expected = cat(&[&[0x0a, 0x0f], &resp_bytes]); // field 1 (timestamped_metric), 15 bytes
        assert_wire("autoscaler.apm.QueryMultipleResponse", &multi, &expected);
    }

    // shared.proto: ScalingAction { int64 count = 1; string reason = 2; bool error = 3;
    // ScalingDirection direction = 4; google.protobuf.Any meta = 5; }
    #[test]
    fn scaling_action() {
        let msg = shared::ScalingAction {
            count: 3,
            reason: "r".into(),
            error: true,
            direction: shared::ScalingDirection::Up as i32,
            meta: Some(prost_types::Any {
                type_url: "t".into(),
                value: vec![0x01],
            }),
        };
        let expected = cat(&[
            &[0x08, 0x03],       // field 1 (count), varint
            &[0x12, 0x01], b"r", // field 2 (reason)
            &[0x18, 0x01],       // field 3 (error), varint
            &[0x20, 0x03],       // field 4 (direction), SCALING_DIRECTION_UP = 3
            &[0x2a, 0x06],       // field 5 (meta), Any
            &[0x0a, 0x01], b"t",
            &[0x12, 0x01, 0x01], //   type_url = 1, value = 2
        ]);
        assert_wire("autoscaler.shared.ScalingAction", &msg, &expected);
    }

    // shared.proto: ScalingPolicyCheck { string name = 1; string source = 2;
    // string query = 3; Duration query_window = 4; ScalingPolicyStrategy strategy = 5; }
    // ScalingPolicyStrategy { string name = 1; map<string,string> config = 2; }
    #[test]
    fn scaling_policy_check() {
        let msg = shared::ScalingPolicyCheck {
            name: "n".into(),
            source: "s".into(),
            query: "q".into(),
            query_window: dur(60),
            strategy: Some(shared::ScalingPolicyStrategy {
                name: "st".into(),
                config: map1("k", "v"),
            }),
        };
        let expected = cat(&[
            &[0x0a, 0x01], b"n",                  // field 1 (name)
            &[0x12, 0x01], b"s",                  // field 2 (source)
            &[0x1a, 0x01], b"q",                  // field 3 (query)
            &[0x22, 0x02, 0x08, 0x3c],            // field 4 (query_window) { seconds 60 }
            &[0x2a, 0x0c],                        // field 5 (strategy), 12 bytes
            &[0x0a, 0x02], b"st",                 //   field 1 (name)
            &[0x12, 0x06], b"\x0a\x01k\x12\x01v", //   field 2 (config), map entry
        ]);
        assert_wire("autoscaler.shared.ScalingPolicyCheck", &msg, &expected);
    }

    // strategy.proto: RunRequest { ScalingAction action = 1; ScalingPolicyCheck
    // check = 2; repeated TimestampedMetric timestamped_metric = 3; int64 count = 4; }
    // RunResponse { ScalingAction action = 1; ScalingPolicyCheck check = 2;
    // repeated TimestampedMetric timestamped_metric = 3; }
    #[test]
    fn strategy_run() {
        let req = strategy::RunRequest {
            action: Some(shared::ScalingAction {
                count: 1,
                ..Default::default()
            }),
            check: Some(shared::ScalingPolicyCheck {
                name: "c".into(),
                ..Default::default()
            }),
            timestamped_metric: vec![metric(0, 1.5)],
            count: 2,
        };
        let expected = cat(&[
            &[0x0a, 0x02, 0x08, 0x01],       // field 1 (action) { count 1 }
            &[0x12, 0x03, 0x0a, 0x01], b"c", // field 2 (check) { name }
            &[0x1a, 0x09, 0x11], &F64_1_5,   // field 3 (timestamped_metric) { field 2 (value) }
            &[0x20, 0x02],                   // field 4 (count), varint
        ]);
        assert_wire("autoscaler.strategy.RunRequest", &req, &expected);

        let resp = strategy::RunResponse {
            action: Some(shared::ScalingAction {
                direction: shared::ScalingDirection::Down as i32,
                ..Default::default()
            }),
            check: Some(shared::ScalingPolicyCheck {
                source: "s".into(),
                ..Default::default()
            }),
            timestamped_metric: vec![metric(1, 0.0)],
        };
        let expected = cat(&[
            &[0x0a, 0x02, 0x20, 0x02],             // field 1 (action) { direction DOWN = 2 }
            &[0x12, 0x03, 0x12, 0x01], b"s",       // field 2 (check) { source }
            &[0x1a, 0x04, 0x0a, 0x02, 0x08, 0x01], // field 3 (timestamped_metric) { timestamp { seconds 1 } }
        ]);
        assert_wire("autoscaler.strategy.RunResponse", &resp, &expected);
    }

    // target.proto: ScaleRequest { ScalingAction action = 1; map config = 2; }
    // StatusRequest { map config = 1; }
    // StatusResponse { bool ready = 1; int64 count = 2; map meta = 3; }
    #[test]
    fn target_scale_and_status() {
        let scale = target::ScaleRequest {
            action: Some(shared::ScalingAction {
                count: 5,
                reason: "r".into(),
                ..Default::default()
            }),
            config: map1("k", "v"),
        };
        let expected = cat(&[
            &[0x0a, 0x05, 0x08, 0x05, 0x12, 0x01], b"r", // field 1 (action) { count 5, reason }
            &[0x12, 0x06], b"\x0a\x01k\x12\x01v",        // field 2 (config), map entry
        ]);
        assert_wire("autoscaler.target.ScaleRequest", &scale, &expected);

        let status = target::StatusRequest {
            config: map1("k", "v"),
        };
        let expected = cat(&[&[0x0a, 0x06], b"\x0a\x01k\x12\x01v"]); // field 1 (config), map entry
        assert_wire("autoscaler.target.StatusRequest", &status, &expected);

        let resp = target::StatusResponse {
            ready: true,
            count: 4,
            meta: map1("m", "1"),
        };
        let expected = cat(&[
            &[0x08, 0x01],                        // field 1 (ready), varint
            &[0x10, 0x04],                        // field 2 (count), varint
            &[0x1a, 0x06], b"\x0a\x01m\x12\x011", // field 3 (meta), map entry
        ]);
        assert_wire("autoscaler.target.StatusResponse", &resp, &expected);
    }

    #[test]
    fn enum_scaling_direction() {
        use shared::ScalingDirection as D;
        assert_eq!(D::Unspecified as i32, 0);
        assert_eq!(D::None as i32, 1);
        assert_eq!(D::Down as i32, 2);
        assert_eq!(D::Up as i32, 3);
    }

    #[test]
    fn enum_plugin_type() {
        use base::PluginType as T;
        assert_eq!(T::Unspecified as i32, 0);
        assert_eq!(T::Apm as i32, 1);
        assert_eq!(T::Strategy as i32, 2);
        assert_eq!(T::Target as i32, 3);
    }
}
