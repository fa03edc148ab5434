//! Replays every fuzz corpus file (`fuzz/corpus/<target>/`) and every saved
//! crash (`fuzz/artifacts/<target>/`, regression inputs) through the same
//! code the cargo-fuzz targets run, on the stable toolchain: a panic fails.
//!
//! The seeds are built by `fuzz/src/corpus.rs`; to write them again:
//! `RVS_FUZZ_REGEN=1 cargo test --release --test fuzz_replay regenerate -- --ignored`.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_support;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

fn replay(target: &str) {
    let corpus = files(&root().join("fuzz/corpus").join(target));
    assert!(!corpus.is_empty(), "no corpus for fuzz target {target}");
    let artifacts = files(&root().join("fuzz/artifacts").join(target));
    let mut failed = Vec::new();
    for f in corpus.iter().chain(&artifacts) {
        let data = std::fs::read(f).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| fuzz_support::run(target, &data)) {
            let why = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            failed.push(format!("{}: {}", f.display(), why.unwrap_or_default()));
        }
    }
    assert!(failed.is_empty(), "fuzz target {target} panicked on:\n  {}", failed.join("\n  "));
    eprintln!("{target}: {} corpus files, {} artifacts replayed", corpus.len(), artifacts.len());
}

#[test]
fn pipeline() {
    replay("pipeline");
}

#[test]
fn admin_request() {
    replay("admin_request");
}

#[test]
fn ipvsadm_args() {
    replay("ipvsadm_args");
}

#[test]
fn config() {
    replay("config");
}

#[test]
fn save_file() {
    replay("save_file");
}

#[test]
fn checksum() {
    replay("checksum");
}

#[test]
fn conn_table() {
    replay("conn_table");
}

#[test]
fn neighbour_table() {
    replay("neighbour_table");
}

#[test]
fn sync_decode() {
    replay("sync_decode");
}

/// The seeds reach what they are meant to: both directions, ICMP errors
/// translated, ARP answered, every kind of malformed frame counted.
#[test]
fn pipeline_seeds_reach_the_interesting_paths() {
    use rvs::pipeline::Reason;
    let mut hit = std::collections::HashSet::new();
    for (_, data) in fuzz_support::corpus::pipeline() {
        let shared = {
            // Replay on a lab of our own to read its counters.
            let mut total = Vec::new();
            let before = std::time::Instant::now();
            fuzz_support::pipeline_with(&data, |lab| {
                for &r in Reason::ALL {
                    if lab.d.shared().counters.total(r) > 0 {
                        total.push(r.name());
                    }
                }
            });
            let _ = before;
            total
        };
        hit.extend(shared);
    }
    let want = [
        Reason::TxFrames,
        Reason::ArpReplied,
        Reason::ArpLearned,
        Reason::EchoReplied,
        Reason::IcmpErrorForwarded,
        Reason::FragBad,
        Reason::FragHeld,
        Reason::Reassembled,
        Reason::FragDuplicate,
        Reason::FragOverlap,
        Reason::Vlan,
        Reason::Ipv6,
        Reason::IpChecksum,
        Reason::IpTruncated,
        Reason::IpHeaderLength,
        Reason::IpTotalLength,
        Reason::IpVersion,
        Reason::TruncatedEthernet,
        Reason::NotOurMac,
        Reason::NoService,
        Reason::NotSyn,
        Reason::TtlExceeded,
        Reason::TooBig,
        Reason::IcmpFragNeededSent,
        Reason::Fragments,
        Reason::FullnatNoPort,
        Reason::BadArp,
        Reason::OtherProtocol,
        Reason::OtherEthertype,
        Reason::Held,
        Reason::SyncConnsInstalled,
        Reason::SyncRequestsReceived,
        Reason::SyncMessagesSent,
        Reason::SctpNotInit,
        Reason::SctpChecksum,
    ];
    let missing: Vec<_> = want.iter().filter(|r| !hit.contains(r.name())).map(|r| r.name()).collect();
    assert!(missing.is_empty(), "no pipeline seed reaches: {missing:?}");
}

/// The pipeline target keeps its services between inputs (building them was
/// most of its time): an input must do on them, after any other input, what
/// it does on a fresh lab, or a crash the fuzzer finds would not reproduce
/// on its own.
#[test]
fn pipeline_input_does_the_same_after_other_inputs() {
    let seeds = fuzz_support::corpus::pipeline();
    let control = seeds.iter().find(|(n, _)| n == "session-control").expect("the control session seed");
    let mut differ = Vec::new();
    for (i, (name, data)) in seeds.iter().enumerate() {
        // Scheduling, control operations and timeouts changed by others first.
        fuzz_support::pipeline(&control.1);
        fuzz_support::pipeline(&seeds[(i + 1) % seeds.len()].1);
        if fuzz_support::pipeline_trace(data, false) != fuzz_support::pipeline_trace(data, true) {
            differ.push(name.clone());
        }
    }
    eprintln!("{} pipeline seeds replayed on kept services and on fresh labs", seeds.len());
    assert!(differ.is_empty(), "inputs that depend on the inputs before them: {differ:?}");
}

/// Write the seed corpora (`fuzz/corpus/<target>/`), replacing the old ones.
#[test]
#[ignore]
fn regenerate() {
    if std::env::var_os("RVS_FUZZ_REGEN").is_none() {
        eprintln!("set RVS_FUZZ_REGEN=1 to rewrite fuzz/corpus");
        return;
    }
    let corpus = root().join("fuzz/corpus");
    let mut all: Vec<(&str, String, Vec<u8>)> =
        fuzz_support::corpus::pipeline().into_iter().map(|(n, b)| ("pipeline", n, b)).collect();
    all.extend(fuzz_support::corpus::texts(&root(), Path::new("/work/shared/seeds")));
    all.extend(fuzz_support::conn_table::seeds().into_iter().map(|(n, b)| ("conn_table", n, b)));
    all.extend(fuzz_support::neighbour_table::seeds().into_iter().map(|(n, b)| ("neighbour_table", n, b)));
    // Only the targets seeded here: others (sync_decode) keep their corpora.
    let seeded: std::collections::BTreeSet<&str> = all.iter().map(|(t, _, _)| *t).collect();
    for t in seeded {
        let d = corpus.join(t);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
    }
    for (t, name, bytes) in &all {
        std::fs::write(corpus.join(t).join(name), bytes).unwrap();
    }
    eprintln!("wrote {} seed files", all.len());
}
