//! `-s none` (ip_vs_ctl.c: a service whose scheduler name is "none" gets no
//! scheduler, and ip_vs_schedule() then finds no server for a new
//! connection). Such a service forwards only what already has a connection
//! or a persistence template: entries a sync master sent, which is what
//! "none" is for on a backup director. rvs lists the name as the kernel does.

use super::{Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

pub struct NoScheduler;

impl Scheduler for NoScheduler {
    fn schedule(&self, _: &[Arc<Dest>], _: &SchedInput, _: &mut Position) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn never_schedules() {
        assert_eq!(NoScheduler.schedule(&dests(&[1, 5]), &input(1), &mut Position::default()), None);
    }
}
