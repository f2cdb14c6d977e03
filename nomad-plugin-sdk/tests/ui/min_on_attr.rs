#[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct Config {
    #[nomad(min = 1)]
    args: Vec<String>,
}

fn main() {}
