//! Why frames were dropped or handled, counted per poll loop.

use crate::ipvs::stats::MAX_WORKERS;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! reasons {
    ($($name:ident => $text:literal,)*) => {
        /// Every outcome the pipeline counts. Drops each have their own reason
        /// so an operator can tell hostile traffic from misconfiguration.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Reason { $($name,)* }
        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)*];
            pub fn name(self) -> &'static str {
                match self { $(Reason::$name => $text,)* }
            }
        }
    };
}

reasons! {
    RxFrames => "rx-frames",
    TxFrames => "tx-frames",
    ArpReplied => "arp-replied",
    ArpLearned => "arp-learned",
    ArpOther => "arp-ignored",
    EchoReplied => "icmp-echo-replied",
    TruncatedEthernet => "drop-truncated-ethernet",
    NotOurMac => "drop-not-our-mac",
    Vlan => "drop-vlan-tagged",
    VlanUntagged => "drop-vlan-untagged",
    VlanUnknown => "drop-vlan-unknown-vid",
    Ipv6 => "drop-ipv6",
    Ipv6Truncated => "drop-ipv6-truncated",
    Ipv6Version => "drop-ipv6-bad-version",
    Ipv6PayloadLength => "drop-ipv6-bad-payload-length",
    Ipv6Extension => "drop-ipv6-bad-extension-header",
    Icmpv6Checksum => "drop-icmpv6-bad-checksum",
    Icmpv6Unsupported => "drop-icmpv6-unhandled",
    NdInvalid => "drop-nd-invalid",
    NdAdvertised => "nd-advertised",
    NdIgnored => "nd-ignored",
    Echo6Replied => "icmpv6-echo-replied",
    NdUnsolicitedSent => "nd-unsolicited-sent",
    NdSolicitSent => "nd-solicitations-sent",
    NdLearned => "nd-learned",
    HeldForNd => "held-for-nd",
    HoldOverflowNd => "drop-nd-hold-overflow",
    NoRoute6 => "drop-ipv6-no-route",
    Ipv6Unsupported => "drop-ipv6-unsupported",
    Icmpv6TooBigSent => "icmpv6-too-big-sent",
    OtherEthertype => "drop-other-ethertype",
    BadArp => "drop-bad-arp",
    IpTruncated => "drop-ip-truncated",
    IpVersion => "drop-ip-bad-version",
    IpHeaderLength => "drop-ip-bad-header-length",
    IpTotalLength => "drop-ip-bad-total-length",
    IpChecksum => "drop-ip-bad-checksum",
    FragHeld => "ip-fragments-held",
    Reassembled => "ip-datagrams-reassembled",
    FragBad => "drop-ip-fragment-bad",
    FragDuplicate => "drop-ip-fragment-duplicate",
    FragOverlap => "drop-ip-fragment-overlap",
    FragTimeout => "drop-ip-fragment-timeout",
    FragEvicted => "drop-ip-fragment-evicted",
    FragSourceShare => "drop-ip-fragment-source-share",
    // IPv6 fragments are not reassembled yet (frag.rs says what that needs).
    Ipv6Fragment => "drop-ipv6-fragment",
    L4Truncated => "drop-l4-truncated",
    TtlExceeded => "drop-ttl-exceeded",
    NoService => "drop-no-service",
    LocalNoService => "drop-local-no-service",
    NotSyn => "drop-tcp-not-syn-no-connection",
    NoDest => "drop-no-real-server",
    ConnTableFull => "drop-connection-table-full",
    ConnCollision => "drop-connection-collision",
    NoRoute => "drop-no-route",
    NeighbourUnreachable => "drop-neighbour-unreachable",
    NeighbourTableFull => "drop-neighbour-table-full",
    HoldOverflow => "drop-arp-hold-overflow",
    Held => "held-for-arp",
    IcmpUnsupported => "drop-icmp-unhandled",
    IcmpErrorUnrelated => "drop-icmp-error-unrelated",
    IcmpErrorForwarded => "icmp-error-forwarded",
    IcmpChecksum => "drop-icmp-bad-checksum",
    OtherProtocol => "drop-other-ip-protocol",
    TooBig => "drop-too-big",
    IcmpFragNeededSent => "icmp-frag-needed-sent",
    Fragments => "tx-fragments",
    FullnatNoPort => "drop-fullnat-no-port",
    NoDestExpired => "drop-expire-nodest-conn",
    HandedOff => "handed-off-to-owner-loop",
    DroppedHalfOpen => "half-open-dropped-under-pressure",
    MethodUnsupported => "drop-method-unsupported",
    TxRingFull => "drop-tx-ring-full",
    HandoffFull => "drop-handoff-ring-full",
    // Not a drop of the frame: it was forwarded, only not copied to a running capture.
    CaptureDropped => "capture-dropped",
    EvictedIdle => "idle-evicted-under-pressure",
    TcpBadDataOffset => "drop-tcp-bad-data-offset",
    UdpBadLength => "drop-udp-bad-length",
    ReplyWrongInterface => "drop-reply-wrong-interface",
    ReplyWrongNeighbour => "drop-reply-wrong-neighbour",
    NeighbourRateLimited => "drop-neighbour-resolution-rate-limited",
    BackupRole => "drop-backup-role",
    GarpSent => "gratuitous-arp-sent",
    SyncMessagesSent => "sync-messages-sent",
    SyncConnsSent => "sync-conns-sent",
    SyncMessagesReceived => "sync-messages-received",
    SyncConnsInstalled => "sync-conns-installed",
    SyncConnsUpdated => "sync-conns-updated",
    SyncRequestsSent => "sync-full-table-requests-sent",
    SyncRequestsReceived => "sync-full-table-requests-received",
    SyncTruncated => "drop-sync-truncated",
    SyncBadSize => "drop-sync-bad-size",
    SyncBadVersion => "drop-sync-bad-version",
    SyncBadSyncid => "drop-sync-bad-syncid",
    SyncBadEntryType => "drop-sync-bad-entry-type",
    SyncBadEntryVersion => "drop-sync-bad-entry-version",
    SyncBadEntrySize => "drop-sync-bad-entry-size",
    SyncBadOption => "drop-sync-bad-option",
    SyncIpv6Entry => "drop-sync-ipv6-entry",
    SyncUnknownOption => "drop-sync-unknown-option",
    SyncUnknownProtocol => "drop-sync-unknown-protocol",
    SyncBadState => "drop-sync-bad-state",
    SyncBadPe => "drop-sync-bad-pe",
    SyncUnsupportedMethod => "drop-sync-unsupported-method",
    SyncNoService => "drop-sync-no-service",
    SyncNoDest => "drop-sync-no-real-server",
    SyncTableFull => "drop-sync-connection-table-full",
    SyncCollision => "drop-sync-connection-collision",
    SyncOwnAddress => "drop-sync-from-own-address",
    SyncOffLink => "drop-sync-source-off-link",
    SyncWrongInterface => "drop-sync-wrong-interface",
    SyncBadUdp => "drop-sync-bad-udp",
    SyncTooLong => "drop-sync-longer-than-maxlen",
    SyncTxTooBig => "drop-sync-message-too-big-for-mtu",
    TemplateTableFull => "drop-template-table-full",
    LocalNodeDelivered => "local-node-to-host",
    LocalNodeNotDelivered => "drop-local-node-no-host-path",
    FromHostUnmatched => "drop-from-host-no-local-connection",
    SctpTruncated => "drop-sctp-truncated",
    SctpChunkLength => "drop-sctp-bad-chunk-length",
    SctpChecksum => "drop-sctp-bad-checksum",
    SctpNotInit => "drop-sctp-not-init-no-connection",
}

/// One counter per reason: the list above is the only place they are named
/// (a hand-kept count here once fell behind it and indexed past a row).
pub const NUM_REASONS: usize = Reason::ALL.len();

#[repr(align(64))]
struct Line([AtomicU64; NUM_REASONS]);

/// One cache-line-aligned row per poll loop; only its loop writes it.
pub struct WorkerCounters {
    lines: Box<[Line]>,
}

impl Default for WorkerCounters {
    fn default() -> Self {
        WorkerCounters { lines: (0..MAX_WORKERS).map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0)))).collect() }
    }
}

impl WorkerCounters {
    #[inline]
    pub fn count(&self, worker: usize, r: Reason) {
        let c = &self.lines[worker].0[r as usize];
        c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Count `n` at once (a message's entries).
    #[inline]
    pub fn add(&self, worker: usize, r: Reason, n: u64) {
        let c = &self.lines[worker].0[r as usize];
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// One loop's count of `r` (0 for a loop that does not exist).
    pub fn get(&self, worker: usize, r: Reason) -> u64 {
        self.lines.get(worker).map_or(0, |l| l.0[r as usize].load(Relaxed))
    }

    pub fn total(&self, r: Reason) -> u64 {
        self.lines.iter().map(|l| l.0[r as usize].load(Relaxed)).sum()
    }

    /// (name, total) of every reason with a non-zero count.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        Reason::ALL.iter().map(|&r| (r.name(), self.total(r))).filter(|&(_, n)| n > 0).collect()
    }
}
