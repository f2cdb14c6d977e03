//! Everything the plugin knows, in one JSON file next to the volumes.
//!
//! Every change is written to `state.json.tmp`, synced and renamed over
//! `state.json`, so a crash leaves either the old or the new state and a
//! restarted plugin carries on where it stopped: volumes, snapshots,
//! publications and mounts (which the kernel keeps) all survive.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a volume's content came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    Snapshot(String),
    Volume(String),
}

/// One volume: a directory under `volumes/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub id: String,
    pub name: String,
    pub capacity: u64,
    pub source: Option<Source>,
    /// Controller publications: node id → read-only.
    #[serde(default)]
    pub published: BTreeMap<String, bool>,
    /// Staging paths on this node.
    #[serde(default)]
    pub staged: BTreeSet<PathBuf>,
    /// Target paths on this node → read-only.
    #[serde(default)]
    pub targets: BTreeMap<PathBuf, bool>,
}

/// One snapshot: a copy of a volume's directory under `snapshots/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub id: String,
    pub name: String,
    pub source_volume_id: String,
    pub size: u64,
    pub created_unix_secs: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub volumes: BTreeMap<String, VolumeRecord>,
    #[serde(default)]
    pub snapshots: BTreeMap<String, SnapshotRecord>,
}

impl State {
    /// Reads the state of `data_dir`, or an empty one on first start.
    pub fn load(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("state.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is corrupt: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the state atomically.
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let tmp = data_dir.join("state.json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, data_dir.join("state.json"))?;
        std::fs::File::open(data_dir)?.sync_all()
    }

    pub fn volume_by_name(&self, name: &str) -> Option<&VolumeRecord> {
        self.volumes.values().find(|v| v.name == name)
    }

    pub fn snapshot_by_name(&self, name: &str) -> Option<&SnapshotRecord> {
        self.snapshots.values().find(|s| s.name == name)
    }

    pub fn allocated(&self) -> u64 {
        self.volumes.values().map(|v| v.capacity).sum()
    }
}

/// A fresh random identifier (128 bits, hex).
pub fn new_id() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Copies a directory tree (files, directories, symlinks).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// Bytes used by the files of a tree (symlinks not followed).
pub fn tree_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = std::fs::symlink_metadata(entry.path())?;
        if meta.is_dir() {
            total += tree_size(&entry.path())?;
        } else {
            total += meta.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_disk() {
        let dir = std::env::temp_dir().join(format!("hostpath-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = State::default();
        s.volumes.insert(
            "a".into(),
            VolumeRecord {
                id: "a".into(),
                name: "vol".into(),
                capacity: 5,
                source: Some(Source::Snapshot("s".into())),
                published: BTreeMap::from([("node".into(), true)]),
                staged: BTreeSet::from([PathBuf::from("/s")]),
                targets: BTreeMap::new(),
            },
        );
        s.save(&dir).unwrap();
        let back = State::load(&dir).unwrap();
        assert_eq!(back.volume_by_name("vol").unwrap().capacity, 5);
        assert_eq!(back.allocated(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ids_are_unique_hex() {
        let a = new_id().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_id().unwrap());
    }
}
