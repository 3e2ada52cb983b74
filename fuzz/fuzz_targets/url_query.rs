#![no_main]
//! See `tearsheet_api::fuzzing::url_query` for what must hold.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tearsheet_api::fuzzing::url_query(data));
