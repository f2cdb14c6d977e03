//! The autoscaler suites against the reference plugins: they pass, and the
//! suite notices what the agent would refuse.

mod support;

use std::path::PathBuf;

use nomad_plugin_sdk::autoscaler::ScalingDirection;
use nomad_plugin_testkit::autoscaler::{AutoscalerSuite, StrategyCase};
use nomad_plugin_testkit::report::CheckStatus;

fn procfs() -> PathBuf {
    support::bin("apm-procfs", "apm-procfs")
}

fn target_value() -> PathBuf {
    support::bin("strategy-target-value", "strategy-target-value")
}

fn file_target() -> PathBuf {
    support::bin("target-file", "target-file")
}

#[tokio::test(flavor = "multi_thread")]
async fn apm_procfs_passes() {
    let report = AutoscalerSuite::apm(procfs())
        .config("sample_interval", "200ms")
        .config("retention", "5m")
        .query("load_1")
        .query("memory_percent")
        .query("max(memory_used_bytes)")
        .bad_query("no_such_metric")
        .bad_query("avg(load_1")
        .bad_query("")
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
    for name in [
        "launch",
        "plugin_info.type",
        "plugin_info.name",
        "set_config",
        "set_config.reload",
        "query[load_1]",
        "query[memory_percent]",
        "query[max(memory_used_bytes)]",
        "bad_query[no_such_metric]",
        "bad_query[avg(load_1]",
        "bad_query[]",
        "query_multiple",
        "still_serving",
        "secrets.token_not_logged",
        "shutdown",
    ] {
        assert_eq!(
            report.status(name),
            Some(CheckStatus::Passed),
            "{name}\n{report}"
        );
    }
    let bad = report.check("bad_query[no_such_metric]").expect("check");
    assert!(bad.detail.contains("known metrics"), "{}", bad.detail);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_driver_name_is_refused_like_the_agent() {
    let report = AutoscalerSuite::apm(procfs())
        .driver("procfs")
        .query("load_1")
        .run()
        .await;
    assert_eq!(
        report.status("plugin_info.name"),
        Some(CheckStatus::Failed),
        "{report}"
    );
    let detail = &report.check("plugin_info.name").expect("check").detail;
    assert!(detail.contains("doesn't match local config"), "{detail}");
    // The agent stops there: nothing else is tried.
    assert_eq!(report.status("query[load_1]"), None, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_kind_is_refused_like_the_agent() {
    let report = AutoscalerSuite::strategy(procfs()).run().await;
    assert_eq!(
        report.status("plugin_info.type"),
        Some(CheckStatus::Failed),
        "{report}"
    );
    assert!(!report.passed());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_config_and_accepted_bad_queries_fail() {
    let report = AutoscalerSuite::apm(procfs())
        .config("sample_interval", "1ms")
        .run()
        .await;
    assert_eq!(
        report.status("set_config"),
        Some(CheckStatus::Failed),
        "{report}"
    );
    assert!(report
        .check("set_config")
        .expect("check")
        .detail
        .contains("sample_interval"));

    let report = AutoscalerSuite::apm(procfs())
        .bad_query("load_1")
        .run()
        .await;
    assert_eq!(
        report.status("bad_query[load_1]"),
        Some(CheckStatus::Failed),
        "{report}"
    );
}

fn target_value_suite() -> AutoscalerSuite {
    AutoscalerSuite::strategy(target_value())
        .case(
            StrategyCase::new("up", 2, vec![5.0, 26.0])
                .config("target", "13")
                .expect(ScalingDirection::Up, Some(4)),
        )
        .case(
            StrategyCase::new("down", 10, vec![20.0])
                .config("target", "40")
                .expect(ScalingDirection::Down, Some(5)),
        )
        .case(
            StrategyCase::new("steady", 3, vec![10.05])
                .config("target", "10")
                .expect(ScalingDirection::None, None),
        )
        .case(
            StrategyCase::new("from_zero", 0, vec![20.0])
                .config("target", "10")
                .expect(ScalingDirection::Up, Some(2)),
        )
        .case(
            StrategyCase::new("limited", 2, vec![100.0])
                .config("target", "1")
                .config("max_scale_up", "3")
                .expect(ScalingDirection::Up, Some(5)),
        )
        .case(StrategyCase::new("no_target", 2, vec![1.0]).expect_error())
}

#[tokio::test(flavor = "multi_thread")]
async fn strategy_target_value_passes() {
    let report = target_value_suite().run().await;
    println!("{report}");
    report.assert_passed();
    assert_eq!(report.status("run[no_target]"), Some(CheckStatus::Passed));
    let up = &report.check("run[up]").expect("check").detail;
    assert!(up.contains("factor is 2.000000"), "{up}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_strategy_expectations_fail() {
    let report = AutoscalerSuite::strategy(target_value())
        .case(
            StrategyCase::new("claims_down", 2, vec![26.0])
                .config("target", "13")
                .expect(ScalingDirection::Down, None),
        )
        .case(
            StrategyCase::new("claims_error", 2, vec![26.0])
                .config("target", "13")
                .expect_error(),
        )
        .run()
        .await;
    assert_eq!(
        report.status("run[claims_down]"),
        Some(CheckStatus::Failed),
        "{report}"
    );
    assert_eq!(
        report.status("run[claims_error]"),
        Some(CheckStatus::Failed),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn target_file_passes_and_scales_back() {
    let dir = std::env::temp_dir().join(format!("autoscaler-suite-target-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("count"), "3\n").expect("seed");
    let report = AutoscalerSuite::target(file_target())
        .config("base_dir", dir.to_str().expect("utf-8"))
        .target_config("path", "count")
        .scale_by(2)
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
    for name in [
        "status",
        "scale",
        "scale.status_follows",
        "scale.same_count",
        "scale.back",
        "scale.dry_run",
    ] {
        assert_eq!(
            report.status(name),
            Some(CheckStatus::Passed),
            "{name}\n{report}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("count")).expect("file"),
        "3\n"
    );

    // Without a path the target cannot answer Status: the suite says so.
    let report = AutoscalerSuite::target(file_target())
        .config("base_dir", dir.to_str().expect("utf-8"))
        .run()
        .await;
    assert_eq!(
        report.status("status"),
        Some(CheckStatus::Failed),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
