//! The agent settings Nomad passes in `SetConfig`, as typed values.

use nomad_plugin_proto::nomad::base as pb;

/// What the Nomad agent tells a plugin about itself in `SetConfig`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The plugin API version Nomad picked from [`PluginInfo::api_versions`](super::PluginInfo::api_versions).
    pub api_version: String,
    /// Settings for task drivers; `None` during the agent's configuration
    /// validation (the first `SetConfig` calls at start-up).
    pub driver: Option<DriverAgentConfig>,
}

/// Client settings sent to task drivers.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DriverAgentConfig {
    /// Lowest loopback port of the range the client uses for its own plugin
    /// subsystems (`client_min_port`, default 14000).
    pub client_min_port: u32,
    /// Highest port of that range (`client_max_port`, default 14512).
    pub client_max_port: u32,
    /// The client's CPU and NUMA topology, when the client sent it.
    pub topology: Option<Topology>,
}

/// Whether a core is a performance or an efficiency core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreGrade {
    /// A performance core.
    Performance,
    /// An efficiency core.
    Efficiency,
}

/// One CPU core as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Core {
    /// Socket the core is on.
    pub socket_id: u32,
    /// NUMA node the core belongs to.
    pub numa_node: u32,
    /// The core's id.
    pub id: u32,
    /// Performance or efficiency.
    pub grade: CoreGrade,
    /// Excluded from use by the client's configuration.
    pub disabled: bool,
    /// Base frequency in MHz (0 when unknown).
    pub base_mhz: u64,
    /// Maximum frequency in MHz (0 when unknown).
    pub max_mhz: u64,
    /// Estimated frequency in MHz, when neither is known.
    pub guess_mhz: u64,
}

impl Core {
    /// The speed Nomad counts for this core: base, else max, else guessed.
    pub fn mhz(&self) -> u64 {
        if self.base_mhz > 0 {
            self.base_mhz
        } else if self.max_mhz > 0 {
            self.max_mhz
        } else {
            self.guess_mhz
        }
    }
}

/// The client's CPU and NUMA layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Topology {
    /// NUMA node ids.
    pub numa_nodes: Vec<u32>,
    /// Relative memory access cost between NUMA nodes:
    /// `distances[from][to]`.
    pub distances: Vec<Vec<u32>>,
    /// Every core.
    pub cores: Vec<Core>,
    /// `cpu_total_compute` set by the operator (MHz); 0 when unset.
    pub override_total_compute_mhz: u64,
    /// Compute the operator reserved for the system (MHz).
    pub withheld_compute_mhz: u64,
}

impl Topology {
    /// Total compute in MHz, as Nomad computes it: the operator's override,
    /// or the sum of every core's speed.
    pub fn total_compute_mhz(&self) -> u64 {
        if self.override_total_compute_mhz > 0 {
            return self.override_total_compute_mhz;
        }
        self.cores.iter().map(Core::mhz).sum()
    }

    /// Compute in MHz available to tasks: the override, or the sum over the
    /// cores not disabled, minus what the operator withheld.
    pub fn usable_compute_mhz(&self) -> u64 {
        if self.override_total_compute_mhz > 0 {
            return self.override_total_compute_mhz;
        }
        let total: u64 = self
            .cores
            .iter()
            .filter(|c| !c.disabled)
            .map(Core::mhz)
            .sum();
        total.saturating_sub(self.withheld_compute_mhz)
    }

    /// Number of cores, usable or not.
    pub fn num_cores(&self) -> usize {
        self.cores.len()
    }
}

#[cfg_attr(not(any(feature = "driver", feature = "device")), allow(dead_code))]
impl AgentConfig {
    pub(crate) fn from_proto(api_version: String, nomad: Option<&pb::NomadConfig>) -> Self {
        AgentConfig {
            api_version,
            driver: nomad
                .and_then(|n| n.driver.as_ref())
                .map(|d| DriverAgentConfig {
                    client_min_port: d.client_min_port,
                    client_max_port: d.client_max_port,
                    topology: d.topology.as_ref().map(topology_from_proto),
                }),
        }
    }
}

#[cfg_attr(not(any(feature = "driver", feature = "device")), allow(dead_code))]
fn topology_from_proto(t: &pb::ClientTopology) -> Topology {
    let distances = t
        .distances
        .as_ref()
        .map(|slit| {
            let dim = slit.dimension as usize;
            if dim == 0 {
                return Vec::new();
            }
            slit.values.chunks(dim).map(<[u32]>::to_vec).collect()
        })
        .unwrap_or_default();
    Topology {
        numa_nodes: t.node_ids.clone(),
        distances,
        cores: t
            .cores
            .iter()
            .map(|c| Core {
                socket_id: c.socket_id,
                numa_node: c.node_id,
                id: c.core_id,
                grade: if c.core_grade == pb::CoreGrade::Efficiency as i32 {
                    CoreGrade::Efficiency
                } else {
                    CoreGrade::Performance
                },
                disabled: c.disable,
                base_mhz: c.base_speed,
                max_mhz: c.max_speed,
                guess_mhz: c.guess_speed,
            })
            .collect(),
        override_total_compute_mhz: t.override_total_compute,
        withheld_compute_mhz: t.override_withold_compute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(base: u64, max: u64, guess: u64, disabled: bool) -> Core {
        Core {
            socket_id: 0,
            numa_node: 0,
            id: 0,
            grade: CoreGrade::Performance,
            disabled,
            base_mhz: base,
            max_mhz: max,
            guess_mhz: guess,
        }
    }

    #[test]
    fn compute_follows_nomad() {
        let t = Topology {
            cores: vec![
                core(2000, 3000, 0, false),
                core(0, 3000, 0, false),
                core(0, 0, 1500, true),
            ],
            withheld_compute_mhz: 500,
            ..Default::default()
        };
        assert_eq!(t.total_compute_mhz(), 6500);
        assert_eq!(t.usable_compute_mhz(), 4500);
        let o = Topology {
            override_total_compute_mhz: 9000,
            ..t
        };
        assert_eq!(o.total_compute_mhz(), 9000);
        assert_eq!(o.usable_compute_mhz(), 9000);
    }

    #[test]
    fn agent_config_from_proto() {
        let pbc = pb::NomadConfig {
            driver: Some(pb::NomadDriverConfig {
                client_max_port: 14512,
                client_min_port: 14000,
                topology: Some(pb::ClientTopology {
                    node_ids: vec![0, 1],
                    distances: Some(pb::ClientTopologySlit {
                        values: vec![10, 20, 20, 10],
                        dimension: 2,
                    }),
                    ..Default::default()
                }),
            }),
        };
        let a = AgentConfig::from_proto("v0.1.0".into(), Some(&pbc));
        let d = a.driver.expect("driver config");
        assert_eq!((d.client_min_port, d.client_max_port), (14000, 14512));
        let t = d.topology.expect("topology");
        assert_eq!(t.distances, vec![vec![10, 20], vec![20, 10]]);
        assert!(AgentConfig::from_proto("v0.1.0".into(), None)
            .driver
            .is_none());
    }
}
