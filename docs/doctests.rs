//! Compiles the Rust code blocks of the nomad-plugin-rs guide (`docs/src/`)
//! as doc tests, so `cargo test --doc` breaks when a page's example stops
//! compiling against the SDK and testkit.
//!
//! Each page with Rust code is included below as the docs of an empty
//! module. Blocks marked `no_run` are compiled but not run (they would
//! serve forever or need a plugin binary); other Rust blocks also run.
//! Blocks that show code from `examples/` use mdBook's `{{#include}}` and are
//! marked `ignore` here: the example crates compile that code themselves.

macro_rules! guide {
    ($($module:ident => $page:literal,)*) => {
        $(
            #[cfg(doctest)]
            #[doc = include_str!(concat!("src/", $page))]
            mod $module {}
        )*
    };
}

guide! {
    introduction => "README.md",
    concepts => "concepts.md",
    getting_started => "getting-started.md",
    task_drivers => "task-drivers.md",
    driver_testing => "driver-testing.md",
    device_plugins => "device-plugins.md",
    csi_plugins => "csi-plugins.md",
    autoscaler_plugins => "autoscaler-plugins.md",
    host_volume_plugins => "host-volume-plugins.md",
    secret_provider_plugins => "secret-provider-plugins.md",
    testing => "testing.md",
    debugging => "debugging.md",
    packaging => "packaging.md",
    shipping => "shipping.md",
    versioning => "versioning.md",
    benchmarks => "benchmarks.md",
    hardening => "hardening.md",
    design => "design.md",
}
