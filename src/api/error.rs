//! Errors of the rule-changing operations, with libipvs's exact texts (ipvs_strerror).

use serde::{Deserialize, Serialize};

/// Errors of the rule-changing operations, with libipvs's exact texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpvsError {
    ServiceExists,
    SchedulerNotFound,
    NoSuchService,
    ServiceNotDefined,
    DestExists,
    NoSuchDest,
    LaddrExists,
    NoSuchLaddr,
    MarkRuleExists,
    NoSuchMarkRule,
    Invalid(String),
}

impl std::fmt::Display for IpvsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            IpvsError::ServiceExists => "Service already exists",
            IpvsError::SchedulerNotFound => "Scheduler or persistence engine not found",
            IpvsError::NoSuchService => "No such service",
            IpvsError::ServiceNotDefined => "Service not defined",
            IpvsError::DestExists => "Destination already exists",
            IpvsError::NoSuchDest => "No such destination",
            IpvsError::LaddrExists => "Local address already exists",
            IpvsError::NoSuchLaddr => "No such local address",
            IpvsError::MarkRuleExists => "Mark rule already exists",
            IpvsError::NoSuchMarkRule => "No such mark rule",
            IpvsError::Invalid(m) => m.as_str(),
        };
        f.write_str(s)
    }
}

impl std::error::Error for IpvsError {}
