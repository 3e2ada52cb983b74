#![no_main]
//! See `tearsheet_api::fuzzing::request_body` for what must hold.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tearsheet_api::fuzzing::request_body(data));
