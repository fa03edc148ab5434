#![no_main]
//! `cargo +nightly fuzz run conn_table`: see fuzz_support::conn_table.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_support::conn_table::conn_table(data));
