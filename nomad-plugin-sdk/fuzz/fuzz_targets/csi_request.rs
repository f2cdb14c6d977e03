#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nomad_plugin_sdk_fuzz::csi_request(data));
