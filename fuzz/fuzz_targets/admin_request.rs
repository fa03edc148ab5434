#![no_main]
//! `cargo +nightly fuzz run admin_request`: see fuzz_support::admin_request.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_support::admin_request(data));
