#![no_main]
//! `cargo +nightly fuzz run sync_decode`: see [`fuzz_support::sync_decode`].

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_support::sync_decode(data));
