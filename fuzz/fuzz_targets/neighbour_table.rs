#![no_main]
//! `cargo +nightly fuzz run neighbour_table`: see fuzz_support::neighbour_table.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_support::neighbour_table::neighbour_table(data));
