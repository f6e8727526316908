//! The timer event queue. Timers never poll per instruction: each schedules the virtual time of
//! its next interrupt-relevant change here. Entries are cancelled lazily: every source keeps a
//! generation number, and an event whose generation is stale is dropped when it comes due.
//! Ties in time are broken by insertion order, so the order of effects is deterministic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::Ps;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// SysTick of core n.
    SysTick(usize),
    /// A peripheral instance, by its index in the SoC's peripheral table.
    Periph(usize),
}

#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<(Ps, u64, Source, u64)>>,
    seq: u64,
}

impl EventQueue {
    /// Schedule `source` at `time` with generation `gen`.
    pub fn schedule(&mut self, time: Ps, source: Source, gen: u64) {
        self.seq += 1;
        self.heap.push(Reverse((time, self.seq, source, gen)));
    }

    /// Time of the earliest queued event (possibly stale).
    pub fn next_time(&self) -> Option<Ps> {
        self.heap.peek().map(|Reverse((t, ..))| *t)
    }

    /// Pop the earliest event due at or before `now`.
    pub fn pop_due(&mut self, now: Ps) -> Option<(Ps, Source, u64)> {
        match self.heap.peek() {
            Some(Reverse((t, ..))) if *t <= now => {
                let Reverse((t, _, s, g)) = self.heap.pop().expect("peeked");
                Some((t, s, g))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::default();
        q.schedule(20, Source::Periph(1), 0);
        q.schedule(10, Source::Periph(2), 0);
        q.schedule(10, Source::SysTick(0), 0);
        assert_eq!(q.next_time(), Some(10));
        assert_eq!(q.pop_due(9), None);
        assert_eq!(q.pop_due(10), Some((10, Source::Periph(2), 0)));
        assert_eq!(q.pop_due(10), Some((10, Source::SysTick(0), 0)));
        assert_eq!(q.pop_due(100), Some((20, Source::Periph(1), 0)));
    }
}
