//! The device conformance suite.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nomad_plugin_proto::nomad::device as pb;
use nomad_plugin_sdk::device::DeviceGroup;

use super::{display_name, DeviceHarness, DevicePlugin};
use crate::report::{Progress, SuiteReport};

/// Checks a device plugin against what Nomad's client needs from it.
///
/// Checks, in order: `launch` (start-up sequence through `SetConfig`),
/// `fingerprint.first` (within the deadline), `fingerprint.valid` (what
/// Nomad's validation accepts: names, ids, units), `fingerprint.ids_unique`,
/// `fingerprint.stream_stays_open`, `reserve.known`, `reserve.unknown`,
/// `stats.interval`, `stats.coverage`, `reattach.killed` (after an agent
/// restart Nomad's device manager reattaches to the plugin it left running
/// only to kill it) and `fingerprint.ids_stable` (the same ids after the
/// plugin is restarted).
#[derive(Debug, Clone)]
pub struct DeviceSuite {
    binary: PathBuf,
    config: Option<String>,
    first_fingerprint: Duration,
    stay_open: Duration,
    stats_interval: Duration,
    stats_messages: usize,
    progress: Option<Progress>,
    attach: Option<(crate::launch::Endpoint, u32)>,
}

/// Nomad registers the node without waiting longer than this for the first
/// fingerprints of its plugins (`batchFirstFingerprintsTimeout`).
const NOMAD_FIRST_FINGERPRINT_WAIT: Duration = Duration::from_secs(50);

impl DeviceSuite {
    /// A suite for the plugin binary at `binary`, with no config block.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        DeviceSuite {
            binary: binary.into(),
            config: None,
            first_fingerprint: Duration::from_secs(30),
            stay_open: Duration::from_secs(3),
            stats_interval: Duration::from_secs(1),
            stats_messages: 3,
            progress: None,
            attach: None,
        }
    }

    /// Runs the suite against a plugin started by hand in attach mode
    /// (`NOMAD_PLUGIN_ATTACH=1`) at `endpoint`, process `pid`, instead of
    /// launching `binary`; `fingerprint.ids_stable` (which restarts the
    /// plugin) is skipped.
    pub fn attach(mut self, endpoint: crate::launch::Endpoint, pid: u32) -> Self {
        self.attach = Some((endpoint, pid));
        self
    }

    /// Tells `progress` about each check as soon as it is recorded (the
    /// CLI prints them live).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The body of the plugin's `config { ... }` block.
    pub fn config(mut self, hcl: impl Into<String>) -> Self {
        self.config = Some(hcl.into());
        self
    }

    /// How long the first fingerprint may take (default 30 s; Nomad waits
    /// at most 50 s before it registers the node without the devices).
    pub fn first_fingerprint_within(mut self, d: Duration) -> Self {
        self.first_fingerprint = d;
        self
    }

    /// How long the fingerprint stream must stay open after the first
    /// message (default 3 s).
    pub fn stream_open_for(mut self, d: Duration) -> Self {
        self.stay_open = d;
        self
    }

    /// The stats collection interval asked for (default 1 s, Nomad's) and
    /// how many messages to time (default 3).
    pub fn stats_interval(mut self, interval: Duration, messages: usize) -> Self {
        self.stats_interval = interval;
        self.stats_messages = messages.max(2);
        self
    }

    /// Runs every check.
    pub async fn run(&self) -> SuiteReport {
        let mut report = SuiteReport::new("device", display_name(&self.binary))
            .with_progress(self.progress.clone());
        let mut builder = DeviceHarness::builder(&self.binary);
        if let Some((endpoint, pid)) = &self.attach {
            builder = builder.attach(endpoint.clone(), *pid);
        }
        if let Some(config) = &self.config {
            builder = builder.config_hcl(config.clone());
        }
        let harness = match builder.launch().await {
            Ok(h) => h,
            Err(e) => {
                report.record(
                    "launch",
                    Err(format!("the Nomad agent would not load the plugin: {e}")),
                );
                return report;
            }
        };
        let plugin = harness.plugin();
        report.record(
            "launch",
            Ok(format!(
                "{} {} configured",
                plugin.info().name,
                plugin.info().plugin_version
            )),
        );
        let groups = self.fingerprint_checks(plugin, &mut report).await;
        match &groups {
            Some(groups) => {
                self.reserve_checks(plugin, groups, &mut report).await;
                self.stats_checks(plugin, groups, &mut report).await;
            }
            None => {
                for name in [
                    "reserve.known",
                    "reserve.unknown",
                    "stats.interval",
                    "stats.coverage",
                ] {
                    report.skip(name, "no valid fingerprint to work from");
                }
            }
        }
        // The agent restarts: Nomad reattaches to a device plugin only to
        // stop it; this also ends the plugin the suite launched.
        reattach_check(harness.into_plugin(), &mut report).await;
        match groups {
            Some(_) if self.attach.is_some() => report.skip(
                "fingerprint.ids_stable",
                "attached to a plugin started by hand: the suite does not restart it",
            ),
            Some(groups) => self.stability_check(&groups, &mut report).await,
            None => report.skip("fingerprint.ids_stable", "no valid fingerprint to compare"),
        }
        report
    }

    async fn fingerprint_checks(
        &self,
        plugin: &DevicePlugin,
        report: &mut SuiteReport,
    ) -> Option<Vec<DeviceGroup>> {
        let started = Instant::now();
        let first = first_fingerprint(plugin, self.first_fingerprint).await;
        let (mut stream, msg) = match first {
            Ok(v) => v,
            Err(e) => {
                report.record("fingerprint.first", Err(e));
                return None;
            }
        };
        report.record(
            "fingerprint.first",
            Ok(format!(
                "{} group(s) after {} ms",
                msg.device_group.len(),
                started.elapsed().as_millis()
            )),
        );
        let groups = match parse_groups(&msg) {
            Ok(g) => g,
            Err(e) => {
                report.record(
                    "fingerprint.valid",
                    Err(format!(
                        "Nomad's client would refuse this fingerprint, clear the devices and kill the plugin: {e}"
                    )),
                );
                return None;
            }
        };
        let units: BTreeSet<String> = groups
            .iter()
            .flat_map(|g| g.attributes.values().filter_map(|a| a.unit()))
            .map(|u| u.to_string())
            .collect();
        report.record(
            "fingerprint.valid",
            Ok(format!(
                "{} device(s); units used: {}",
                groups.iter().map(|g| g.devices.len()).sum::<usize>(),
                if units.is_empty() {
                    "none".to_string()
                } else {
                    units.into_iter().collect::<Vec<_>>().join(" ")
                }
            )),
        );
        let mut owner: BTreeMap<&str, String> = BTreeMap::new();
        let mut dup = Vec::new();
        for g in &groups {
            for d in &g.devices {
                if let Some(other) = owner.insert(&d.id, g.id()) {
                    dup.push(format!("{:?} in {} and {}", d.id, other, g.id()));
                }
            }
        }
        report.record(
            "fingerprint.ids_unique",
            if dup.is_empty() {
                Ok(format!("{} distinct id(s)", owner.len()))
            } else {
                Err(format!(
                    "device ids repeat across groups ({}): reservations name devices by id alone",
                    dup.join(", ")
                ))
            },
        );
        // Any later message must also be valid; the stream must not end.
        let deadline = Instant::now() + self.stay_open;
        let mut later = 0;
        let open = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.message()).await {
                Err(_) => break Ok(format!(
                    "still open after {} ms ({later} later message(s))",
                    self.stay_open.as_millis()
                )),
                Ok(Ok(Some(m))) => {
                    later += 1;
                    if let Err(e) = parse_groups(&m) {
                        break Err(format!("a later fingerprint is invalid; Nomad would kill the plugin: {e}"));
                    }
                }
                Ok(Ok(None)) => break Err(
                    "the stream ended: Nomad's device manager gives up on the plugin for good (devices cleared until the agent restarts)".to_string(),
                ),
                Ok(Err(status)) => break Err(format!(
                    "the stream failed ({status}): Nomad's device manager gives up on the plugin for good"
                )),
            }
        };
        report.record("fingerprint.stream_stays_open", open);
        Some(groups)
    }

    async fn reserve_checks(
        &self,
        plugin: &DevicePlugin,
        groups: &[DeviceGroup],
        report: &mut SuiteReport,
    ) {
        let candidate = groups
            .iter()
            .find_map(|g| g.devices.iter().find(|d| d.healthy).map(|d| d.id.clone()));
        match candidate {
            None => report.skip("reserve.known", "no healthy device fingerprinted"),
            Some(id) => {
                let result = match plugin.reserve(std::slice::from_ref(&id)).await {
                    Err(status) => Err(format!(
                        "reserving {id:?} failed ({status}): tasks asking for this device would fail to start"
                    )),
                    Ok(resp) => match resp.container_res {
                        None => Err(format!(
                            "reserving {id:?} returned no container reservation: the Nomad client dereferences it and would panic"
                        )),
                        Some(res) => {
                            let res = nomad_plugin_sdk::host::device::reservation_from_proto(&res);
                            if res.is_empty() {
                                Err(format!("reserving {id:?} returned an empty reservation: the task would get no env, mount or device node for it"))
                            } else if let Err(e) = res.validate() {
                                Err(format!("reserving {id:?}: {e}"))
                            } else {
                                Ok(format!(
                                    "{id:?}: {} env(s), {} mount(s), {} device node(s)",
                                    res.envs.len(),
                                    res.mounts.len(),
                                    res.devices.len()
                                ))
                            }
                        }
                    },
                };
                report.record("reserve.known", result);
            }
        }
        let bogus = "nomad-plugin-testkit-no-such-device".to_string();
        let result = match plugin.reserve(std::slice::from_ref(&bogus)).await {
            Ok(resp) => Err(format!(
                "reserving an id that was never fingerprinted succeeded ({}): a stale allocation would get a device that is gone",
                resp.container_res
                    .as_ref()
                    .map(|r| {
                        let r = nomad_plugin_sdk::host::device::reservation_from_proto(r);
                        format!(
                            "{} env(s), {} mount(s), {} device node(s)",
                            r.envs.len(),
                            r.mounts.len(),
                            r.devices.len()
                        )
                    })
                    .unwrap_or_else(|| "no container reservation".into())
            )),
            Err(status) if status.message().trim().is_empty() => Err(format!(
                "reserving an unknown id failed with {:?} but no message: operators would not know why the task failed",
                status.code()
            )),
            Err(status) => Ok(format!("{:?}: {}", status.code(), status.message())),
        };
        report.record("reserve.unknown", result);
    }

    async fn stats_checks(
        &self,
        plugin: &DevicePlugin,
        groups: &[DeviceGroup],
        report: &mut SuiteReport,
    ) {
        let interval = self.stats_interval;
        let opened = Instant::now();
        let mut stream = match plugin.stats(interval).await {
            Ok(s) => s,
            Err(status) => {
                report.record(
                    "stats.interval",
                    Err(format!("Stats failed to open: {status}")),
                );
                report.skip("stats.coverage", "no stats stream");
                return;
            }
        };
        let mut arrivals = Vec::new();
        let mut messages = Vec::new();
        // Generous: a loaded machine, and plugins may take a while per round.
        let per_message = interval * 3 + Duration::from_secs(10);
        let mut failure = None;
        while messages.len() < self.stats_messages {
            match tokio::time::timeout(per_message, stream.message()).await {
                Ok(Ok(Some(m))) => {
                    arrivals.push(opened.elapsed());
                    messages.push(m);
                }
                Ok(Ok(None)) => {
                    failure = Some(
                        "the stats stream ended: Nomad stops collecting stats for the plugin"
                            .to_string(),
                    );
                    break;
                }
                Ok(Err(status)) => {
                    failure = Some(format!("the stats stream failed: {status} (Nomad retries with back-off, 5 s and up)"));
                    break;
                }
                Err(_) => {
                    failure = Some(format!(
                        "no stats message within {} ms (interval asked: {} ms)",
                        per_message.as_millis(),
                        interval.as_millis()
                    ));
                    break;
                }
            }
        }
        let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
        let interval_result = match failure {
            Some(f) => Err(f),
            None => {
                let total: Duration = gaps.iter().sum();
                let mean = total / u32::try_from(gaps.len().max(1)).unwrap_or(1);
                if mean < interval / 2 {
                    Err(format!(
                        "messages every {} ms on average for an interval of {} ms: the plugin ignores the interval Nomad asked for",
                        mean.as_millis(),
                        interval.as_millis()
                    ))
                } else if mean > interval * 3 + Duration::from_secs(2) {
                    Err(format!(
                        "messages every {} ms on average for an interval of {} ms",
                        mean.as_millis(),
                        interval.as_millis()
                    ))
                } else {
                    Ok(format!(
                        "{} messages, first after {} ms, then every {} ms on average (asked {} ms)",
                        messages.len(),
                        arrivals.first().map(|d| d.as_millis()).unwrap_or(0),
                        mean.as_millis(),
                        interval.as_millis()
                    ))
                }
            }
        };
        report.record("stats.interval", interval_result);
        let Some(last) = messages.last() else {
            report.skip("stats.coverage", "no stats message received");
            return;
        };
        report.record("stats.coverage", coverage(groups, last));
    }

    async fn stability_check(&self, groups: &[DeviceGroup], report: &mut SuiteReport) {
        let ids = |gs: &[DeviceGroup]| -> BTreeSet<String> {
            gs.iter()
                .flat_map(|g| {
                    g.devices
                        .iter()
                        .map(move |d| format!("{}[{}]", g.id(), d.id))
                })
                .collect()
        };
        let before = ids(groups);
        let result = async {
            let plugin = DevicePlugin::launch(&self.binary, self.config.as_deref())
                .await
                .map_err(|e| format!("the plugin did not start a second time: {e}"))?;
            let first = first_fingerprint(&plugin, self.first_fingerprint).await;
            let _ = plugin.kill().await;
            let (_, msg) = first?;
            let after = ids(&parse_groups(&msg)?);
            if after == before {
                Ok(format!("{} device id(s) unchanged after a restart", after.len()))
            } else {
                let gone: Vec<_> = before.difference(&after).cloned().collect();
                let new: Vec<_> = after.difference(&before).cloned().collect();
                Err(format!(
                    "ids changed across a plugin restart (gone: {gone:?}, new: {new:?}): running allocations refer to devices by id"
                ))
            }
        }
        .await;
        report.record("fingerprint.ids_stable", result);
    }
}

/// An agent restart: the old agent's connection and pipes go away with the
/// plugin left running; the new agent's device manager reattaches by
/// address and pid only to kill it (`devicemanager/manager.go`), then
/// launches a fresh plugin. The plugin must exit on `GRPCController/Shutdown`
/// rather than need SIGKILL after two seconds.
async fn reattach_check(plugin: DevicePlugin, report: &mut SuiteReport) {
    let mut detached = plugin.detach().await;
    let result = match detached.reattach().await {
        Err(e) => match detached.try_exited() {
            Some(status) => Ok(format!(
                "the plugin was already gone when the new agent reattached ({status}); Nomad logs that and launches a new one"
            )),
            None => Err(format!("suite error: could not reattach to the running plugin: {e}")),
        },
        Ok(channel) => match detached.kill(channel).await {
            Ok(k) if k.graceful => Ok(format!(
                "reattached and stopped with GRPCController/Shutdown in {:?}",
                k.elapsed
            )),
            Ok(k) => Err(format!(
                "after a reattach the plugin did not exit within 2 s of GRPCController/Shutdown and was SIGKILLed ({}): every agent restart waits for it",
                k.status
            )),
            Err(e) => Err(format!("suite error stopping the plugin: {e}")),
        },
    };
    report.record("reattach.killed", result);
}

/// Opens a fingerprint stream and waits for its first message.
async fn first_fingerprint(
    plugin: &DevicePlugin,
    within: Duration,
) -> Result<
    (
        tonic::Streaming<pb::FingerprintResponse>,
        pb::FingerprintResponse,
    ),
    String,
> {
    let mut stream = plugin
        .fingerprints()
        .await
        .map_err(|s| format!("Fingerprint failed to open ({s}): Nomad gives up on the plugin"))?;
    match tokio::time::timeout(within, stream.message()).await {
        Ok(Ok(Some(m))) => Ok((stream, m)),
        Ok(Ok(None)) => Err(
            "the fingerprint stream ended before its first message: Nomad gives up on the plugin"
                .into(),
        ),
        Ok(Err(s)) => Err(format!(
            "the fingerprint stream failed before its first message: {s}"
        )),
        Err(_) => Err(format!(
            "no fingerprint within {} ms (Nomad registers the node without the devices after {} s)",
            within.as_millis(),
            NOMAD_FIRST_FINGERPRINT_WAIT.as_secs()
        )),
    }
}

/// Reads a fingerprint with Nomad's validation rules.
pub(crate) fn parse_groups(msg: &pb::FingerprintResponse) -> Result<Vec<DeviceGroup>, String> {
    let groups = msg
        .device_group
        .iter()
        .map(|g| nomad_plugin_sdk::host::device::group_from_proto(g).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    nomad_plugin_sdk::device::validate_fingerprint(&groups).map_err(|e| e.to_string())?;
    Ok(groups)
}

/// Every fingerprinted instance has statistics, with a timestamp.
fn coverage(groups: &[DeviceGroup], msg: &pb::StatsResponse) -> Result<String, String> {
    let mut missing = Vec::new();
    let mut no_time = Vec::new();
    let mut covered = 0;
    for g in groups {
        let stats = msg
            .groups
            .iter()
            .find(|s| s.vendor == g.vendor && s.r#type == g.device_type && s.name == g.name);
        for d in &g.devices {
            match stats.and_then(|s| s.instance_stats.get(&d.id)) {
                None => missing.push(format!("{}[{}]", g.id(), d.id)),
                Some(s) if s.timestamp.is_none() => no_time.push(format!("{}[{}]", g.id(), d.id)),
                Some(_) => covered += 1,
            }
        }
    }
    if !no_time.is_empty() {
        return Err(format!(
            "statistics without a timestamp for {}: Nomad drops them",
            no_time.join(", ")
        ));
    }
    if !missing.is_empty() {
        return Err(format!(
            "no statistics for {} (stats groups are matched by vendor, type and name)",
            missing.join(", ")
        ));
    }
    Ok(format!("{covered} instance(s) have timestamped statistics"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomad_plugin_sdk::device::{DeviceGroupStats, DeviceInstance, DeviceStats, StatValue};
    use std::time::SystemTime;

    #[test]
    fn coverage_finds_missing_and_untimed_instances() {
        let g = DeviceGroup::new("v", "t", "n")
            .device(DeviceInstance::new("a"))
            .device(DeviceInstance::new("b"));
        let full = DeviceGroupStats::of(&g)
            .instance("a", DeviceStats::new(StatValue::int(1)))
            .instance("b", DeviceStats::new(StatValue::int(1)));
        let msg = pb::StatsResponse {
            groups: vec![nomad_plugin_sdk::host::device::stats_to_proto(
                &full,
                SystemTime::now(),
            )],
        };
        assert!(coverage(std::slice::from_ref(&g), &msg).is_ok());
        let partial = DeviceGroupStats::of(&g).instance("a", DeviceStats::new(StatValue::int(1)));
        let msg = pb::StatsResponse {
            groups: vec![nomad_plugin_sdk::host::device::stats_to_proto(
                &partial,
                SystemTime::now(),
            )],
        };
        assert!(coverage(std::slice::from_ref(&g), &msg)
            .unwrap_err()
            .contains("v/t/n[b]"));
        let mut untimed = nomad_plugin_sdk::host::device::stats_to_proto(&full, SystemTime::now());
        if let Some(s) = untimed.instance_stats.get_mut("a") {
            s.timestamp = None;
        }
        let msg = pb::StatsResponse {
            groups: vec![untimed],
        };
        assert!(coverage(&[g], &msg)
            .unwrap_err()
            .contains("Nomad drops them"));
    }

    #[test]
    fn invalid_wire_fingerprints_are_refused() {
        let mut g = nomad_plugin_sdk::host::device::group_to_proto(
            &DeviceGroup::new("v", "t", "n").device(DeviceInstance::new("a")),
        );
        g.attributes.insert(
            "memory".into(),
            nomad_plugin_proto::nomad::structs::Attribute {
                unit: "Megabytes".into(),
                value: Some(nomad_plugin_proto::nomad::structs::attribute::Value::IntVal(1)),
            },
        );
        let msg = pb::FingerprintResponse {
            device_group: vec![g],
        };
        assert!(parse_groups(&msg)
            .unwrap_err()
            .contains("unrecognized unit"));
    }
}
