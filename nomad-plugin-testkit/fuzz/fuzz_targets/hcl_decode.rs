#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nomad_plugin_testkit_fuzz::hcl_decode(data));
