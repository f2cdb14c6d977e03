//! The generated crates' GitHub Actions workflows: checked to be valid
//! YAML with the keys GitHub Actions needs, and their `run:` steps run
//! locally, in order, unedited, as a runner would run them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use yaml_rust2::{Yaml, YamlLoader};

/// One `run:` step, with the environment GitHub Actions gives it.
#[derive(Debug)]
pub struct Step {
    /// Its `name:` (or the command's first line).
    pub name: String,
    /// The script.
    pub run: String,
    /// Workflow, job and step `env:`, in that order (later wins).
    pub env: Vec<(String, String)>,
}

/// A parsed workflow file: its `run:` steps in order, job by job.
#[derive(Debug)]
pub struct Workflow {
    /// The file.
    pub path: PathBuf,
    /// The `run:` steps; `uses:` steps are actions GitHub runs and are
    /// left out.
    pub steps: Vec<Step>,
    /// The `uses:` actions, in order (`actions/checkout@v4`, ...).
    pub actions: Vec<String>,
}

fn key<'a>(map: &'a Yaml, k: &str) -> &'a Yaml {
    &map[k]
}

fn env_of(y: &Yaml, what: &str) -> Result<Vec<(String, String)>> {
    match y {
        Yaml::BadValue => Ok(Vec::new()),
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| {
                let k = k
                    .as_str()
                    .with_context(|| format!("{what}: env keys must be strings"))?;
                let v = match v {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => bail!("{what}: env {k} is not a scalar: {other:?}"),
                };
                Ok((k.to_string(), v))
            })
            .collect(),
        other => bail!("{what}: env must be a mapping, not {other:?}"),
    }
}

/// Parses `path` and checks what GitHub Actions requires of a workflow:
/// `on` (a trigger), `jobs` (a mapping of jobs, each with `runs-on` and a
/// non-empty `steps` list), each step exactly one of `uses` or `run`,
/// `run` a string, `with` a mapping. Our workflows also set
/// `defaults.run.shell: bash`, which the local runner imitates.
pub fn parse(path: &Path) -> Result<Workflow> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs = YamlLoader::load_from_str(&text)
        .with_context(|| format!("{}: not valid YAML", path.display()))?;
    let [doc] = docs.as_slice() else {
        bail!(
            "{}: expected one YAML document, found {}",
            path.display(),
            docs.len()
        );
    };
    let p = path.display();
    if doc.as_hash().is_none() {
        bail!("{p}: the workflow must be a mapping");
    }
    if key(doc, "name").as_str().is_none() {
        bail!("{p}: `name` missing");
    }
    match key(doc, "on") {
        Yaml::Hash(h) if !h.is_empty() => {}
        Yaml::String(_) | Yaml::Array(_) => {}
        other => bail!("{p}: `on` (the trigger) missing or empty: {other:?}"),
    }
    if key(key(key(doc, "defaults"), "run"), "shell").as_str() != Some("bash") {
        bail!("{p}: `defaults.run.shell` must be bash (the steps are bash scripts)");
    }
    let workflow_env = env_of(key(doc, "env"), &format!("{p}"))?;
    let Some(jobs) = key(doc, "jobs").as_hash() else {
        bail!("{p}: `jobs` missing or not a mapping");
    };
    if jobs.is_empty() {
        bail!("{p}: no jobs");
    }
    let mut steps = Vec::new();
    let mut actions = Vec::new();
    for (id, job) in jobs {
        let id = id.as_str().context("job ids must be strings")?;
        let what = format!("{p}: job {id}");
        if key(job, "runs-on").as_str().is_none() {
            bail!("{what}: `runs-on` missing");
        }
        let job_env = env_of(key(job, "env"), &what)?;
        let Some(list) = key(job, "steps").as_vec() else {
            bail!("{what}: `steps` missing or not a list");
        };
        if list.is_empty() {
            bail!("{what}: no steps");
        }
        for (i, step) in list.iter().enumerate() {
            let what = format!("{what}, step {}", i + 1);
            if step.as_hash().is_none() {
                bail!("{what}: a step must be a mapping");
            }
            let uses = key(step, "uses");
            let run = key(step, "run");
            match (uses, run) {
                (Yaml::String(action), Yaml::BadValue) => {
                    if !action.contains('@') {
                        bail!("{what}: `uses: {action}` needs a version (`@v4`)");
                    }
                    match key(step, "with") {
                        Yaml::BadValue | Yaml::Hash(_) => {}
                        other => bail!("{what}: `with` must be a mapping: {other:?}"),
                    }
                    actions.push(action.clone());
                }
                (Yaml::BadValue, Yaml::String(script)) => {
                    if !matches!(key(step, "if"), Yaml::BadValue) {
                        bail!("{what}: a conditional `run:` step cannot be run locally as is");
                    }
                    let mut env = workflow_env.clone();
                    env.extend(job_env.iter().cloned());
                    env.extend(env_of(key(step, "env"), &what)?);
                    let name = key(step, "name")
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| script.lines().next().unwrap_or("").to_string());
                    steps.push(Step {
                        name,
                        run: script.clone(),
                        env,
                    });
                }
                _ => bail!("{what}: a step needs exactly one of `uses` and `run` (a string)"),
            }
        }
    }
    Ok(Workflow {
        path: path.to_path_buf(),
        steps,
        actions,
    })
}

/// Runs every `run:` step of `workflow` in `dir`, in order, as the runner
/// does with `shell: bash` (`bash --noprofile --norc -eo pipefail`), each
/// in its own shell, with the workflow's env and then `overrides`.
pub fn run_steps(
    workflow: &Workflow,
    dir: &Path,
    overrides: &[(&str, &std::ffi::OsStr)],
) -> Result<()> {
    for step in &workflow.steps {
        eprintln!(
            "xtask: {} [{}]: {}",
            dir.display(),
            workflow
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            step.name
        );
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &step.run])
            .current_dir(dir)
            .envs(step.env.iter().map(|(k, v)| (k, v)));
        for (k, v) in overrides {
            cmd.env(k, v);
        }
        let status = cmd
            .status()
            .with_context(|| format!("could not start bash for {:?}", step.name))?;
        if !status.success() {
            bail!(
                "{}: step {:?} failed with {status}:\n{}",
                workflow.path.display(),
                step.name,
                step.run
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Workflow> {
        let dir = tempfile_dir();
        let path = dir.join("w.yml");
        std::fs::write(&path, text)?;
        let r = parse(&path);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "xtask-workflows-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const GOOD: &str = "name: CI\non:\n  push:\ndefaults:\n  run:\n    shell: bash\nenv:\n  A: \"1\"\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - name: Hello\n        run: echo $A\n        env:\n          B: 2\n";

    #[test]
    fn reads_run_steps_with_their_env() {
        let w = parse_text(GOOD).unwrap();
        assert_eq!(w.actions, vec!["actions/checkout@v4"]);
        assert_eq!(w.steps.len(), 1);
        assert_eq!(w.steps[0].name, "Hello");
        assert_eq!(
            w.steps[0].env,
            vec![("A".into(), "1".into()), ("B".into(), "2".into())]
        );
    }

    #[test]
    fn refuses_what_github_actions_refuses() {
        for (broken, why) in [
            (GOOD.replace("on:\n  push:\n", ""), "`on`"),
            (GOOD.replace("    runs-on: ubuntu-latest\n", ""), "runs-on"),
            (
                GOOD.replace("actions/checkout@v4", "actions/checkout"),
                "version",
            ),
            (
                GOOD.replace(
                    "      - name: Hello\n        run:",
                    "      - name: Hello\n        uses: x@v1\n        run:",
                ),
                "exactly one",
            ),
            (GOOD.replace("jobs:", "jobs: [\n"), "YAML"),
            (GOOD.replace("    shell: bash\n", "    shell: sh\n"), "bash"),
        ] {
            let e = format!("{:#}", parse_text(&broken).unwrap_err());
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
