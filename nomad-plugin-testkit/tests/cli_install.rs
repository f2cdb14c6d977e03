//! `nomad-plugin-testkit validate` and `install` against good and bad
//! inputs: the reference driver, and a device plugin that is wrong on
//! request (`examples/odd_device.rs`).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rsexec() -> PathBuf {
    support::bin("driver-rsexec", "rsexec")
}

fn run(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nomad-plugin-testkit"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run nomad-plugin-testkit")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write");
    p
}

/// A copy of `binary` named `name` in `dir`, with `mode`. Copied before
/// any process of this test starts from it (ETXTBSY otherwise).
fn copy(binary: &Path, dir: &Path, name: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(binary, &p).expect("copy");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

const AGENT: &str = "plugin \"rsexec\" {\n  config {\n    default_signal = \"SIGTERM\"\n  }\n}\n";
const JOB: &str = r#"job "web" {
  group "g" {
    task "ok" {
      driver = "rsexec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo hi"]
      }
    }
    task "other" {
      driver = "docker"
      config { image = "redis" }
    }
  }
}
"#;

#[test]
fn validate_accepts_good_files_and_points_at_bad_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent, job) = (
        write(dir.path(), "agent.hcl", AGENT),
        write(dir.path(), "job.hcl", JOB),
    );
    let bin = rsexec();
    let good = run(
        &[
            "validate".as_ref(),
            bin.as_os_str(),
            "--task".as_ref(),
            job.as_os_str(),
            "--config".as_ref(),
            agent.as_os_str(),
        ],
        &[],
    );
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    let out = String::from_utf8_lossy(&good.stdout);
    assert!(
        out.contains("agent.hcl: valid (plugin \"rsexec\" config)"),
        "{out}"
    );
    assert!(out.contains("job.hcl (task \"ok\"): valid"), "{out}");
    assert!(
        !out.contains("other"),
        "a docker task is not rsexec's: {out}"
    );

    let bad_task = write(
        dir.path(),
        "bad.hcl",
        "task \"t\" {\n  driver = \"rsexec\"\n  config {\n    comand = \"/bin/sh\"\n  }\n}\n",
    );
    let bad = run(
        &[
            "validate".as_ref(),
            bin.as_os_str(),
            "--task".as_ref(),
            bad_task.as_os_str(),
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("bad.hcl:4:5: error: Unsupported argument; An argument named \"comand\" is not expected here."),
        "{out}"
    );
    assert!(
        out.contains(
            "bad.hcl:3:10: error: Missing required argument; The argument \"command\" is required"
        ),
        "{out}"
    );
    assert!(out.contains("    4 |     comand = \"/bin/sh\"\n"), "{out}");

    let bad_agent = write(
        dir.path(),
        "bad-agent.hcl",
        "plugin \"rsexec\" {\n  config {\n    signal = \"SIGTERM\"\n  }\n}\n",
    );
    let bad = run(
        &[
            "validate".as_ref(),
            bin.as_os_str(),
            "--config".as_ref(),
            bad_agent.as_os_str(),
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stdout)
            .contains("bad-agent.hcl:3:5: error: Unsupported argument"),
        "{}",
        text(&bad)
    );
}

#[test]
fn install_copies_a_good_plugin_and_prints_its_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = write(dir.path(), "agent.hcl", AGENT);
    let plugins = dir.path().join("plugins");
    let bin = rsexec();
    let out = run(
        &[
            "install".as_ref(),
            bin.as_os_str(),
            "--plugin-dir".as_ref(),
            plugins.as_os_str(),
            "--config".as_ref(),
            agent.as_os_str(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let installed = plugins.join("rsexec");
    let mode = std::fs::metadata(&installed)
        .expect("installed")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "plugin \"rsexec\" {\n  config {\n    default_signal = \"SIGTERM\"\n  }\n}\n"
        ),
        "{stdout}"
    );
    // Only the plugin: no temporary file left next to it.
    let entries: Vec<_> = std::fs::read_dir(&plugins)
        .expect("dir")
        .flatten()
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}

/// Runs `install` expecting a refusal that contains `message`, and checks
/// that nothing was written.
fn refused(binary: &Path, config: Option<&Path>, env: &[(&str, &str)], message: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugins = dir.path().join("plugins");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "install".as_ref(),
        binary.as_os_str(),
        "--plugin-dir".as_ref(),
        plugins.as_os_str(),
    ];
    if let Some(c) = config {
        args.push("--config".as_ref());
        args.push(c.as_os_str());
    }
    let out = run(&args, env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(message),
        "expected {message:?}:\n{}",
        text(&out)
    );
    assert!(stderr.contains("nothing was written"), "{}", text(&out));
    assert!(
        !plugins.exists(),
        "install wrote {} after refusing",
        plugins.display()
    );
}

#[test]
fn install_refuses_what_nomad_would_skip_or_refuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rs = rsexec();
    let odd = support::example("nomad-plugin-testkit", "odd_device");
    // All copies first: no process runs from a file still open for writing.
    let renamed = copy(&rs, dir.path(), "rsexec-v2", 0o755);
    let no_run_bit = copy(&rs, dir.path(), "rsexec", 0o644);
    let runnable = copy(
        &rs,
        &std::fs::create_dir_all(dir.path().join("ok"))
            .map(|_| dir.path().join("ok"))
            .expect("dir"),
        "rsexec",
        0o755,
    );
    let odd = copy(&odd, dir.path(), "odd_device", 0o755);

    refused(
        &renamed,
        None,
        &[],
        "the binary is named \"rsexec-v2\" but the plugin calls itself \"rsexec\"",
    );
    refused(&no_run_bit, None, &[], "has no execute bit");

    let no_block = write(dir.path(), "client.hcl", "client {\n  enabled = true\n}\n");
    refused(
        &runnable,
        Some(&no_block),
        &[],
        "has no plugin \"rsexec\" block: since Nomad 1.10",
    );

    let bad = write(
        dir.path(),
        "bad.hcl",
        "plugin \"rsexec\" {\n  config {\n    default_signal = [1]\n  }\n}\n",
    );
    refused(
        &runnable,
        Some(&bad),
        &[],
        "the plugin's config does not decode with its schema",
    );

    refused(
        &odd,
        None,
        &[("ODD_DEVICE_API_VERSIONS", "v0.2.0")],
        "plugin_api_versions [\"v0.2.0\"] do not include v0.1.0",
    );

    let refuse = write(
        dir.path(),
        "refuse.hcl",
        "plugin \"odd_device\" {\n  config {\n    refuse = true\n  }\n}\n",
    );
    refused(
        &odd,
        Some(&refuse),
        &[],
        "the plugin refuses this config (SetConfig: refuse = true",
    );
}
