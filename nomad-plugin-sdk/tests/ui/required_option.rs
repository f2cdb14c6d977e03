#[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct Config {
    #[nomad(required)]
    image: Option<String>,
}

fn main() {}
