//! Conformance suites: each check runs the plugin as Nomad would and says,
//! on failure, what Nomad would have done.

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};

use super::host_volume::{
    CreateCall, CreatedVolume, HostVolumeCaller, HostVolumeTimeouts, VolumeRequest,
};
use super::secrets::{FetchVerdict, NomadVersion, SecretBlock, SecretsCaller};
use super::{FingerprintVerdict, RawRun};

use crate::report::Progress;
pub use crate::report::{Check, CheckStatus, SuiteReport};

fn fingerprint_check(
    verdict: &FingerprintVerdict,
    run: &RawRun,
    placement: &str,
) -> Result<String, String> {
    if run.pipes_held_open {
        return Err(format!(
            "a process started by the plugin kept stdout/stderr open after it exited: the Nomad agent would wait for it; {}",
            run.transcript()
        ));
    }
    match verdict {
        FingerprintVerdict::Registered { attribute, value } => Ok(format!(
            "Nomad sets {attribute} = {value:?} ({} ms)",
            run.elapsed.as_millis()
        )),
        FingerprintVerdict::Skipped(why) => Err(format!(
            "Nomad does not register the plugin ({why}), so {placement}; {}",
            run.transcript()
        )),
        FingerprintVerdict::AgentPanic(why) => Err(format!(
            "the Nomad agent would crash: {why}; {}",
            run.transcript()
        )),
    }
}

const MARKER: &str = ".nomad-plugin-testkit-marker";

/// The host volume conformance suite.
///
/// Checks, in order: `reserved-id`, `fingerprint`, `create`, `create-again`
/// (restore at agent start), `expand` (when [`expand_to`](Self::expand_to)
/// is set), `auto-delete` (Nomad's delete after a failed state write must
/// not touch other volumes), `concurrent-creates`, `create-failure` (when
/// [`invalid_parameters`](Self::invalid_parameters) is set), `delete`,
/// `delete-again`.
#[derive(Debug, Clone)]
pub struct HostVolumeSuite {
    caller: HostVolumeCaller,
    capacity_min: i64,
    capacity_max: i64,
    expand_to: Option<i64>,
    parameters: Option<BTreeMap<String, String>>,
    invalid_parameters: Option<BTreeMap<String, String>>,
    concurrency: usize,
    progress: Option<Progress>,
}

impl HostVolumeSuite {
    /// A suite for `<plugin_dir>/<plugin_id>` with volumes under
    /// `volumes_dir` (use an empty temporary directory).
    pub fn new(
        plugin_dir: impl Into<PathBuf>,
        plugin_id: &str,
        volumes_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            caller: HostVolumeCaller::new(plugin_dir, plugin_id, volumes_dir),
            capacity_min: 0,
            capacity_max: 0,
            expand_to: None,
            parameters: None,
            invalid_parameters: None,
            concurrency: 3,
            progress: None,
        }
    }

    /// Tells `progress` about each check as soon as it is recorded (the
    /// CLI prints them live).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// `capacity_min`/`capacity_max` of the volumes created (bytes; 0 = unset).
    pub fn capacity(mut self, min: i64, max: i64) -> Self {
        self.capacity_min = min;
        self.capacity_max = max;
        self
    }

    /// Re-submit the main volume with this `capacity_min` to test expansion.
    pub fn expand_to(mut self, min: i64) -> Self {
        self.expand_to = Some(min);
        self
    }

    /// `parameters` of the volumes created.
    pub fn parameters<K: Into<String>, V: Into<String>>(
        mut self,
        p: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.parameters = Some(p.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    /// Parameters the plugin must reject, to test the failure path.
    pub fn invalid_parameters<K: Into<String>, V: Into<String>>(
        mut self,
        p: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.invalid_parameters = Some(p.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    /// How many volumes `concurrent-creates` creates at once (default 3; 0
    /// skips the check).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Overrides Nomad's deadlines.
    pub fn timeouts(mut self, t: HostVolumeTimeouts) -> Self {
        self.caller = self.caller.timeouts(t);
        self
    }

    fn request(&self, name: &str) -> VolumeRequest {
        VolumeRequest {
            capacity_min_bytes: self.capacity_min,
            capacity_max_bytes: self.capacity_max,
            parameters: self.parameters.clone(),
            ..VolumeRequest::new(name)
        }
    }

    /// Runs every check and returns the report.
    pub async fn run(&self) -> SuiteReport {
        let c = &self.caller;
        let id = c.plugin_id();
        let mut r = SuiteReport::new("host volume", id).with_progress(self.progress.clone());

        r.record(
            "reserved-id",
            if id == "mkdir" {
                Err("Nomad's built-in \"mkdir\" plugin always wins: volumes with plugin_id = \"mkdir\" never reach this executable; rename it".into())
            } else {
                Ok(format!("plugin id {id:?} is not reserved"))
            },
        );

        let fp = c.fingerprint().await;
        r.record(
            "fingerprint",
            fingerprint_check(
                &fp.verdict,
                &fp.run,
                &format!("volumes with plugin_id = {id:?} cannot be placed on this node"),
            ),
        );

        let main = self.request("testkit-main");
        let first = c.create(&main).await;
        let created = self.created_check(&mut r, "create", &first, &main, None);

        let Some(created) = created else {
            for name in [
                "create-again",
                "expand",
                "auto-delete",
                "delete",
                "delete-again",
            ] {
                r.skip(name, "needs a successful create");
            }
            self.concurrent(&mut r).await;
            self.failure_path(&mut r).await;
            return r;
        };

        let again = c.create(&main).await;
        self.created_check(&mut r, "create-again", &again, &main, Some(&created));

        match self.expand_to {
            None => r.skip("expand", "no expand_to() configured"),
            Some(min) => {
                let bigger = VolumeRequest {
                    capacity_min_bytes: min,
                    capacity_max_bytes: if self.capacity_max > 0 {
                        self.capacity_max.max(min)
                    } else {
                        0
                    },
                    ..main.clone()
                };
                let call = c.create(&bigger).await;
                if let Some(grown) =
                    self.created_check(&mut r, "expand", &call, &bigger, Some(&created))
                {
                    if created.bytes > 0 && grown.bytes < min {
                        if let Some(last) = r.checks.last_mut() {
                            last.status = CheckStatus::Failed;
                            last.detail = format!(
                                "after `nomad volume create` with capacity_min = {min} the plugin reports {} bytes: Nomad records that smaller capacity and the workload gets less space than requested",
                                grown.bytes
                            );
                        }
                    }
                }
            }
        }

        let main_path = Path::new(&created.path);
        let marker = main_path.join(MARKER);
        let marked = main_path.is_dir() && std::fs::write(&marker, "keep").is_ok();

        self.auto_delete(&mut r, main_path, marked.then_some(marker.as_path()))
            .await;
        self.concurrent(&mut r).await;
        self.failure_path(&mut r).await;

        if marked {
            let _ = std::fs::remove_file(&marker);
        }
        let del = c.delete(&main, &created.path).await;
        let deleted = r.record(
            "delete",
            match del.result {
                Err(e) => Err(format!(
                    "`nomad volume delete` fails with: {e}; the volume stays in Nomad's state; {}",
                    del.run.transcript()
                )),
                Ok(()) if main_path.exists() => Err(format!(
                    "Nomad removes the volume from its state but its data remains at {}",
                    created.path
                )),
                Ok(()) => Ok(format!("removed {}", created.path)),
            },
        );
        if deleted {
            let del = c.delete(&main, &created.path).await;
            r.record(
                "delete-again",
                match del.result {
                    Ok(()) => Ok("deleting a volume that is already gone succeeds".into()),
                    Err(e) => Err(format!(
                        "a delete of an already-deleted volume fails with: {e}; after an interrupted delete, `nomad volume delete` could never succeed; {}",
                        del.run.transcript()
                    )),
                },
            );
        } else {
            r.skip("delete-again", "needs a successful delete");
        }
        r
    }

    /// Judges a create result; returns the volume when it passed.
    fn created_check(
        &self,
        r: &mut SuiteReport,
        name: &'static str,
        call: &CreateCall,
        req: &VolumeRequest,
        previous: Option<&CreatedVolume>,
    ) -> Option<CreatedVolume> {
        let verdict = (|| {
            let when = match name {
                "create-again" => " (Nomad re-runs create with the stored request at every agent start, so after a restart this volume would not be advertised on the node)",
                "expand" => " (the volume update fails)",
                _ => "",
            };
            if call.run.pipes_held_open {
                return Err(format!(
                    "a process started by the plugin kept stdout/stderr open after it exited: Nomad would wait for it until the 60 s RPC deadline{when}; {}",
                    call.run.transcript()
                ));
            }
            let v = match &call.result {
                Err(e) => {
                    return Err(format!(
                        "the volume create fails with: {e}{when}; {}",
                        call.run.transcript()
                    ))
                }
                Ok(v) => v,
            };
            if !v.ignored_error.is_empty() {
                return Err(format!(
                    "printed error {:?} with exit status 0: Nomad ignores it and records a volume at {:?}; fail with a non-zero exit",
                    v.ignored_error, v.path
                ));
            }
            if v.path.is_empty() {
                return Err("exit 0 without a \"path\": Nomad records a volume with an empty host path, which no workload can mount".into());
            }
            if !Path::new(&v.path).is_absolute() {
                return Err(format!("the path {:?} is not absolute: Nomad would bind-mount it relative to the agent's working directory", v.path));
            }
            if !Path::new(&v.path).exists() {
                return Err(format!(
                    "the path {:?} does not exist: workloads mounting the volume fail",
                    v.path
                ));
            }
            if v.bytes < 0 {
                return Err(format!(
                    "\"bytes\" is {}: Nomad records a negative capacity",
                    v.bytes
                ));
            }
            if req.capacity_min_bytes > 0 && v.bytes > 0 && v.bytes < req.capacity_min_bytes {
                return Err(format!(
                    "reports {} bytes, less than capacity_min = {}: Nomad records the smaller capacity",
                    v.bytes, req.capacity_min_bytes
                ));
            }
            if let Some(prev) = previous {
                if prev.path != v.path {
                    return Err(format!(
                        "returned path {:?}, but the first create returned {:?}: Nomad keeps the new path, and workloads would see a different directory{when}",
                        v.path, prev.path
                    ));
                }
            }
            Ok(format!(
                "path {:?}, {} bytes ({} ms)",
                v.path,
                v.bytes,
                call.run.elapsed.as_millis()
            ))
        })();
        let ok = r.record(name, verdict);
        match (&call.result, ok) {
            (Ok(v), true) => Some(v.clone()),
            _ => None,
        }
    }

    async fn auto_delete(&self, r: &mut SuiteReport, main_path: &Path, marker: Option<&Path>) {
        let c = &self.caller;
        let victim = self.request("testkit-victim");
        let made = c.create(&victim).await;
        let victim_path = match &made.result {
            Ok(v) if !v.path.is_empty() => v.path.clone(),
            _ => {
                r.record(
                    "auto-delete",
                    Err(format!(
                        "could not create a second volume to test Nomad's automatic delete: {}",
                        made.run.transcript()
                    )),
                );
                return;
            }
        };
        let call = c.auto_delete(&victim).await;
        let volumes_dir = c.volumes_dir();
        let verdict = if !volumes_dir.is_dir() {
            Err(format!(
                "Nomad's automatic delete (DHV_CREATED_PATH = the volumes directory) removed the whole volumes directory {}: every volume on the node is lost",
                volumes_dir.display()
            ))
        } else if !main_path.exists()
            || marker.is_some_and(|m| std::fs::read_to_string(m).ok().as_deref() != Some("keep"))
        {
            Err(format!(
                "Nomad's automatic delete of volume {} (DHV_CREATED_PATH = the volumes directory) destroyed another volume's data at {}",
                victim.id,
                main_path.display()
            ))
        } else if let Err(e) = &call.result {
            Err(format!(
                "Nomad's automatic delete (after a create whose result it could not save) fails with: {e}; Nomad only logs it and the volume {victim_path} stays on disk, unknown to Nomad; {}",
                call.run.transcript()
            ))
        } else if Path::new(&victim_path).exists() {
            Err(format!(
                "after Nomad's automatic delete the volume is still at {victim_path}; Nomad has no record of it, so nothing will ever delete it (derive the path from DHV_VOLUME_ID when DHV_CREATED_PATH is the volumes directory)"
            ))
        } else {
            Ok("removed only the named volume; the other volume is intact".into())
        };
        r.record("auto-delete", verdict);
        let _ = c.delete(&victim, &victim_path).await;
    }

    async fn concurrent(&self, r: &mut SuiteReport) {
        if self.concurrency == 0 {
            r.skip("concurrent-creates", "concurrency(0)");
            return;
        }
        let c = &self.caller;
        let reqs: Vec<_> = (0..self.concurrency)
            .map(|i| self.request(&format!("testkit-concurrent-{i}")))
            .collect();
        let calls = futures::future::join_all(reqs.iter().map(|q| c.create(q))).await;
        let mut paths = std::collections::BTreeSet::new();
        let mut problem = None;
        for (q, call) in reqs.iter().zip(&calls) {
            match &call.result {
                Ok(v) if !v.path.is_empty() && Path::new(&v.path).exists() => {
                    if !paths.insert(v.path.clone()) {
                        problem.get_or_insert(format!(
                            "two volumes created at once got the same path {:?}: their workloads would share data",
                            v.path
                        ));
                    }
                }
                Ok(v) => {
                    problem.get_or_insert(format!(
                        "volume {} created concurrently reported path {:?}, which does not exist",
                        q.id, v.path
                    ));
                }
                Err(e) => {
                    problem.get_or_insert(format!(
                        "creating {} volumes at once, one fails with: {e}; Nomad creates volumes concurrently (and restores them all at once at agent start); {}",
                        self.concurrency,
                        call.run.transcript()
                    ));
                }
            }
        }
        let deletes = reqs
            .iter()
            .zip(&calls)
            .filter_map(|(q, call)| call.result.as_ref().ok().map(|v| c.delete(q, &v.path)));
        futures::future::join_all(deletes).await;
        r.record(
            "concurrent-creates",
            match problem {
                Some(p) => Err(p),
                None => Ok(format!(
                    "{} volumes created at once, distinct paths",
                    self.concurrency
                )),
            },
        );
    }

    async fn failure_path(&self, r: &mut SuiteReport) {
        let Some(invalid) = &self.invalid_parameters else {
            r.skip("create-failure", "no invalid_parameters() configured");
            return;
        };
        let c = &self.caller;
        let req = VolumeRequest {
            parameters: Some(invalid.clone()),
            ..self.request("testkit-invalid")
        };
        let call = c.create(&req).await;
        let leftover = c.volumes_dir().join(&req.id);
        let verdict = match (&call.result, &call.plugin_message) {
            (Ok(v), _) => {
                let _ = c.delete(&req, &v.path).await;
                Err(format!(
                    "create with invalid parameters {invalid:?} exited 0: Nomad records a volume at {:?}",
                    v.path
                ))
            }
            (Err(e), None) => Err(format!(
                "the operator only sees {e:?}: print {{\"error\": \"<why>\"}} on stdout when exiting non-zero; {}",
                call.run.transcript()
            )),
            (Err(_), Some(_)) if leftover.exists() => Err(format!(
                "the failed create left {} behind; Nomad never deletes a failed create, so clean up before exiting",
                leftover.display()
            )),
            (Err(e), Some(_)) => Ok(format!("the operator reads: {e}")),
        };
        r.record("create-failure", verdict);
    }
}

/// The secret provider conformance suite.
///
/// Checks, in order: `reserved-id`, `fingerprint`, `fetch`, `fetch-again`,
/// `fetch-missing` (the job's author must read why), `fetch-dash-path` (a
/// path that looks like an option). Stderr on success, `null` and malformed
/// stdout fail the check in which they happen.
#[derive(Debug, Clone)]
pub struct SecretsSuite {
    caller: SecretsCaller,
    present: SecretBlock,
    expected: Option<BTreeMap<String, String>>,
    missing: SecretBlock,
    progress: Option<Progress>,
}

impl SecretsSuite {
    /// A suite for `<secrets_dir>/<provider>`, fetching `present_path`
    /// (which must exist) and `missing_path` (which must not).
    pub fn new(
        secrets_dir: impl Into<PathBuf>,
        provider: &str,
        present_path: &str,
        missing_path: &str,
    ) -> Self {
        Self {
            caller: SecretsCaller::new(secrets_dir, provider),
            present: SecretBlock::new("present", present_path),
            expected: None,
            missing: SecretBlock::new("missing", missing_path),
            progress: None,
        }
    }

    /// Tells `progress` about each check as soon as it is recorded (the
    /// CLI prints them live).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The keys and values `present_path` must return.
    pub fn expect<K: Into<String>, V: Into<String>>(
        mut self,
        kv: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.expected = Some(kv.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    /// Replaces the secret block used for the present path (env, namespace).
    pub fn present_block(mut self, block: SecretBlock) -> Self {
        self.present = block;
        self
    }

    /// Replaces the secret block used for the missing path.
    pub fn missing_block(mut self, block: SecretBlock) -> Self {
        self.missing = block;
        self
    }

    /// Imitates another Nomad release (deadlines).
    pub fn nomad(mut self, v: NomadVersion) -> Self {
        self.caller = self.caller.nomad(v);
        self
    }

    /// Runs every check and returns the report.
    pub async fn run(&self) -> SuiteReport {
        let c = &self.caller;
        let id = c.provider();
        let mut r = SuiteReport::new("secret provider", id).with_progress(self.progress.clone());
        r.record(
            "reserved-id",
            if id == "nomad" || id == "vault" {
                Err(format!("{id:?} is a built-in provider: Nomad never runs this executable for it; rename it"))
            } else {
                Ok(format!("provider {id:?} is not reserved"))
            },
        );

        let fp = c.fingerprint().await;
        r.record(
            "fingerprint",
            fingerprint_check(
                &fp.verdict,
                &fp.run,
                &format!("tasks with provider = {id:?} cannot be placed on this node"),
            ),
        );

        let first = c.fetch(&self.present).await;
        let ok = r.record(
            "fetch",
            match &first.verdict {
                FetchVerdict::Secrets(got) => {
                    let plain: BTreeMap<String, String> = got
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.trim_start_matches(&format!("secret.{}.", self.present.name))
                                    .to_owned(),
                                v.clone(),
                            )
                        })
                        .collect();
                    match &self.expected {
                        Some(want) if want != &plain => Err(format!(
                            "fetch {:?} returned keys {:?}, expected {:?}",
                            self.present.path,
                            plain.keys().collect::<Vec<_>>(),
                            want.keys().collect::<Vec<_>>()
                        )),
                        _ => Ok(format!(
                            "the task gets {:?} ({} ms)",
                            got.keys().collect::<Vec<_>>(),
                            first.run.elapsed.as_millis()
                        )),
                    }
                }
                FetchVerdict::TaskFails(e) => {
                    Err(format!("the task fails: {e}; {}", first.run.transcript()))
                }
                FetchVerdict::AgentPanic(e) => Err(format!(
                    "the Nomad agent would crash: {e}; {}",
                    first.run.transcript()
                )),
            },
        );
        if ok {
            let again = c.fetch(&self.present).await;
            r.record(
                "fetch-again",
                if again.verdict == first.verdict {
                    Ok("a repeated fetch (after an agent restart) returns the same secrets".into())
                } else {
                    Err(format!(
                        "a repeated fetch, which Nomad does after an agent restart, returned something else: {}; {}",
                        match &again.verdict {
                            FetchVerdict::Secrets(keys) => format!(
                                "the keys {}",
                                keys.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                            FetchVerdict::TaskFails(e) => format!("the task fails: {e}"),
                            FetchVerdict::AgentPanic(e) => format!("the agent would crash: {e}"),
                        },
                        again.run.transcript()
                    ))
                },
            );
        } else {
            r.skip("fetch-again", "needs a successful fetch");
        }

        let missing = c.fetch(&self.missing).await;
        r.record(
            "fetch-missing",
            match (&missing.verdict, &missing.reported_error) {
                (FetchVerdict::TaskFails(e), Some(_)) => Ok(format!("the task fails with: {e}")),
                (FetchVerdict::TaskFails(e), None) => Err(format!(
                    "the job's author only sees {e:?}; print {{\"result\": {{}}, \"error\": \"<why>\"}} and exit 0 so Nomad shows the reason; {}",
                    missing.run.transcript()
                )),
                (FetchVerdict::Secrets(got), _) => Err(format!(
                    "fetch of the missing path {:?} reported no error: Nomad starts the task with {:?} instead of failing it",
                    self.missing.path,
                    got.keys().collect::<Vec<_>>()
                )),
                (FetchVerdict::AgentPanic(e), _) => Err(format!("the Nomad agent would crash: {e}; {}", missing.run.transcript())),
            },
        );

        let dash = SecretBlock {
            name: "dash".into(),
            path: "--help".into(),
            ..self.missing.clone()
        };
        let call = c.fetch(&dash).await;
        r.record(
            "fetch-dash-path",
            match (&call.verdict, &call.reported_error) {
                (FetchVerdict::AgentPanic(e), _) => Err(format!("the Nomad agent would crash: {e}; {}", call.run.transcript())),
                (FetchVerdict::TaskFails(e), None) => Err(format!(
                    "the path \"--help\" (Nomad passes the job's path verbatim, leading dashes included) is not answered with JSON: {e}; {}",
                    call.run.transcript()
                )),
                _ => Ok("a path starting with \"-\" is treated as a path".into()),
            },
        );
        r
    }
}
