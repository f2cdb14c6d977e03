#[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct Inner {
    x: String,
}

#[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct Config {
    #[nomad(default = 5)]
    inner: Inner,
}

fn main() {}
