//! Run and certify Nomad's exec-based plugins: host volume plugins and
//! secret providers (the "common plugin interface").
//!
//! A Nomad client runs these as one-shot executables. The callers here do
//! it the same way: a cleared environment holding only Nomad's variables,
//! stdin `/dev/null`, stdout and stderr captured apart, Nomad's deadlines and
//! kill signals per kind, and stdout decoded with the rules of Go's
//! `encoding/json`. Each answer is turned into what Nomad would do with it:
//! register the plugin or skip it, record the volume or show the operator an
//! error, start the task or fail it, or crash the agent.
//!
//! * [`HostVolumeCaller`] and [`HostVolumeSuite`] for host volume plugins;
//! * [`SecretsCaller`] and [`SecretsSuite`] for secret providers;
//! * [`PluginCommand`] for anything else.
//!
//! ```no_run
//! use nomad_plugin_testkit::common::{HostVolumeSuite, install_plugin};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let plugins = tempfile::tempdir()?;
//! let volumes = tempfile::tempdir()?;
//! install_plugin("target/debug/my-plugin".as_ref(), plugins.path(), "my-plugin")?;
//! let report = HostVolumeSuite::new(plugins.path(), "my-plugin", volumes.path())
//!     .capacity(10 << 20, 20 << 20)
//!     .run()
//!     .await;
//! report.assert_passed();
//! # Ok(())
//! # }
//! ```

mod exec;
mod gojson;
mod host_volume;
mod secrets;
mod suite;

pub use exec::{install_plugin, scan_plugin_dir, Ending, KillPolicy, PluginCommand, RawRun};
pub use host_volume::{
    CreateCall, CreatedVolume, DeleteCall, FingerprintCall, HostVolumeCaller, HostVolumeTimeouts,
    VolumeRequest,
};
pub use secrets::{
    FetchCall, FetchVerdict, NomadVersion, SecretBlock, SecretsCaller, SecretsFingerprintCall,
    KILL_GRACE,
};
pub use suite::{Check, CheckStatus, HostVolumeSuite, SecretsSuite, SuiteReport};

/// What Nomad does with a `fingerprint` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintVerdict {
    /// The plugin is registered with this node attribute.
    Registered {
        /// `plugins.host_volume.<id>.version` or `plugins.secrets.<id>.version`.
        attribute: String,
        /// The attribute's value.
        value: String,
    },
    /// The agent skips the plugin (until the next reload), for this reason.
    Skipped(String),
    /// The Nomad agent crashes, for this reason.
    AgentPanic(String),
}

/// A random version-4 UUID, as Nomad generates for volume and node ids.
pub fn random_uuid() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::time::{SystemTime, UNIX_EPOCH};
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        // RandomState is seeded randomly per instance.
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_look_like_nomads_and_differ() {
        let a = super::random_uuid();
        let b = super::random_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    }
}
