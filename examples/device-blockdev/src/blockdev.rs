//! Block devices as the kernel lists them in `/sys/block`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nomad_plugin_sdk::device::{
    Attribute, DeviceGroup, DeviceGroupStats, DeviceInstance, DeviceStats, StatValue,
};

/// Vendor of every group this source reports.
pub const VENDOR: &str = "linux";
/// Device type of every group.
pub const DEVICE_TYPE: &str = "block";

/// One block device read from sysfs.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockDevice {
    /// Kernel name (`sda`, `nvme0n1`): the instance id. Stable while the
    /// machine is up, so across plugin restarts.
    pub name: String,
    /// `device/model`, else the driver's name, else `unknown`.
    pub model: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Spinning disk.
    pub rotational: bool,
    /// Removable media.
    pub removable: bool,
    /// Read-only.
    pub read_only: bool,
    /// Logical block size, bytes.
    pub logical_block_size: u64,
    /// Physical block size, bytes.
    pub physical_block_size: u64,
    /// I/O scheduler in use (`none`, `mq-deadline`), when the queue has one.
    pub scheduler: Option<String>,
    /// `queue/nr_requests`.
    pub nr_requests: Option<u64>,
    /// PCI address of the controller, when the device hangs off PCI.
    pub pci_bus_id: Option<String>,
    /// SCSI `device/state` when it is not `running`.
    pub bad_state: Option<String>,
}

/// The `/sys/block`-shaped directory to read (another root in tests).
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_u64(path: &Path) -> Option<u64> {
    read(path).and_then(|s| s.parse().ok())
}

/// `0000:00:02.0`-shaped path components.
fn looks_like_pci(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && s.chars()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
}

/// The selected scheduler in `queue/scheduler` (`none [mq-deadline] bfq`).
fn selected_scheduler(s: &str) -> Option<String> {
    let start = s.find('[')?;
    let end = s[start..].find(']')?;
    Some(s[start + 1..start + end].to_string())
}

/// Shell-style `*` wildcard match.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| wildcard(rest, &tail[i..]))
        }
    }
}

/// Turns a byte count into a short label (`256GiB`, `0B`) for group names.
fn size_label(bytes: u64) -> String {
    match Attribute::size(bytes) {
        Attribute::Int {
            value,
            unit: Some(u),
        } => format!("{value}{u}"),
        _ => format!("{bytes}B"),
    }
}

impl Sysfs {
    /// Reads devices from `root` (normally `/sys/block`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Sysfs { root: root.into() }
    }

    /// Every device whose name passes the filters, sorted by name.
    pub fn scan(
        &self,
        include: &[String],
        exclude: &[String],
    ) -> std::io::Result<Vec<BlockDevice>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let included = include.is_empty() || include.iter().any(|p| wildcard(p, &name));
            if !included || exclude.iter().any(|p| wildcard(p, &name)) {
                continue;
            }
            out.push(self.device(&name));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn device(&self, name: &str) -> BlockDevice {
        let dir = self.root.join(name);
        let real = std::fs::canonicalize(dir.join("device")).unwrap_or_default();
        let driver = std::fs::read_link(dir.join("device/driver"))
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        let model = read(&dir.join("device/model"))
            .filter(|m| !m.is_empty())
            .or(driver)
            .or_else(|| {
                // Virtual devices: the name without its number (`loop`, `zram`).
                let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
                (!stem.is_empty()).then(|| stem.to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let pci_bus_id = real
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .rfind(|c| looks_like_pci(c))
            .map(str::to_string);
        BlockDevice {
            name: name.to_string(),
            model,
            size_bytes: read_u64(&dir.join("size")).unwrap_or(0).saturating_mul(512),
            rotational: read_u64(&dir.join("queue/rotational")) == Some(1),
            removable: read_u64(&dir.join("removable")) == Some(1),
            read_only: read_u64(&dir.join("ro")) == Some(1),
            logical_block_size: read_u64(&dir.join("queue/logical_block_size")).unwrap_or(512),
            physical_block_size: read_u64(&dir.join("queue/physical_block_size")).unwrap_or(512),
            scheduler: read(&dir.join("queue/scheduler")).and_then(|s| selected_scheduler(&s)),
            nr_requests: read_u64(&dir.join("queue/nr_requests")),
            pci_bus_id,
            bad_state: read(&dir.join("device/state")).filter(|s| s != "running"),
        }
    }

    /// The counters of `/sys/block/<name>/stat`.
    pub fn io_stats(&self, name: &str) -> Option<IoStats> {
        IoStats::parse(&read(&self.root.join(name).join("stat"))?)
    }
}

/// Devices grouped by model, size and kind: Nomad wants identical devices
/// in one group, with shared attributes.
pub fn fingerprint(devices: &[BlockDevice]) -> Vec<DeviceGroup> {
    let mut groups: BTreeMap<(String, u64, bool), Vec<&BlockDevice>> = BTreeMap::new();
    for d in devices {
        groups
            .entry((d.model.clone(), d.size_bytes, d.rotational))
            .or_default()
            .push(d);
    }
    groups
        .into_iter()
        .map(|((model, size, rotational), list)| {
            let first = list[0];
            let kind = if rotational { "hdd" } else { "ssd" };
            let mut g = DeviceGroup::new(
                VENDOR,
                DEVICE_TYPE,
                format!("{model}-{}-{kind}", size_label(size)),
            )
            .attribute("model", model.as_str())
            .attribute("size", Attribute::size(size))
            .attribute("rotational", rotational)
            .attribute("removable", first.removable)
            .attribute("logical_block_size", first.logical_block_size as i64)
            .attribute("physical_block_size", first.physical_block_size as i64);
            if let Some(s) = &first.scheduler {
                g = g.attribute("scheduler", s.as_str());
            }
            if let Some(n) = first.nr_requests {
                g = g.attribute("nr_requests", n as i64);
            }
            for d in list {
                let mut inst = DeviceInstance::new(&d.name);
                if let Some(p) = &d.pci_bus_id {
                    inst = inst.pci_bus_id(p);
                }
                if let Some(state) = &d.bad_state {
                    inst = inst.unhealthy(format!("device state is {state}"));
                } else if d.read_only {
                    inst = inst.unhealthy("device is read-only");
                }
                g = g.device(inst);
            }
            g
        })
        .collect()
}

/// The cumulative counters of a block device (`Documentation/block/stat.rst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoStats {
    /// Reads completed.
    pub reads: u64,
    /// 512-byte sectors read.
    pub sectors_read: u64,
    /// Writes completed.
    pub writes: u64,
    /// 512-byte sectors written.
    pub sectors_written: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// Milliseconds the device was busy.
    pub io_ticks_ms: u64,
}

impl IoStats {
    /// Parses the whitespace-separated `stat` line (11 fields or more).
    pub fn parse(line: &str) -> Option<IoStats> {
        let f: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        if f.len() < 11 {
            return None;
        }
        Some(IoStats {
            reads: f[0],
            sectors_read: f[2],
            writes: f[4],
            sectors_written: f[6],
            in_flight: f[8],
            io_ticks_ms: f[9],
        })
    }
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// One device's statistics; `busy` is the share of the last interval the
/// device was busy (None on the first round).
pub fn device_stats(s: &IoStats, busy_percent: Option<f64>) -> DeviceStats {
    let summary = match busy_percent {
        Some(p) => StatValue::float(p),
        None => StatValue::text("N/A"),
    }
    .unit("%")
    .desc("Share of the last interval the device was busy");
    DeviceStats::new(summary.clone())
        .stat("Utilization", summary)
        .stat("Reads completed", StatValue::int(int(s.reads)).unit("#"))
        .stat(
            "Bytes read",
            StatValue::int(int(s.sectors_read.saturating_mul(512))).unit("B"),
        )
        .stat("Writes completed", StatValue::int(int(s.writes)).unit("#"))
        .stat(
            "Bytes written",
            StatValue::int(int(s.sectors_written.saturating_mul(512))).unit("B"),
        )
        .stat("In flight", StatValue::int(int(s.in_flight)).unit("#"))
        .stat("Busy time", StatValue::int(int(s.io_ticks_ms)).unit("ms"))
}

/// Statistics for `groups`, taking each device's counters from `read`.
pub fn stats(
    groups: &[DeviceGroup],
    mut read: impl FnMut(&str) -> Option<(IoStats, Option<f64>)>,
) -> Vec<DeviceGroupStats> {
    groups
        .iter()
        .filter(|g| g.vendor == VENDOR)
        .map(|g| {
            let mut out = DeviceGroupStats::of(g);
            for d in &g.devices {
                if let Some((s, busy)) = read(&d.id) {
                    out = out.instance(&d.id, device_stats(&s, busy));
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomad_plugin_sdk::device::{validate_fingerprint, Stat, Unit};

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn fake_sysfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for (name, model, sectors, rot) in [
            ("sda", "Samsung SSD 870 ", "1953525168", "0"),
            ("sdb", "Samsung SSD 870 ", "1953525168", "0"),
            ("sdc", "WDC WD40EFRX", "7814037168", "1"),
        ] {
            write(r, &format!("{name}/device/model"), model);
            write(r, &format!("{name}/size"), sectors);
            write(r, &format!("{name}/queue/rotational"), rot);
            write(
                r,
                &format!("{name}/queue/scheduler"),
                "none [mq-deadline] kyber\n",
            );
            write(r, &format!("{name}/queue/logical_block_size"), "512");
            write(r, &format!("{name}/queue/physical_block_size"), "4096");
            write(r, &format!("{name}/removable"), "0");
            write(r, &format!("{name}/ro"), "0");
            write(
                r,
                &format!("{name}/stat"),
                "  100 5 8000 40 50 1 4000 30 2 70 90 0 0 0 0 0 0\n",
            );
        }
        write(r, "sdb/device/state", "offline");
        write(r, "loop0/size", "0");
        dir
    }

    #[test]
    fn scans_filters_and_groups() {
        let dir = fake_sysfs();
        let sys = Sysfs::new(dir.path());
        let all = sys.scan(&[], &["loop*".into()]).unwrap();
        assert_eq!(
            all.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["sda", "sdb", "sdc"]
        );
        assert_eq!(all[0].model, "Samsung SSD 870");
        assert_eq!(all[0].scheduler.as_deref(), Some("mq-deadline"));
        assert_eq!(all[1].bad_state.as_deref(), Some("offline"));
        let only = sys.scan(&["sd[ab]".into(), "sdc".into()], &[]).unwrap();
        assert_eq!(only.len(), 1, "no character classes, exact names only");

        let groups = fingerprint(&all);
        validate_fingerprint(&groups).unwrap();
        assert_eq!(groups.len(), 2);
        let ssd = &groups[0];
        assert_eq!(ssd.name, "Samsung SSD 870-976762584KiB-ssd");
        assert_eq!(ssd.devices.len(), 2);
        assert!(ssd.devices[0].healthy);
        assert!(!ssd.devices[1].healthy);
        assert_eq!(ssd.devices[1].health_description, "device state is offline");
        assert_eq!(ssd.attributes["rotational"], Attribute::Bool(false));
        assert_eq!(ssd.attributes["scheduler"], Attribute::from("mq-deadline"));
        let hdd = &groups[1];
        assert_eq!(hdd.attributes["rotational"], Attribute::Bool(true));
        assert_eq!(hdd.attributes["size"].unit(), Some(Unit::KiB));
    }

    #[test]
    fn stats_from_the_stat_file() {
        let dir = fake_sysfs();
        let sys = Sysfs::new(dir.path());
        let s = sys.io_stats("sda").unwrap();
        assert_eq!(s.reads, 100);
        assert_eq!(s.sectors_written, 4000);
        assert_eq!(s.io_ticks_ms, 70);
        assert!(IoStats::parse("1 2 3").is_none());
        assert!(IoStats::parse("a b c d e f g h i j k").is_none());
        let groups = fingerprint(&sys.scan(&[], &["loop*".into()]).unwrap());
        let stats = stats(&groups, |id| sys.io_stats(id).map(|s| (s, Some(12.5))));
        let sda = &stats[0].instances["sda"];
        assert_eq!(sda.summary.as_ref().unwrap().value, Stat::Float(12.5));
        assert_eq!(
            sda.stats.attributes["Bytes written"].value,
            Stat::Int(2_048_000)
        );
        assert_eq!(stats[0].instances.len(), 2);
    }

    #[test]
    fn helpers() {
        assert!(wildcard("loop*", "loop12"));
        assert!(wildcard("*", ""));
        assert!(wildcard("nvme*n1", "nvme0n1"));
        assert!(!wildcard("nvme*n1", "nvme0n2"));
        assert!(looks_like_pci("0000:00:02.0"));
        assert!(!looks_like_pci("virtio1"));
        assert_eq!(selected_scheduler("[none] bfq").as_deref(), Some("none"));
        assert_eq!(size_label(256 << 30), "256GiB");
        assert_eq!(size_label(0), "0B");
    }
}
