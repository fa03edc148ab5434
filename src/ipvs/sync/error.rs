//! Why a sync message (or one entry of it) was refused: one reason per drop
//! counter, named as `rvsadm --counters` will print them.

/// A reason to drop a whole sync message (from [`super::decode`]) or to skip
/// one of its entries (listed in [`super::SyncMessage::skipped`]), mirroring
/// where ip_vs_process_message / ip_vs_proc_sync_conn give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncError {
    // Whole message dropped.
    /// Shorter than its header, or an entry or its options run past the end.
    Truncated,
    /// The header's size is not the datagram's length, or bytes are left
    /// over after the last entry.
    BadSize,
    /// A zero first byte (not a version 0 message) without a valid version 1
    /// header (version 1, spare 0).
    BadVersion,
    /// Not the sync id this backup listens for (checked by the caller with
    /// [`super::syncid_accepted`]).
    BadSyncid,
    /// An entry type other than IPv4 (0) or IPv6 (bit 0).
    BadEntryType,
    /// The version nibble of an entry's ver_size is not 0.
    BadEntryVersion,
    /// An entry's size is smaller than its fixed part.
    BadEntrySize,
    /// A malformed option: no room for its header, length 0, longer than the
    /// entry, the wrong length, or given twice.
    BadOption,
    // One entry skipped, the rest of the message kept (as the kernel does).
    /// An IPv6 entry: rvs directs IPv4 only.
    Ipv6Entry,
    /// A mandatory option rvs does not know.
    UnknownOption,
    /// A protocol IPVS syncs that rvs does not direct (SCTP, AH, ESP...).
    UnknownProtocol,
    /// A state number outside the protocol's table.
    BadState,
    /// Persistence engine data without the engine's name.
    BadPe,
    /// A forwarding method rvs has no transmitter for (local node, bypass).
    UnsupportedMethod,
}

impl SyncError {
    pub const ALL: [SyncError; 14] = [
        SyncError::Truncated,
        SyncError::BadSize,
        SyncError::BadVersion,
        SyncError::BadSyncid,
        SyncError::BadEntryType,
        SyncError::BadEntryVersion,
        SyncError::BadEntrySize,
        SyncError::BadOption,
        SyncError::Ipv6Entry,
        SyncError::UnknownOption,
        SyncError::UnknownProtocol,
        SyncError::BadState,
        SyncError::BadPe,
        SyncError::UnsupportedMethod,
    ];

    /// The drop counter's name.
    pub fn name(self) -> &'static str {
        match self {
            SyncError::Truncated => "sync-truncated",
            SyncError::BadSize => "sync-bad-size",
            SyncError::BadVersion => "sync-bad-version",
            SyncError::BadSyncid => "sync-bad-syncid",
            SyncError::BadEntryType => "sync-bad-entry-type",
            SyncError::BadEntryVersion => "sync-bad-entry-version",
            SyncError::BadEntrySize => "sync-bad-entry-size",
            SyncError::BadOption => "sync-bad-option",
            SyncError::Ipv6Entry => "sync-ipv6-entry",
            SyncError::UnknownOption => "sync-unknown-option",
            SyncError::UnknownProtocol => "sync-unknown-protocol",
            SyncError::BadState => "sync-bad-state",
            SyncError::BadPe => "sync-bad-pe",
            SyncError::UnsupportedMethod => "sync-unsupported-method",
        }
    }
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for SyncError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_counter_names() {
        let mut names: Vec<&str> = SyncError::ALL.iter().map(|e| e.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SyncError::ALL.len());
        assert!(names.iter().all(|n| n.starts_with("sync-")));
    }
}
