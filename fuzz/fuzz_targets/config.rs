#![no_main]
//! `cargo +nightly fuzz run config`: see fuzz_support::config.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_support::config(data));
