//! Runs the provider binary exactly as Nomad does, through the testkit.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nomad_plugin_testkit::common::{
    install_plugin, CheckStatus, FetchVerdict, SecretBlock, SecretsCaller, SecretsSuite,
};

const ID: &str = "files";

struct Setup {
    secrets_dir: PathBuf,
    root: PathBuf,
}

fn write(path: &Path, body: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, body).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Installs the plugin, its config and every fixture once, before any test
/// starts a process (see `install_plugin` on ETXTBSY).
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("secret-provider-files");
        let _ = std::fs::remove_dir_all(&base);
        let secrets_dir = base.join("common_plugins/secrets");
        let root = base.join("root");
        install_plugin(
            Path::new(env!("CARGO_BIN_EXE_secret-provider-files")),
            &secrets_dir,
            ID,
        )
        .expect("install");
        write(
            &secrets_dir.join(format!("{ID}.json")),
            &format!("{{\"root\": {:?}}}", root.to_string_lossy()),
            0o600,
        );
        for dir in [&base, &root] {
            std::fs::create_dir_all(dir).expect("mkdir");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        write(
            &root.join("default/db"),
            "# database\nuser=app\npassword=s3cret\n",
            0o600,
        );
        write(
            &root.join("default/api/token"),
            r#"{"token": "t0k", "ttl": 3600}"#,
            0o600,
        );
        write(&root.join("prod/db"), "user=prod\n", 0o600);
        write(&root.join("default/readable"), "k=v\n", 0o640);
        write(&root.join("open/db"), "k=v\n", 0o600);
        std::fs::set_permissions(root.join("open"), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        std::os::unix::fs::symlink(root.join("prod/db"), root.join("default/link"))
            .expect("symlink");
        Setup { secrets_dir, root }
    })
}

fn caller() -> SecretsCaller {
    SecretsCaller::new(&setup().secrets_dir, ID)
}

#[tokio::test]
async fn passes_the_suite() {
    let s = setup();
    let report = SecretsSuite::new(&s.secrets_dir, ID, "db", "nope")
        .expect([("user", "app"), ("password", "s3cret")])
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
    for check in [
        "reserved-id",
        "fingerprint",
        "fetch",
        "fetch-again",
        "fetch-missing",
        "fetch-dash-path",
    ] {
        assert_eq!(
            report.status(check),
            Some(CheckStatus::Passed),
            "{check}\n{report}"
        );
    }
}

async fn fetch(block: SecretBlock) -> FetchVerdict {
    let call = caller().fetch(&block).await;
    assert!(
        call.run.stderr.is_empty(),
        "stderr on exit 0 would crash the agent"
    );
    call.verdict
}

fn fails_with(v: FetchVerdict, needle: &str) {
    match v {
        FetchVerdict::TaskFails(msg) => assert!(msg.contains(needle), "{msg:?} lacks {needle:?}"),
        other => panic!("expected a task failure mentioning {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn reads_json_files_and_nested_paths() {
    setup();
    match fetch(SecretBlock::new("api", "api/token")).await {
        FetchVerdict::Secrets(s) => {
            assert_eq!(s["secret.api.token"], "t0k");
            assert_eq!(s["secret.api.ttl"], "3600");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn namespaces_are_isolated() {
    setup();
    match fetch(SecretBlock::new("db", "db").namespace("prod")).await {
        FetchVerdict::Secrets(s) => assert_eq!(s["secret.db.user"], "prod"),
        other => panic!("{other:?}"),
    }
    // A job cannot escape its namespace through the path or its env{}.
    fails_with(fetch(SecretBlock::new("db", "../prod/db")).await, "denied");
    let forged = SecretBlock::new("db", "db").env("NOMAD_NAMESPACE", "prod");
    match fetch(forged).await {
        FetchVerdict::Secrets(s) => assert_eq!(s["secret.db.user"], "app"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn permission_rules_deny_with_a_reason() {
    setup();
    fails_with(fetch(SecretBlock::new("r", "readable")).await, "chmod 600");
    fails_with(fetch(SecretBlock::new("l", "link")).await, "symbolic link");
    fails_with(
        fetch(SecretBlock::new("o", "db").namespace("open")).await,
        "chmod go-w",
    );
    fails_with(
        fetch(SecretBlock::new("m", "missing/deeper")).await,
        "not found",
    );
}

#[tokio::test]
async fn a_world_writable_root_denies_everything() {
    let s = setup();
    // A copy of the plugin with its own config pointing at a bad root.
    let dir = s.root.parent().expect("base").join("loose");
    let bad_root = dir.join("root");
    write(&bad_root.join("default/db"), "k=v\n", 0o600);
    std::fs::set_permissions(&bad_root, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    // The config names the bad root; reuse the installed binary via a hard link.
    let plugin = dir.join("secrets");
    std::fs::create_dir_all(&plugin).expect("mkdir");
    let _ = std::fs::remove_file(plugin.join(ID));
    std::fs::hard_link(s.secrets_dir.join(ID), plugin.join(ID)).expect("link");
    write(
        &plugin.join(format!("{ID}.json")),
        &format!("{{\"root\": {:?}}}", bad_root.to_string_lossy()),
        0o600,
    );
    let call = SecretsCaller::new(&plugin, ID)
        .fetch(&SecretBlock::new("db", "db"))
        .await;
    fails_with(call.verdict, "group or others can write it");
}
