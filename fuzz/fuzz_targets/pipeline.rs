#![no_main]
//! `cargo +nightly fuzz run pipeline`: see fuzz_support::pipeline.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_support::pipeline(data));
