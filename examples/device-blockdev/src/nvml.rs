//! Reading NVIDIA GPUs through NVML (feature `nvml`). `libnvidia-ml.so` is
//! opened at run time by nvml-wrapper, so the binary starts on machines
//! without the driver and simply reports no GPUs there.

use nvml_wrapper::enum_wrappers::device::{
    Clock, EccCounter, MemoryError, MemoryLocation, TemperatureSensor,
};
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::{Device, Nvml};

use crate::gpu::{pcie_bandwidth_mb_s, GpuInfo, GpuStatus};

/// An open NVML library.
pub struct NvmlSource {
    nvml: Nvml,
}

const MIB: u64 = 1024 * 1024;

/// `Ok(None)` for "not supported on this GPU", as Nomad's plugin treats it.
fn optional<T>(r: Result<T, NvmlError>) -> Result<Option<T>, NvmlError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(NvmlError::NotSupported) => Ok(None),
        Err(e) => Err(e),
    }
}

fn enabled(b: bool) -> String {
    if b { "Enabled" } else { "Disabled" }.to_string()
}

impl NvmlSource {
    /// Loads and initialises NVML; `Ok(None)` when the library is not
    /// installed (no NVIDIA driver on this machine).
    pub fn open() -> Result<Option<Self>, String> {
        match Nvml::init() {
            Ok(nvml) => Ok(Some(NvmlSource { nvml })),
            Err(NvmlError::LibloadingError(e)) => {
                tracing::info!(error = %e, "NVML library not found: no NVIDIA GPUs reported");
                Ok(None)
            }
            Err(NvmlError::LibraryNotFound | NvmlError::DriverNotLoaded) => Ok(None),
            Err(e) => Err(format!("initialising NVML: {e}")),
        }
    }

    fn devices(&self) -> Result<Vec<Device<'_>>, NvmlError> {
        let n = self.nvml.device_count()?;
        (0..n).map(|i| self.nvml.device_by_index(i)).collect()
    }

    /// The driver version and every GPU's fingerprint data.
    pub fn fingerprint(&self) -> Result<(String, Vec<GpuInfo>), String> {
        let read = || -> Result<(String, Vec<GpuInfo>), NvmlError> {
            let driver = self.nvml.sys_driver_version()?;
            let mut out = Vec::new();
            for d in self.devices()? {
                let width = optional(d.max_pcie_link_width())?.unwrap_or(0);
                let generation = optional(d.max_pcie_link_gen())?.unwrap_or(0);
                out.push(GpuInfo {
                    uuid: d.uuid()?,
                    name: Some(d.name()?),
                    memory_mib: Some(d.memory_info()?.total / MIB),
                    power_w: optional(d.power_usage())?.map(|mw| u64::from(mw) / 1000),
                    bar1_mib: optional(d.bar1_memory_info())?.map(|b| b.total / MIB),
                    pci_bandwidth_mb_s: Some(pcie_bandwidth_mb_s(generation, width)),
                    pci_bus_id: d.pci_info()?.bus_id,
                    cores_clock_mhz: Some(u64::from(d.clock_info(Clock::Graphics)?)),
                    memory_clock_mhz: optional(d.clock_info(Clock::Memory))?.map(u64::from),
                    display_state: enabled(d.is_display_active()?),
                    persistence_mode: enabled(d.is_in_persistent_mode()?),
                });
            }
            Ok((driver, out))
        };
        read().map_err(|e| format!("NVML fingerprint: {e}"))
    }

    /// Every GPU's statistics now.
    pub fn stats(&self) -> Result<Vec<GpuStatus>, String> {
        let read = || -> Result<Vec<GpuStatus>, NvmlError> {
            let mut out = Vec::new();
            for d in self.devices()? {
                let mem = optional(d.memory_info())?;
                let bar1 = optional(d.bar1_memory_info())?;
                let util = optional(d.utilization_rates())?;
                let ecc = |loc| {
                    optional(d.memory_error_counter(
                        MemoryError::Corrected,
                        EccCounter::Volatile,
                        loc,
                    ))
                };
                out.push(GpuStatus {
                    uuid: d.uuid()?,
                    name: Some(d.name()?),
                    power_usage_w: optional(d.power_usage())?.map(|mw| u64::from(mw) / 1000),
                    power_w: optional(d.enforced_power_limit())?.map(|mw| u64::from(mw) / 1000),
                    gpu_utilization: util.as_ref().map(|u| u64::from(u.gpu)),
                    memory_utilization: util.as_ref().map(|u| u64::from(u.memory)),
                    encoder_utilization: optional(d.encoder_utilization())?
                        .map(|u| u64::from(u.utilization)),
                    decoder_utilization: optional(d.decoder_utilization())?
                        .map(|u| u64::from(u.utilization)),
                    temperature_c: optional(d.temperature(TemperatureSensor::Gpu))?.map(u64::from),
                    used_memory_mib: mem.as_ref().map(|m| m.used / MIB),
                    memory_mib: mem.as_ref().map(|m| m.total / MIB),
                    bar1_used_mib: bar1.as_ref().map(|b| b.used / MIB),
                    bar1_mib: bar1.as_ref().map(|b| b.total / MIB),
                    ecc_l1: ecc(MemoryLocation::L1Cache)?,
                    ecc_l2: ecc(MemoryLocation::L2Cache)?,
                    ecc_device: ecc(MemoryLocation::Device)?,
                });
            }
            Ok(out)
        };
        read().map_err(|e| format!("NVML stats: {e}"))
    }
}
