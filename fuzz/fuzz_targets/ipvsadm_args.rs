#![no_main]
//! `cargo +nightly fuzz run ipvsadm_args`: see fuzz_support::ipvsadm_args.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_support::ipvsadm_args(data));
