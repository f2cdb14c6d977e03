//! NVIDIA GPUs as Nomad's own nvidia device plugin reports them: the same
//! group layout, attribute names and units, statistic names and units.
//!
//! This module only maps plain data to Nomad types, so it is compiled and
//! unit-tested everywhere; reading the data from NVML is in `nvml.rs`,
//! behind the `nvml` feature.

use std::collections::BTreeMap;

use nomad_plugin_sdk::device::{
    Attribute, DeviceGroup, DeviceGroupStats, DeviceInstance, DeviceStats, StatValue,
};

/// Vendor and type of every GPU group, as in Nomad's nvidia plugin.
pub const VENDOR: &str = "nvidia";
/// Device type.
pub const DEVICE_TYPE: &str = "gpu";
/// What is reported when NVML cannot tell.
pub const NOT_AVAILABLE: &str = "N/A";
/// The variable the NVIDIA container runtime reads.
pub const VISIBLE_DEVICES_ENV: &str = "NVIDIA_VISIBLE_DEVICES";

/// What fingerprinting reads from one GPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuInfo {
    /// `GPU-…` (or `MIG-…`) UUID: the instance id.
    pub uuid: String,
    /// Model; GPUs are grouped by it.
    pub name: Option<String>,
    /// Total memory.
    pub memory_mib: Option<u64>,
    /// Power draw at fingerprint time, in watts (what Nomad's plugin reports as `power`).
    pub power_w: Option<u64>,
    /// BAR1 size.
    pub bar1_mib: Option<u64>,
    /// Maximum PCIe bandwidth.
    pub pci_bandwidth_mb_s: Option<u64>,
    /// PCI bus id.
    pub pci_bus_id: String,
    /// Graphics clock.
    pub cores_clock_mhz: Option<u64>,
    /// Memory clock.
    pub memory_clock_mhz: Option<u64>,
    /// `Enabled`/`Disabled`.
    pub display_state: String,
    /// `Enabled`/`Disabled`.
    pub persistence_mode: String,
}

/// What a statistics round reads from one GPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuStatus {
    /// Instance id.
    pub uuid: String,
    /// Model (the group name).
    pub name: Option<String>,
    /// Power draw, watts.
    pub power_usage_w: Option<u64>,
    /// Power limit, watts.
    pub power_w: Option<u64>,
    /// Percent.
    pub gpu_utilization: Option<u64>,
    /// Percent.
    pub memory_utilization: Option<u64>,
    /// Percent.
    pub encoder_utilization: Option<u64>,
    /// Percent.
    pub decoder_utilization: Option<u64>,
    /// Degrees Celsius.
    pub temperature_c: Option<u64>,
    /// Used memory.
    pub used_memory_mib: Option<u64>,
    /// Total memory.
    pub memory_mib: Option<u64>,
    /// Used BAR1.
    pub bar1_used_mib: Option<u64>,
    /// Total BAR1.
    pub bar1_mib: Option<u64>,
    /// Corrected ECC errors in L1 cache.
    pub ecc_l1: Option<u64>,
    /// Corrected ECC errors in L2 cache.
    pub ecc_l2: Option<u64>,
    /// Corrected ECC errors in device memory.
    pub ecc_device: Option<u64>,
}

/// Maximum PCIe bandwidth in MB/s for a link generation and width, as
/// Nomad's nvidia plugin computes it (unknown generations give 0).
pub fn pcie_bandwidth_mb_s(generation: u32, width: u32) -> u64 {
    let per_lane: u64 = match generation {
        3 => 1 << 10,
        4 => 2 << 10,
        5 => 3 << 10,
        6 => 4 << 10,
        _ => 0,
    };
    per_lane * u64::from(width)
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn group_name(name: &Option<String>) -> String {
    name.clone().unwrap_or_else(|| NOT_AVAILABLE.to_string())
}

/// Groups GPUs by model, with the attributes of the first of each group
/// plus the driver version.
pub fn fingerprint(driver_version: &str, gpus: &[GpuInfo]) -> Vec<DeviceGroup> {
    let mut by_name: BTreeMap<String, Vec<&GpuInfo>> = BTreeMap::new();
    for g in gpus {
        by_name.entry(group_name(&g.name)).or_default().push(g);
    }
    by_name
        .into_iter()
        .map(|(name, list)| {
            let first = list[0];
            let mut group = DeviceGroup::new(VENDOR, DEVICE_TYPE, name)
                .attribute("driver_version", driver_version)
                .attribute("display_state", first.display_state.as_str())
                .attribute("persistence_mode", first.persistence_mode.as_str());
            let numbers = [
                ("memory", first.memory_mib.map(|v| Attribute::mib(int(v)))),
                ("power", first.power_w.map(|v| Attribute::watts(int(v)))),
                ("bar1", first.bar1_mib.map(|v| Attribute::mib(int(v)))),
                (
                    "cores_clock",
                    first.cores_clock_mhz.map(|v| Attribute::mhz(int(v))),
                ),
                (
                    "memory_clock",
                    first.memory_clock_mhz.map(|v| Attribute::mhz(int(v))),
                ),
                (
                    "pci_bandwidth",
                    first
                        .pci_bandwidth_mb_s
                        .map(|v| Attribute::mb_per_s(int(v))),
                ),
            ];
            for (key, value) in numbers {
                if let Some(v) = value {
                    group = group.attribute(key, v);
                }
            }
            for g in list {
                // NVML gives no health signal here; Nomad's plugin reports
                // every GPU it sees as healthy too.
                group = group.device(DeviceInstance::new(&g.uuid).pci_bus_id(&g.pci_bus_id));
            }
            group
        })
        .collect()
}

fn value_or_na(v: Option<u64>, unit: &str, desc: &str) -> StatValue {
    match v {
        Some(v) => StatValue::int(int(v)),
        None => StatValue::text(NOT_AVAILABLE),
    }
    .unit(unit)
    .desc(desc)
}

fn ratio_or_na(v: Option<u64>, total: Option<u64>, unit: &str, desc: &str) -> StatValue {
    match (v, total) {
        (Some(v), Some(t)) => StatValue::ratio(int(v), int(t)),
        _ => StatValue::text(NOT_AVAILABLE),
    }
    .unit(unit)
    .desc(desc)
}

/// One GPU's statistics, named and united as in Nomad's nvidia plugin;
/// the summary is used / total memory.
pub fn device_stats(s: &GpuStatus) -> DeviceStats {
    let memory = ratio_or_na(
        s.used_memory_mib,
        s.memory_mib,
        "MiB",
        "UsedMemory / TotalMemory",
    );
    DeviceStats::new(memory.clone())
        .stat(
            "Power usage",
            ratio_or_na(
                s.power_usage_w,
                s.power_w,
                "W",
                "Power usage for this GPU in watts and its associated circuitry (e.g. memory) / Maximum GPU Power",
            ),
        )
        .stat(
            "GPU utilization",
            value_or_na(
                s.gpu_utilization,
                "%",
                "Percent of time over the past sample period during which one or more kernels were executing on the GPU.",
            ),
        )
        .stat(
            "Memory utilization",
            value_or_na(
                s.memory_utilization,
                "%",
                "Percentage of bandwidth used during the past sample period",
            ),
        )
        .stat(
            "Encoder utilization",
            value_or_na(
                s.encoder_utilization,
                "%",
                "Percent of time over the past sample period during which GPU Encoder was used",
            ),
        )
        .stat(
            "Decoder utilization",
            value_or_na(
                s.decoder_utilization,
                "%",
                "Percent of time over the past sample period during which GPU Decoder was used",
            ),
        )
        .stat(
            "Temperature",
            value_or_na(s.temperature_c, "C", "Temperature of the Unit"),
        )
        .stat("Memory state", memory)
        .stat(
            "BAR1 buffer state",
            ratio_or_na(s.bar1_used_mib, s.bar1_mib, "MiB", "UsedBAR1 / TotalBAR1"),
        )
        .stat(
            "ECC L1 errors",
            value_or_na(s.ecc_l1, "#", "Requested L1Cache error counter for the device"),
        )
        .stat(
            "ECC L2 errors",
            value_or_na(s.ecc_l2, "#", "Requested L2Cache error counter for the device"),
        )
        .stat(
            "ECC memory errors",
            value_or_na(s.ecc_device, "#", "Requested memory error counter for the device"),
        )
}

/// Statistics of every GPU, grouped like the fingerprint.
pub fn stats(statuses: &[GpuStatus]) -> Vec<DeviceGroupStats> {
    let mut groups: BTreeMap<String, DeviceGroupStats> = BTreeMap::new();
    for s in statuses {
        let name = group_name(&s.name);
        let entry = groups
            .entry(name.clone())
            .or_insert_with(|| DeviceGroupStats::new(VENDOR, DEVICE_TYPE, name));
        entry.instances.insert(s.uuid.clone(), device_stats(s));
    }
    groups.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomad_plugin_sdk::device::{validate_fingerprint, Stat, Unit};

    fn t4(uuid: &str) -> GpuInfo {
        GpuInfo {
            uuid: uuid.into(),
            name: Some("Tesla T4".into()),
            memory_mib: Some(15360),
            power_w: Some(70),
            bar1_mib: Some(256),
            pci_bandwidth_mb_s: Some(pcie_bandwidth_mb_s(3, 16)),
            pci_bus_id: "00000000:00:1E.0".into(),
            cores_clock_mhz: Some(1590),
            memory_clock_mhz: None,
            display_state: "Disabled".into(),
            persistence_mode: "Enabled".into(),
        }
    }

    #[test]
    fn fingerprint_matches_nomads_nvidia_plugin() {
        let mut unnamed = t4("GPU-3");
        unnamed.name = None;
        let groups = fingerprint("550.54.15", &[t4("GPU-1"), t4("GPU-2"), unnamed]);
        validate_fingerprint(&groups).unwrap();
        assert_eq!(groups.len(), 2);
        let na = &groups[0];
        assert_eq!(na.name, NOT_AVAILABLE);
        let g = &groups[1];
        assert_eq!(
            (g.vendor.as_str(), g.device_type.as_str()),
            ("nvidia", "gpu")
        );
        assert_eq!(g.devices.len(), 2);
        assert_eq!(g.devices[0].pci_bus_id.as_deref(), Some("00000000:00:1E.0"));
        let a = &g.attributes;
        assert_eq!(a["memory"], Attribute::quantity(15360, Unit::MiB));
        assert_eq!(a["power"], Attribute::quantity(70, Unit::W));
        assert_eq!(a["bar1"], Attribute::quantity(256, Unit::MiB));
        assert_eq!(a["cores_clock"], Attribute::quantity(1590, Unit::MHz));
        assert_eq!(a["pci_bandwidth"], Attribute::quantity(16384, Unit::MBPerS));
        assert!(
            !a.contains_key("memory_clock"),
            "absent values are left out"
        );
        assert_eq!(a["driver_version"], Attribute::from("550.54.15"));
        assert_eq!(a["display_state"], Attribute::from("Disabled"));
        assert_eq!(a["persistence_mode"], Attribute::from("Enabled"));
    }

    #[test]
    fn pcie_bandwidth_per_generation() {
        assert_eq!(pcie_bandwidth_mb_s(4, 16), 32768);
        assert_eq!(pcie_bandwidth_mb_s(6, 1), 4096);
        assert_eq!(pcie_bandwidth_mb_s(2, 16), 0);
    }

    #[test]
    fn stats_match_nomads_nvidia_plugin() {
        let full = GpuStatus {
            uuid: "GPU-1".into(),
            name: Some("Tesla T4".into()),
            power_usage_w: Some(30),
            power_w: Some(70),
            gpu_utilization: Some(12),
            memory_utilization: Some(3),
            encoder_utilization: Some(0),
            decoder_utilization: Some(0),
            temperature_c: Some(41),
            used_memory_mib: Some(100),
            memory_mib: Some(15360),
            bar1_used_mib: Some(2),
            bar1_mib: Some(256),
            ecc_l1: Some(0),
            ecc_l2: Some(1),
            ecc_device: Some(2),
        };
        let sparse = GpuStatus {
            uuid: "GPU-2".into(),
            name: Some("Tesla T4".into()),
            ..Default::default()
        };
        let groups = stats(&[full, sparse]);
        assert_eq!(groups.len(), 1);
        let s = &groups[0].instances["GPU-1"];
        assert_eq!(
            s.summary.as_ref().unwrap().value,
            Stat::IntRatio(100, 15360)
        );
        let attrs = &s.stats.attributes;
        assert_eq!(attrs.len(), 11);
        assert_eq!(attrs["Power usage"].value, Stat::IntRatio(30, 70));
        assert_eq!(attrs["Power usage"].unit, "W");
        assert_eq!(attrs["Temperature"].unit, "C");
        assert_eq!(attrs["GPU utilization"].unit, "%");
        assert_eq!(attrs["ECC memory errors"].value, Stat::Int(2));
        assert_eq!(attrs["ECC memory errors"].unit, "#");
        let n = &groups[0].instances["GPU-2"].stats.attributes;
        assert_eq!(n["Temperature"].value, Stat::String("N/A".into()));
        assert_eq!(n["Memory state"].value, Stat::String("N/A".into()));
    }
}
