//! Replays every fuzz corpus file of `fuzz/corpus/<target>/` through the
//! same entry points the fuzz targets use (`fuzz/src/lib.rs`), on stable
//! Rust, so each crash found by fuzzing stays a regression test.
#[path = "../fuzz/src/lib.rs"]
mod entry;

use std::path::Path;

#[test]
fn every_corpus_file_decodes_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (name, target) in entry::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name}: the corpus is empty");
        for file in &files {
            let bytes = std::fs::read(file).expect("corpus file");
            eprintln!("{name}: {}", file.display());
            target(&bytes);
        }
        total += files.len();
    }
    eprintln!("replayed {total} corpus files");
}

/// Regenerates the `hclspec_proto` seeds from the derived schemas:
/// `cargo test -p nomad-plugin-sdk --test corpus -- --ignored write_spec_seeds`.
#[test]
#[ignore = "writes seed files; run by hand"]
fn write_spec_seeds() {
    use nomad_plugin_sdk::config::schema::ConfigSchema;
    use prost::Message;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/hclspec_proto");
    for (name, spec) in [
        ("rich", entry::Rich::schema()),
        ("rsexec-task", entry::RsExecTask::schema()),
        ("mount", entry::Mount::schema()),
    ] {
        std::fs::write(
            dir.join(format!("{name}.pb")),
            nomad_plugin_sdk::host::schema::to_proto(&spec).encode_to_vec(),
        )
        .expect("write seed");
    }
}

/// Regenerates the `csi_request` seeds: requests shaped as Nomad's client
/// and csi-sanity send them (Nomad's staging and per-alloc paths, its
/// access modes, pagination, snapshots), each prefixed with the RPC index
/// and the plugin selector the target reads first:
/// `cargo test -p nomad-plugin-sdk --all-features --test corpus -- --ignored write_csi_seeds`.
#[cfg(feature = "fuzzing")]
#[test]
#[ignore = "writes seed files; run by hand"]
fn write_csi_seeds() {
    use nomad_plugin_proto::csi as pb;
    use nomad_plugin_sdk::csi::fuzzing::RPCS;
    use prost::Message;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/csi_request");
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let mount = |mode: i32| pb::VolumeCapability {
        access_mode: Some(pb::volume_capability::AccessMode { mode }),
        access_type: Some(pb::volume_capability::AccessType::Mount(
            pb::volume_capability::MountVolume {
                fs_type: "ext4".into(),
                mount_flags: vec!["noatime".into()],
                volume_mount_group: String::new(),
            },
        )),
    };
    let block = pb::VolumeCapability {
        access_mode: Some(pb::volume_capability::AccessMode { mode: 1 }),
        access_type: Some(pb::volume_capability::AccessType::Block(
            pb::volume_capability::BlockVolume {},
        )),
    };
    let secrets = || [("token".to_string(), "s3cr3t".to_string())].into();
    let staging = "/var/nomad/client/csi/node/hostpath/staging/default/vol-1/rw-file-system-single-node-writer";
    let target = "/var/nomad/client/csi/node/hostpath/per-alloc/5f1c/vol-1/rw-file-system-single-node-writer";
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("GetPluginInfo", pb::GetPluginInfoRequest {}.encode_to_vec()),
        ("Probe", pb::ProbeRequest {}.encode_to_vec()),
        (
            "CreateVolume",
            pb::CreateVolumeRequest {
                name: "vol-1".into(),
                capacity_range: Some(pb::CapacityRange {
                    required_bytes: 1 << 30,
                    limit_bytes: 2 << 30,
                }),
                volume_capabilities: vec![mount(1), block.clone()],
                parameters: [("type".to_string(), "ssd".to_string())].into(),
                secrets: secrets(),
                volume_content_source: Some(pb::VolumeContentSource {
                    r#type: Some(pb::volume_content_source::Type::Snapshot(
                        pb::volume_content_source::SnapshotSource {
                            snapshot_id: "snap-1".into(),
                        },
                    )),
                }),
                accessibility_requirements: Some(pb::TopologyRequirement {
                    requisite: vec![pb::Topology {
                        segments: [("rack".to_string(), "r1".to_string())].into(),
                    }],
                    preferred: vec![],
                }),
                mutable_parameters: Default::default(),
            }
            .encode_to_vec(),
        ),
        (
            "DeleteVolume",
            pb::DeleteVolumeRequest {
                volume_id: "vol-1".into(),
                secrets: secrets(),
            }
            .encode_to_vec(),
        ),
        (
            "ControllerPublishVolume",
            pb::ControllerPublishVolumeRequest {
                volume_id: "vol-1".into(),
                node_id: "node-1".into(),
                volume_capability: Some(mount(5)),
                readonly: false,
                secrets: secrets(),
                volume_context: [("k".to_string(), "v".to_string())].into(),
            }
            .encode_to_vec(),
        ),
        (
            "ValidateVolumeCapabilities",
            pb::ValidateVolumeCapabilitiesRequest {
                volume_id: "vol-1".into(),
                volume_capabilities: vec![mount(7)],
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "ListVolumes",
            pb::ListVolumesRequest {
                max_entries: 2,
                starting_token: "vol-1".into(),
            }
            .encode_to_vec(),
        ),
        (
            "CreateSnapshot",
            pb::CreateSnapshotRequest {
                source_volume_id: "vol-1".into(),
                name: "snap-1".into(),
                secrets: secrets(),
                parameters: Default::default(),
            }
            .encode_to_vec(),
        ),
        (
            "ListSnapshots",
            pb::ListSnapshotsRequest {
                max_entries: 1,
                starting_token: String::new(),
                source_volume_id: "vol-1".into(),
                snapshot_id: String::new(),
                secrets: secrets(),
            }
            .encode_to_vec(),
        ),
        (
            "ControllerExpandVolume",
            pb::ControllerExpandVolumeRequest {
                volume_id: "vol-1".into(),
                capacity_range: Some(pb::CapacityRange {
                    required_bytes: 4 << 30,
                    limit_bytes: 0,
                }),
                secrets: secrets(),
                volume_capability: Some(mount(1)),
            }
            .encode_to_vec(),
        ),
        (
            "NodeStageVolume",
            pb::NodeStageVolumeRequest {
                volume_id: "vol-1".into(),
                publish_context: Default::default(),
                staging_target_path: staging.into(),
                volume_capability: Some(mount(1)),
                secrets: secrets(),
                volume_context: Default::default(),
            }
            .encode_to_vec(),
        ),
        (
            "NodePublishVolume",
            pb::NodePublishVolumeRequest {
                volume_id: "vol-1".into(),
                publish_context: Default::default(),
                staging_target_path: staging.into(),
                target_path: target.into(),
                volume_capability: Some(mount(1)),
                readonly: true,
                secrets: secrets(),
                volume_context: Default::default(),
            }
            .encode_to_vec(),
        ),
        (
            "NodeUnpublishVolume",
            pb::NodeUnpublishVolumeRequest {
                volume_id: "vol-1".into(),
                target_path: target.into(),
            }
            .encode_to_vec(),
        ),
        (
            "NodeGetVolumeStats",
            pb::NodeGetVolumeStatsRequest {
                volume_id: "vol-1".into(),
                volume_path: target.into(),
                staging_target_path: staging.into(),
            }
            .encode_to_vec(),
        ),
        (
            "NodeExpandVolume",
            pb::NodeExpandVolumeRequest {
                volume_id: "vol-1".into(),
                volume_path: target.into(),
                capacity_range: Some(pb::CapacityRange {
                    required_bytes: 4 << 30,
                    limit_bytes: 0,
                }),
                staging_target_path: staging.into(),
                volume_capability: Some(mount(1)),
                secrets: secrets(),
            }
            .encode_to_vec(),
        ),
        ("NodeGetInfo", pb::NodeGetInfoRequest {}.encode_to_vec()),
    ];
    for (rpc, body) in seeds {
        let index = RPCS.iter().position(|r| *r == rpc).expect("known RPC");
        // One seed per plugin flavour: full (0) and minimal (1).
        for which in 0u8..2 {
            let mut bytes = vec![u8::try_from(index).expect("few RPCs"), which];
            bytes.extend_from_slice(&body);
            std::fs::write(dir.join(format!("{rpc}-{which}.pb")), bytes).expect("write seed");
        }
    }
}
