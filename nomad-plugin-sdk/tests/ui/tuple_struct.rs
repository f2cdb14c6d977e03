#[derive(nomad_plugin_sdk::ConfigSchema)]
struct Config(String);

fn main() {}
