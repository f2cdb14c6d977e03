//! `cargo xtask fuzz` without nightly: every target's corpus plus
//! FUZZ_RUNS (default 20000) mutated inputs, seeded by FUZZ_SEED.
use std::path::Path;

#[test]
fn every_target_on_stable() {
    let runs = std::env::var("FUZZ_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, target) in nomad_plugin_testkit_fuzz::TARGETS {
        let n = nomad_plugin_testkit_fuzz::stable::run(*target, &root.join(name), runs, seed);
        eprintln!("{name}: {n} inputs, no panic (seed {seed})");
    }
}
