#![no_main]
//! `cargo +nightly fuzz run save_file`: see fuzz_support::save_file.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_support::save_file(data));
