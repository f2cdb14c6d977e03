//! Conversions between the driver's types and the `drivers.proto`
//! messages, private to the driver kind (the host's side of them is the
//! testkit's own).

use std::time::SystemTime;

use nomad_plugin_proto::nomad::drivers as pb;
use serde::de::DeserializeOwned;
use tonic::Status;

use super::*;

pub(super) fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

/// Go's zero time, which Go drivers send for an unknown time and which the
/// client accepts.
pub(super) fn zero_time() -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: -62_135_596_800,
        nanos: 0,
    }
}

pub(super) fn task_info(c: &pb::TaskConfig) -> TaskInfo {
    let res = c.resources.as_ref();
    let alloc = res.and_then(|r| r.allocated_resources.as_ref());
    let linux = res.and_then(|r| r.linux_resources.as_ref());
    TaskInfo {
        alloc_id: c.alloc_id.clone(),
        job_name: c.job_name.clone(),
        job_id: c.job_id.clone(),
        task_group: c.task_group_name.clone(),
        namespace: c.namespace.clone(),
        node_name: c.node_name.clone(),
        node_id: c.node_id.clone(),
        env: c.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        device_env: c
            .device_env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        user: c.user.clone(),
        alloc_dir: c.alloc_dir.clone().into(),
        stdout_path: c.stdout_path.clone().into(),
        stderr_path: c.stderr_path.clone().into(),
        resources: Resources {
            cpu_shares: alloc
                .and_then(|a| a.cpu.as_ref())
                .map_or(0, |c| c.cpu_shares),
            memory_mb: alloc
                .and_then(|a| a.memory.as_ref())
                .map_or(0, |m| m.memory_mb),
            memory_max_mb: alloc
                .and_then(|a| a.memory.as_ref())
                .map_or(0, |m| m.memory_max_mb),
            memory_limit_bytes: linux.map_or(0, |l| l.memory_limit_bytes),
            cpuset_cpus: linux.map(|l| l.cpuset_cpus.clone()).unwrap_or_default(),
            cpuset_cgroup: linux.map(|l| l.cpuset_cgroup.clone()).unwrap_or_default(),
            ports: res
                .map(|r| {
                    r.ports
                        .iter()
                        .map(|p| PortMapping {
                            label: p.label.clone(),
                            value: p.value,
                            to: p.to,
                            host_ip: p.host_ip.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        mounts: c
            .mounts
            .iter()
            .map(|m| Mount {
                task_path: m.task_path.clone(),
                host_path: m.host_path.clone(),
                readonly: m.readonly,
                propagation_mode: m.propagation_mode.clone(),
            })
            .collect(),
        devices: c
            .devices
            .iter()
            .map(|d| DeviceMount {
                task_path: d.task_path.clone(),
                host_path: d.host_path.clone(),
                permissions: d.cgroup_permissions.clone(),
            })
            .collect(),
        dns: c.dns.as_ref().map(|d| DnsConfig {
            servers: d.servers.clone(),
            searches: d.searches.clone(),
            options: d.options.clone(),
        }),
        network: c.network_isolation_spec.as_ref().map(network_from_proto),
    }
}

pub(super) fn network_from_proto(n: &pb::NetworkIsolationSpec) -> NetworkIsolation {
    use pb::network_isolation_spec::NetworkIsolationMode as M;
    NetworkIsolation {
        mode: match M::try_from(n.mode) {
            Ok(M::Group) => NetworkMode::Group,
            Ok(M::Task) => NetworkMode::Task,
            Ok(M::None) => NetworkMode::None,
            _ => NetworkMode::Host,
        },
        path: n.path.clone(),
        labels: n
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        hosts: n
            .hosts_config
            .as_ref()
            .map(|h| (h.hostname.clone(), h.address.clone())),
    }
}

pub(super) fn network_to_proto(n: &NetworkIsolation) -> pb::NetworkIsolationSpec {
    pb::NetworkIsolationSpec {
        mode: mode_to_proto(n.mode) as i32,
        path: n.path.clone(),
        labels: n
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        hosts_config: n.hosts.as_ref().map(|(hostname, address)| pb::HostsConfig {
            hostname: hostname.clone(),
            address: address.clone(),
        }),
    }
}

pub(super) fn mode_to_proto(m: NetworkMode) -> pb::network_isolation_spec::NetworkIsolationMode {
    use pb::network_isolation_spec::NetworkIsolationMode as M;
    match m {
        NetworkMode::Host => M::Host,
        NetworkMode::Group => M::Group,
        NetworkMode::Task => M::Task,
        NetworkMode::None => M::None,
    }
}

pub(super) fn fingerprint_to_proto(f: &Fingerprint) -> pb::FingerprintResponse {
    use pb::fingerprint_response::HealthState as H;
    pb::FingerprintResponse {
        attributes: f
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.to_proto()))
            .collect(),
        health: match f.health {
            Health::Undetected => H::Undetected,
            Health::Unhealthy => H::Unhealthy,
            Health::Healthy => H::Healthy,
        } as i32,
        health_description: f.description.clone(),
        err: String::new(),
    }
}

pub(super) fn usage_to_proto(cpu: &CpuUsage, mem: &MemoryUsage) -> pb::TaskResourceUsage {
    use pb::cpu_usage::Fields as C;
    use pb::memory_usage::Fields as M;
    let mut cf = Vec::new();
    let mut c = pb::CpuUsage::default();
    if let Some(v) = cpu.system_mode {
        c.system_mode = v;
        cf.push(C::SystemMode as i32);
    }
    if let Some(v) = cpu.user_mode {
        c.user_mode = v;
        cf.push(C::UserMode as i32);
    }
    if let Some(v) = cpu.total_ticks {
        c.total_ticks = v;
        cf.push(C::TotalTicks as i32);
    }
    if let Some(v) = cpu.throttled_periods {
        c.throttled_periods = v;
        cf.push(C::ThrottledPeriods as i32);
    }
    if let Some(v) = cpu.throttled_time {
        c.throttled_time = v;
        cf.push(C::ThrottledTime as i32);
    }
    if let Some(v) = cpu.percent {
        c.percent = v;
        cf.push(C::Percent as i32);
    }
    c.measured_fields = cf;
    let mut mf = Vec::new();
    let mut m = pb::MemoryUsage::default();
    for (value, slot, field) in [
        (mem.rss, &mut m.rss, M::Rss),
        (mem.cache, &mut m.cache, M::Cache),
        (mem.max_usage, &mut m.max_usage, M::MaxUsage),
        (mem.kernel_usage, &mut m.kernel_usage, M::KernelUsage),
        (
            mem.kernel_max_usage,
            &mut m.kernel_max_usage,
            M::KernelMaxUsage,
        ),
        (mem.usage, &mut m.usage, M::Usage),
        (mem.swap, &mut m.swap, M::Swap),
    ] {
        if let Some(v) = value {
            *slot = v;
            mf.push(field as i32);
        }
    }
    m.measured_fields = mf;
    pb::TaskResourceUsage {
        cpu: Some(c),
        memory: Some(m),
    }
}

pub(super) fn state_to_proto(s: TaskState) -> pb::TaskState {
    match s {
        TaskState::Unknown => pb::TaskState::Unknown,
        TaskState::Running => pb::TaskState::Running,
        TaskState::Exited => pb::TaskState::Exited,
    }
}

pub(super) fn decode_task_config<C: DeserializeOwned>(bytes: &[u8]) -> Result<C, Status> {
    crate::config::from_msgpack(bytes)
        .map_err(|e| Status::invalid_argument(format!("invalid task config: {e}")))
}
