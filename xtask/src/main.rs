//! Project automation for nomad-plugin-rs: `cargo xtask <command>`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test    install what the tests need (Go modules for the interop hosts) and run the whole test suite
  demo    build a reference plugin and drive it through the testkit as a Nomad client would
  bench   build the runtime probes (Rust and Go) in release mode and print launch figures side by side
  fuzz    run every fuzz target for --seconds N each (default 60) with cargo-fuzz on nightly; without
          nightly or cargo-fuzz, replay the corpora plus --runs N (default 20000) mutated inputs per
          target on stable (no coverage guidance: a smoke test, not fuzzing)
";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match cmd.as_str() {
        "test" => test(&rest),
        "demo" => demo(&rest),
        "bench" => bench(&rest),
        "fuzz" => fuzz(&rest),
        "" | "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// The repository root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs the test suite, after making sure the Go interop hosts can build.
fn test(extra: &[String]) -> Result<()> {
    ensure_system_packages()?;
    ensure_go_modules()?;
    run(cargo()
        .args(["test", "--workspace", "--all-features", "--all-targets"])
        .args(extra))?;
    run(cargo().args(["test", "--workspace", "--all-features", "--doc"]))?;
    Ok(())
}

/// Installs, with apt, the system tools the reference plugins' tests use
/// when they are missing: e2fsprogs and mount (ext4 images on loop
/// devices for the host volume plugin). Without root or apt the tests still
/// run, in the plugin's plain-directory mode.
fn ensure_system_packages() -> Result<()> {
    let missing: Vec<&str> = [("mkfs.ext4", "e2fsprogs"), ("losetup", "mount")]
        .into_iter()
        .filter(|(tool, _)| which(tool).is_none() && !Path::new("/sbin").join(tool).exists())
        .map(|(_, pkg)| pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let Some(apt) = which("apt-get") else {
        eprintln!(
            "xtask: {missing:?} missing and no apt-get; host volume tests use directory mode"
        );
        return Ok(());
    };
    run(Command::new(&apt).arg("update").arg("-qq"))?;
    run(Command::new(&apt)
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Downloads the Go modules the interop hosts pin, so the Rust tests that
/// build those hosts work offline afterwards.
fn ensure_go_modules() -> Result<()> {
    let interop = root().join("nomad-plugin-testkit/interop");
    if !interop.join("go.mod").exists() {
        return Ok(());
    }
    let go = which("go").context(
        "the interop tests need the Go toolchain (`go` on PATH); install Go 1.22 or newer",
    )?;
    run(Command::new(go)
        .args(["mod", "download"])
        .current_dir(&interop))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([
            PathBuf::from("/usr/local/go/bin"),
            PathBuf::from("/usr/sbin"),
            PathBuf::from("/sbin"),
        ])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The main job: build the reference driver and drive it like a Nomad
/// client, from an agent config and a task config in HCL.
fn demo(extra: &[String]) -> Result<()> {
    run(cargo().args(["build", "--quiet", "-p", "driver-rsexec", "--bin", "rsexec"]))?;
    let plugin = target_dir().join("debug/rsexec");
    let demo = root().join("examples/driver-rsexec/demo");
    run(cargo()
        .args([
            "run",
            "--quiet",
            "-p",
            "nomad-plugin-testkit",
            "--example",
            "demo",
            "--",
        ])
        .arg(plugin)
        .arg(demo.join("agent.hcl"))
        .arg(demo.join("task.hcl"))
        .args(extra))
}

/// The shared target directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// Benchmarks: builds the Rust and Go probe plugins optimised, then runs the
/// testkit's bench binaries with their paths.
fn bench(extra: &[String]) -> Result<()> {
    run(cargo().args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "nomad-plugin-sdk",
        "--example",
        "runtime_probe",
    ]))?;
    let go_probe = target_dir().join("interop/goplugin-probe");
    let go = which("go").context("the benchmarks compare against Go: install Go")?;
    run(Command::new(go)
        .current_dir(root().join("nomad-plugin-testkit/interop"))
        .args(["build", "-o"])
        .arg(&go_probe)
        .arg("./cmd/goplugin-probe"))?;
    run(cargo()
        .args(["bench", "-p", "nomad-plugin-testkit", "--bench", "runtime"])
        .env(
            "BENCH_RUST_PLUGIN",
            target_dir().join("release/examples/runtime_probe"),
        )
        .env("BENCH_GO_PLUGIN", go_probe)
        .args(extra))
}

/// The fuzz crates, relative to the root: each is its own cargo workspace,
/// excluded from the main one so that normal builds need no nightly.
const FUZZ_CRATES: &[&str] = &["nomad-plugin-sdk/fuzz", "nomad-plugin-testkit/fuzz"];

/// `cargo xtask fuzz [--seconds N] [--runs N] [--stable]`.
fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds: u64 = 60;
    let mut runs: u64 = 20_000;
    let mut force_stable = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().context("--seconds needs a value")?.parse()?,
            "--runs" => runs = it.next().context("--runs needs a value")?.parse()?,
            "--stable" => force_stable = true,
            other => bail!("unknown fuzz option `{other}`"),
        }
    }
    let nightly = !force_stable
        && Command::new("cargo")
            .args(["+nightly", "fuzz", "--version"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if !nightly {
        eprintln!(
            "xtask: no nightly toolchain with cargo-fuzz (or --stable): running the stable \
             fallback, corpus + {runs} mutated inputs per target, without coverage guidance"
        );
    }
    for krate in FUZZ_CRATES {
        let dir = root().join(krate);
        // The fuzz crates sit inside a package directory, so run cargo from
        // there: cargo fuzz finds `fuzz/` below the current directory.
        let parent = dir.parent().context("fuzz crate without parent")?;
        if !nightly {
            run(Command::new("cargo")
                .current_dir(&dir)
                .args(["test", "--release", "--test", "stable", "--", "--nocapture"])
                .env("FUZZ_RUNS", runs.to_string()))?;
            continue;
        }
        let list = Command::new("cargo")
            .current_dir(parent)
            .args(["+nightly", "fuzz", "list"])
            .output()
            .context("cargo fuzz list")?;
        if !list.status.success() {
            bail!("cargo fuzz list failed in {}", parent.display());
        }
        for target in String::from_utf8_lossy(&list.stdout).lines() {
            let target = target.trim();
            if target.is_empty() {
                continue;
            }
            // Fuzz into a scratch corpus so a run does not flood the checked
            // in seeds; the seeds are read as a second corpus directory.
            let scratch = dir.join("target/corpus").join(target);
            std::fs::create_dir_all(&scratch)?;
            run(Command::new("cargo")
                .current_dir(parent)
                .args(["+nightly", "fuzz", "run", "-O", target])
                .arg(&scratch)
                .arg(dir.join("corpus").join(target))
                .args([
                    "--",
                    &format!("-max_total_time={seconds}"),
                    "-max_len=65536",
                ]))?;
        }
    }
    Ok(())
}
