//! Runs the plugin exactly as Nomad does, through the testkit's suite.

use std::path::Path;

use nomad_plugin_testkit::common::{install_plugin, HostVolumeSuite};

#[tokio::test(flavor = "multi_thread")]
async fn behaves_like_nomad_expects() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("{{name}}-host-volume");
    let _ = std::fs::remove_dir_all(&base);
    let plugins = base.join("plugins");
    let volumes = base.join("volumes");
    std::fs::create_dir_all(&volumes).expect("create the volumes dir");
    install_plugin(Path::new(env!("CARGO_BIN_EXE_{{name}}")), &plugins, "{{name}}")
        .expect("install the plugin");
    let report = HostVolumeSuite::new(&plugins, "{{name}}", &volumes)
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
}
