//! Project automation for nomad-plugin-rs: `cargo xtask <command>`.

use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

mod book;
mod package;
mod public_api;
mod workflows;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test    install what the tests need (Go modules for the interop hosts) and run the whole test suite
  demo    build a reference plugin and drive it through the testkit as a Nomad client would
  bench   build the runtime probes and reference drivers (Rust and Go) in release mode and print their
          figures side by side; `bench --load` runs the load benchmark instead (10,000 tasks started and
          destroyed in rounds, 10,000 WaitTask calls, 1,000 TaskStats streams; several minutes)
  new-plugin --kind KIND NAME [--path DIR] [--local]
          generate a standalone plugin crate with a conformance test
          (KIND: driver, device, csi, apm, strategy, target, host-volume, secrets);
          it depends on this checkout by path when generated inside it or with --local,
          on the published crates otherwise
  test-new-plugins [--kind KIND] [--ci-only]
          generate one plugin of every kind outside the repository and run the `run:` steps of
          its CI workflow, then of its release workflow, unedited (also the last step of `test`);
          the release profile is unoptimised (CARGO_PROFILE_RELEASE_OPT_LEVEL=0) unless
          XTASK_RELEASE_OPTIMISED=1
  package [--no-verify]
          `cargo package` (verified unless --no-verify) of proto, derive, sdk and testkit; checks
          what the packages hold; builds and tests a generated driver outside the repository
          against the packages (also a step of `test`, with --no-verify)
  book    check the guide's links and build it with mdBook into target/book/ (installs the pinned
          mdbook into target/tools/ the first time; also the last step of `test`)
  public-api [--bless]
          compare the public API of nomad-plugin-sdk and nomad-plugin-testkit with the snapshots
          (<crate>/public-api.txt) and print the difference; --bless rewrites them (also the first
          step of `test`)
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
        "new-plugin" => new_plugin_cmd(&rest),
        "test-new-plugins" => test_generated_plugins(&rest),
        "fuzz" => fuzz(&rest),
        "book" => book::book(&rest),
        "package" => package::package(&rest),
        "public-api" => public_api::public_api(&rest),
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
    // Seconds, and the cheapest way to fail: a surface change nobody blessed.
    public_api::public_api(&[])?;
    ensure_system_packages()?;
    ensure_go_modules()?;
    // The integration tests launch real plugin binaries. Build them all in
    // one parallel cargo run first, with the same flags the tests' own
    // builds use, so those later builds find everything up to date.
    run(cargo().args([
        "build",
        "--workspace",
        "--all-features",
        "--bins",
        "--examples",
    ]))?;
    demo_exits()?;
    run(cargo()
        .args(["test", "--workspace", "--all-features", "--all-targets"])
        .args(extra))?;
    // The doc tests include the guide's code blocks (docs/doctests.rs).
    run(cargo().args(["test", "--workspace", "--all-features", "--doc"]))?;
    test_generated_plugins(&[])?;
    package::package(&["--no-verify".to_string()])?;
    book::book(&[])
}

/// The kinds `new-plugin` has a template for (`xtask/templates/<kind>/`).
const KINDS: &[&str] = &[
    "driver",
    "device",
    "csi",
    "apm",
    "strategy",
    "target",
    "host-volume",
    "secrets",
];

fn templates() -> PathBuf {
    root().join("xtask/templates")
}

/// `cargo xtask new-plugin --kind KIND NAME [--path DIR] [--local]`.
fn new_plugin_cmd(args: &[String]) -> Result<()> {
    let mut kind = None;
    let mut name = None;
    let mut path = None;
    let mut local = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kind" => kind = Some(it.next().context("--kind needs a value")?.clone()),
            "--path" => path = Some(PathBuf::from(it.next().context("--path needs a value")?)),
            "--local" => local = true,
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n\n{USAGE}"),
            n if name.is_none() => name = Some(n.to_string()),
            extra => bail!("unexpected argument {extra:?}\n\n{USAGE}"),
        }
    }
    let kind = kind.context("--kind is required")?;
    let name = name.context("NAME is required")?;
    let dir = path.unwrap_or_else(|| PathBuf::from(&name));
    let dir = if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()?.join(dir)
    };
    let inside = dir.starts_with(root().canonicalize()?) || dir.starts_with(root());
    new_plugin(&kind, &name, &dir, inside || local)?;
    eprintln!(
        "xtask: generated a {kind} plugin in {}\n  cd {} && cargo test",
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// A plugin name must be a crate name and a file name Nomad accepts.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "plugin name {name:?}: use lowercase letters, digits, `-` and `_`, starting with a \
             letter (it is the crate, binary and plugin name)"
        );
    }
    if matches!(name, "nomad" | "vault" | "mkdir") {
        bail!("plugin name {name:?} is reserved by Nomad for a built-in plugin");
    }
    Ok(())
}

/// Generates the crate for `kind` at `dir` from `xtask/templates/<kind>/`.
/// `in_repo`: depend on this checkout's crates by path, not by version.
fn new_plugin(kind: &str, name: &str, dir: &Path, in_repo: bool) -> Result<()> {
    if !KINDS.contains(&kind) {
        bail!(
            "no template for kind {kind:?}; available: {}",
            KINDS.join(", ")
        );
    }
    check_name(name)?;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    let root = root().canonicalize()?;
    std::fs::create_dir_all(dir)?;
    let dir_abs = dir.canonicalize()?;
    // Inside this repository the crate builds against the checkout;
    // anywhere else against the published crates.
    let (sdk, testkit) = if in_repo {
        (
            format!(
                "path = {:?}",
                root.join("nomad-plugin-sdk").display().to_string()
            ),
            format!(
                "path = {:?}",
                root.join("nomad-plugin-testkit").display().to_string()
            ),
        )
    } else {
        let v = env!("CARGO_PKG_VERSION");
        (format!("version = \"{v}\""), format!("version = \"{v}\""))
    };
    let vars = [
        ("name", name.to_string()),
        ("sdk_dep", sdk),
        ("testkit_dep", testkit),
        ("testkit_version", env!("CARGO_PKG_VERSION").to_string()),
        ("review_args", review_args(kind).to_string()),
    ];
    copy_template(&templates().join(kind), &dir_abs, &vars)?;
    // What every kind shares: the CI and release workflows, .gitignore,
    // the licence the integration program requires, and the README's
    // "CI and releases" section.
    copy_template(&templates().join("_shared"), &dir_abs, &vars)?;
    std::fs::copy(root.join("LICENSE"), dir_abs.join("LICENSE")).context("copying LICENSE")?;
    let readme = dir_abs.join("README.md");
    let mut text = std::fs::read_to_string(&readme).context("reading the generated README")?;
    text.push_str(&render(&templates().join("_readme/ci.md"), &vars)?);
    std::fs::write(&readme, text).context("writing the generated README")?;
    // The templates are formatted for a short name; a longer one moves
    // line breaks. Format the crate so that its CI's `cargo fmt --check`
    // passes from the first commit.
    let fmt = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["fmt", "--manifest-path"])
        .arg(dir_abs.join("Cargo.toml"))
        .status();
    match fmt {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!("cargo fmt on the generated crate failed with {s}"),
        Err(e) => {
            eprintln!(
                "xtask: cargo fmt not available ({e}); run it in the crate before its CI does"
            );
            Ok(())
        }
    }
}

/// What the workflows pass to `nomad-plugin-testkit review` for `kind`,
/// after the binary and `--out DIR`: the template's own check options.
/// Every group of the driver suite runs: the template recovers its tasks
/// on the SDK's executor and its conformance test runs the whole suite.
fn review_args(kind: &str) -> &'static str {
    match kind {
        "driver" => "--config example/agent.hcl",
        "device" => "--config example/agent.hcl",
        "csi" => "--kind csi -- --node-id review-node --data-dir \"$PWD/target/review-csi-data\"",
        "apm" => "--kind apm",
        "strategy" => "--kind strategy",
        "target" => "--kind target",
        "host-volume" => "--kind host-volume",
        "secrets" => "--kind secrets --secret example",
        _ => "",
    }
}

/// One template file with `{{var}}` replaced; an unknown variable is an
/// error.
fn render(path: &Path, vars: &[(&str, String)]) -> Result<String> {
    let mut text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    for (k, v) in vars {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    if let Some(left) = text.find("{{") {
        let rest: String = text[left..].chars().take(30).collect();
        bail!("{}: unknown template variable at {rest:?}", path.display());
    }
    Ok(text)
}

/// Copies a template tree, replacing `{{var}}` in every file.
fn copy_template(from: &Path, to: &Path, vars: &[(&str, String)]) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_template(&entry.path(), &target, vars)?;
            continue;
        }
        let text = render(&entry.path(), vars)?;
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

/// Generates one plugin of every kind outside this repository (under the
/// system's temporary directory, with `--local` path dependencies on this
/// checkout) and runs the `run:` steps of its CI workflow and then of its
/// release workflow, in order and unedited: fmt, clippy, the conformance
/// test, the review package, a release build, SHA256SUMS and the review of
/// the release binary. The crates share this repository's target directory
/// (`CARGO_TARGET_DIR`, which the steps honour) and lock file, so
/// dependencies are built once per profile and feature set, and the testkit
/// CLI is this checkout's (`NOMAD_PLUGIN_TESTKIT`, the workflows' override
/// of `cargo install`). `--ci-only` skips the release workflows; the
/// release profile is unoptimised unless `XTASK_RELEASE_OPTIMISED=1`.
fn test_generated_plugins(args: &[String]) -> Result<()> {
    let ci_only = args.iter().any(|a| a == "--ci-only");
    let kinds: Vec<&str> = match args.iter().position(|a| a == "--kind") {
        Some(i) => vec![args.get(i + 1).context("--kind needs a value")?.as_str()],
        None => KINDS.to_vec(),
    };
    run(cargo().args([
        "build",
        "--quiet",
        "-p",
        "nomad-plugin-testkit",
        "--bin",
        "nomad-plugin-testkit",
    ]))?;
    let testkit = target_dir().join("debug/nomad-plugin-testkit");
    // The release steps build every dependency a second time, in the
    // release profile: from a cold target directory about 8 minutes
    // optimised and 6 unoptimised on the shared 2-core machine (see the
    // commit message), then one to two minutes per kind. The steps under
    // test (names, checksums, the review of that exact binary) do not
    // depend on the optimiser, so unless XTASK_RELEASE_OPTIMISED=1 the
    // release profile is made unoptimised through cargo's own
    // CARGO_PROFILE_RELEASE_* variables; the workflow files stay as they
    // are.
    let release_profile: &[(&str, &str)] =
        if std::env::var_os("XTASK_RELEASE_OPTIMISED").is_some_and(|v| v == "1") {
            &[]
        } else {
            &[
                ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0"),
                ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256"),
            ]
        };
    let base = std::env::temp_dir().join(format!("xtask-new-plugin-{}", std::process::id()));
    if base.exists() {
        std::fs::remove_dir_all(&base)?;
    }
    let result = (|| {
        for kind in &kinds {
            let started = std::time::Instant::now();
            let name = format!("gen-{kind}");
            let dir = base.join(&name);
            new_plugin(kind, &name, &dir, true)?;
            std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock"))?;
            let overrides = [
                ("CARGO_TARGET_DIR", target_dir()),
                ("NOMAD_PLUGIN_TESTKIT", testkit.clone()),
            ];
            let overrides: Vec<(&str, &OsStr)> =
                overrides.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
            let ci = workflows::parse(&dir.join(".github/workflows/ci.yml"))?;
            let release = workflows::parse(&dir.join(".github/workflows/release.yml"))?;
            // The actions GitHub runs around the steps: checkout first, the
            // review package kept, the release published.
            for (w, needed) in [
                (&ci, "actions/upload-artifact@"),
                (&release, "softprops/action-gh-release@"),
            ] {
                if !w
                    .actions
                    .first()
                    .is_some_and(|a| a.starts_with("actions/checkout@"))
                    || !w.actions.iter().any(|a| a.starts_with(needed))
                {
                    bail!(
                        "{}: expected checkout first and {needed}: {:?}",
                        w.path.display(),
                        w.actions
                    );
                }
            }
            workflows::run_steps(&ci, &dir, &overrides)?;
            check_review_package(&dir.join("target/review"), &name)?;
            let ci_time = started.elapsed();
            if !ci_only {
                let mut overrides = overrides.clone();
                overrides.extend(release_profile.iter().map(|(k, v)| (*k, OsStr::new(v))));
                workflows::run_steps(&release, &dir, &overrides)?;
                check_release(&dir, &name)?;
            }
            eprintln!(
                "xtask: {name}: CI steps {:.0}s, release steps {:.0}s",
                ci_time.as_secs_f64(),
                (started.elapsed() - ci_time).as_secs_f64()
            );
        }
        Ok(())
    })();
    // Kept on failure, to look at.
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&base);
    } else {
        eprintln!("xtask: the generated crates are kept in {}", base.display());
    }
    result
}

/// The review package the CI workflow wrote: every file, a met checklist.
fn check_review_package(dir: &Path, name: &str) -> Result<()> {
    for file in [
        "REVIEW.md",
        "report.html",
        "report.md",
        "junit.xml",
        "plugin.log",
        "SHA256SUMS",
    ] {
        let p = dir.join(file);
        if !p.is_file() {
            bail!("the review package lacks {}", p.display());
        }
    }
    let review = std::fs::read_to_string(dir.join("REVIEW.md"))?;
    if !review.contains("**READY") || review.contains("**FAILED**") {
        bail!("{name}: the review package is not ready:\n{review}");
    }
    Ok(())
}

/// The release workflow's dist/: the binary named as the plugin, its
/// checksum, and the review of that exact binary.
fn check_release(dir: &Path, name: &str) -> Result<()> {
    let dist = dir.join("dist");
    for file in [
        name.to_string(),
        "SHA256SUMS".into(),
        format!("{name}-verification-report.html"),
        format!("{name}-verification-report.md"),
        format!("{name}-review-package.tar.gz"),
    ] {
        if !dist.join(&file).is_file() {
            bail!("the release lacks dist/{file}");
        }
    }
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS"))?;
    let reviewed = std::fs::read_to_string(dir.join("target/release-review/SHA256SUMS"))?;
    if sums != reviewed || !sums.ends_with(&format!("  {name}\n")) {
        bail!("dist/SHA256SUMS {sums:?} is not the reviewed binary's {reviewed:?}");
    }
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
    // The interop hosts' module, and csi-sanity's (kept apart so its
    // dependencies never meet go-plugin's).
    for dir in [interop.clone(), interop.join("csi-sanity")] {
        if !dir.join("go.mod").exists() {
            continue;
        }
        let go = which("go").context(
            "the interop tests need the Go toolchain (`go` on PATH); install Go 1.25 or newer",
        )?;
        run(Command::new(go).args(["mod", "download"]).current_dir(&dir))?;
    }
    Ok(())
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

/// How long `cargo xtask demo` may take inside `cargo xtask test`: it builds
/// little (the workspace was just built) and runs for a few seconds, so this
/// only catches a demo that does not exit by itself.
const DEMO_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs `cargo xtask demo` as a newcomer does, with its standard input
/// closed, and fails unless it exits successfully by itself before
/// [`DEMO_DEADLINE`]. A demo that printed every step and then hung (its log
/// readers kept the runtime from shutting down) once passed unnoticed.
fn demo_exits() -> Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    eprintln!("xtask: running `cargo xtask demo` with stdin closed (deadline {DEMO_DEADLINE:?})");
    // Through cargo, as the newcomer types it: this xtask binary may have
    // been rebuilt (replaced on disk) by the workspace build before it.
    let mut child = cargo()
        .args(["xtask", "demo"])
        .stdin(Stdio::null())
        // Its own process group, so that a hung demo is killed with the
        // cargo, example and plugin processes under it.
        .process_group(0)
        .spawn()
        .context("could not start `cargo xtask demo`")?;
    let started = std::time::Instant::now();
    // Polling here is a deadline watch, not synchronisation: the outcome is
    // decided by the child's own exit.
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("`cargo xtask demo` failed with {status}");
            }
            eprintln!(
                "xtask: the demo exited by itself after {:?}",
                started.elapsed()
            );
            return Ok(());
        }
        if started.elapsed() > DEMO_DEADLINE {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            bail!(
                "`cargo xtask demo` did not exit within {DEMO_DEADLINE:?}: it must end by itself"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The shared target directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// Benchmarks: builds the Rust and Go probe plugins optimised, then runs the
/// testkit's bench binaries with their paths. `--load` runs the load bench
/// (`benches/load.rs`) against the reference drivers instead.
fn bench(extra: &[String]) -> Result<()> {
    let load = extra.iter().any(|a| a == "--load");
    let extra: Vec<&String> = extra.iter().filter(|a| *a != "--load").collect();
    if load {
        let (rsexec, go_driver) = build_drivers()?;
        return run(cargo()
            .args(["bench", "-p", "nomad-plugin-testkit", "--bench", "load"])
            .env("BENCH_RUST_DRIVER", rsexec)
            .env("BENCH_GO_DRIVER", go_driver)
            .args(extra));
    }
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
    run(Command::new(&go)
        .current_dir(root().join("nomad-plugin-testkit/interop"))
        .args(["build", "-o"])
        .arg(&go_probe)
        .arg("./cmd/goplugin-probe"))?;
    let mut runtime_bench = cargo();
    runtime_bench
        .args(["bench", "-p", "nomad-plugin-testkit", "--bench", "runtime"])
        .env(
            "BENCH_RUST_PLUGIN",
            target_dir().join("release/examples/runtime_probe"),
        )
        .env("BENCH_GO_PLUGIN", &go_probe);
    match build_floor() {
        Ok(floor) => {
            runtime_bench.env("BENCH_FLOOR_PLUGIN", floor);
        }
        Err(e) => eprintln!("xtask: no floor row in this run: {e:#}"),
    }
    run(runtime_bench.args(&extra))?;

    // The reference drivers, side by side: rsexec against go-exec-driver.
    let (rsexec, go_driver) = build_drivers()?;
    run(cargo()
        .args(["bench", "-p", "nomad-plugin-testkit", "--bench", "driver"])
        .env("BENCH_RUST_DRIVER", rsexec)
        .env("BENCH_GO_DRIVER", go_driver)
        .args(extra))
}

/// Builds the reference drivers optimised: rsexec (release profile) and
/// go-exec-driver (plain `go build`); their paths.
/// Builds the benchmark floor (`benches/floor/floor.c`): the smallest
/// program that binds the socket, prints the handshake line and answers
/// gRPC over HTTP/2, statically linked so that no shared library counts
/// against it (or for it).
fn build_floor() -> Result<PathBuf> {
    let cc = std::env::var_os("CC")
        .map(PathBuf::from)
        .or_else(|| which("cc"))
        .context("no C compiler (cc) for the floor program")?;
    let out = target_dir().join("bench-floor");
    std::fs::create_dir_all(&out)?;
    let bin = out.join("floor");
    run(Command::new(cc)
        .args(["-static", "-Os", "-s", "-Wall", "-o"])
        .arg(&bin)
        .arg(root().join("nomad-plugin-testkit/benches/floor/floor.c")))?;
    Ok(bin)
}

fn build_drivers() -> Result<(PathBuf, PathBuf)> {
    run(cargo().args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "driver-rsexec",
        "--bin",
        "rsexec",
    ]))?;
    let go = which("go").context("the benchmarks compare against Go: install Go")?;
    let go_driver = target_dir().join("interop/go-exec-driver");
    run(Command::new(&go)
        .current_dir(root().join("nomad-plugin-testkit/interop"))
        .args(["build", "-o"])
        .arg(&go_driver)
        .arg("./cmd/go-exec-driver"))?;
    Ok((target_dir().join("release/rsexec"), go_driver))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind's generated crate carries the licence, both workflows
    /// (valid for GitHub Actions, with the kind's review options) and the
    /// README sections. Generation only, no build: seconds.
    #[test]
    fn every_kind_gets_licence_workflows_and_readme_sections() {
        let base = std::env::temp_dir().join(format!("xtask-gen-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let licence = std::fs::read_to_string(root().join("LICENSE")).unwrap();
        for kind in KINDS {
            let name = format!("t-{kind}");
            let dir = base.join(&name);
            new_plugin(kind, &name, &dir, true).unwrap();
            assert_eq!(
                std::fs::read_to_string(dir.join("LICENSE")).unwrap(),
                licence
            );
            let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
            for section in [
                "\n## Installing\n",
                "\n## CI and releases\n",
                "\n## Licence\n",
            ] {
                assert!(readme.contains(section), "{kind}: README lacks {section:?}");
            }
            assert!(readme.contains(review_args(kind)), "{kind}: README");
            let ci = workflows::parse(&dir.join(".github/workflows/ci.yml")).unwrap();
            let release = workflows::parse(&dir.join(".github/workflows/release.yml")).unwrap();
            let review = |w: &workflows::Workflow| {
                w.steps
                    .iter()
                    .find(|s| s.run.contains(" review "))
                    .map(|s| s.run.clone())
                    .unwrap_or_default()
            };
            for w in [&ci, &release] {
                assert!(
                    review(w).contains(review_args(kind)),
                    "{kind}: {}",
                    review(w)
                );
                assert!(
                    w.steps[0].env.contains(&(
                        "NOMAD_PLUGIN_TESTKIT_VERSION".into(),
                        env!("CARGO_PKG_VERSION").into()
                    )),
                    "{kind}"
                );
            }
            assert!(release
                .steps
                .iter()
                .any(|s| s.run.contains(&format!("dist/{name}"))));
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn every_kind_has_review_options() {
        for kind in KINDS {
            assert!(!review_args(kind).is_empty(), "{kind}");
        }
    }
}
