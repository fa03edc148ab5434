#![no_main]
//! `cargo +nightly fuzz run sync_decode`: the IPVS sync decoder never panics
//! on any datagram, and what it accepts survives re-encoding: the entries of
//! a decoded message, encoded as version 1 and decoded again, are the same.

use libfuzzer_sys::fuzz_target;
use rvs::ipvs::sync::{decode, encode, SyncConn};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = decode(data) else { return };
    let again: Vec<SyncConn> = encode(msg.syncid, &msg.conns, 65507)
        .iter()
        .flat_map(|m| match decode(m) {
            Ok(d) => {
                assert!(d.skipped.is_empty(), "re-encoded entries skipped: {:?}", d.skipped);
                assert_eq!(d.syncid, msg.syncid);
                d.conns
            }
            Err(e) => panic!("re-encoded message refused: {e}"),
        })
        .collect();
    assert_eq!(again, msg.conns);
});
