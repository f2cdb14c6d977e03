//! Compile-fail tests for `#[derive(ConfigSchema)]`'s error messages.
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
