#![no_main]
//! See `tearsheet_api::fuzzing::config_filter` for what must hold.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tearsheet_api::fuzzing::config_filter(data));
