#![no_main]
//! `cargo +nightly fuzz run checksum`: see fuzz_support::checksum.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_support::checksum(data));
