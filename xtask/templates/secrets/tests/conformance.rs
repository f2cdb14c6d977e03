//! Runs the provider exactly as Nomad does, through the testkit's suite.

use std::path::Path;

use nomad_plugin_testkit::common::{install_plugin, SecretsSuite};

#[tokio::test(flavor = "multi_thread")]
async fn behaves_like_nomad_expects() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("{{name}}-secrets");
    let _ = std::fs::remove_dir_all(&dir);
    install_plugin(Path::new(env!("CARGO_BIN_EXE_{{name}}")), &dir, "{{name}}")
        .expect("install the plugin");
    let report = SecretsSuite::new(&dir, "{{name}}", "example", "no-such-secret")
        .expect([("value", "hello from {{name}}")])
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
}
