//! Register-level peripheral models. One file per peripheral; each lists the registers it
//! implements and the section of `rt1176.md` (or the ARM ARM) its semantics come from.
//!
//! Conventions: models see word-aligned offsets. A narrower write arrives as the word with the
//! written lane in `value` and the lane's bits set in `mask`; plain read/write registers merge
//! `(old & !mask) | (value & mask)`, write-1-to-clear registers use `value & mask`.

pub mod ccm;
pub mod flexpwm;
pub mod gpio;
pub mod gpt;
pub mod lpi2c;
pub mod lpspi;
pub mod lpuart;
pub mod mu;
pub mod padmux;
pub mod pit;
pub mod scs;
pub mod src;

/// An access to a register a model does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegError {
    pub offset: u32,
    pub what: &'static str,
}

impl RegError {
    pub fn unmodelled(offset: u32) -> RegError {
        RegError {
            offset,
            what: "register not modelled",
        }
    }
}

/// `(old & !mask) | (value & mask)`.
pub fn merge(old: u32, value: u32, mask: u32) -> u32 {
    (old & !mask) | (value & mask)
}

/// Exact tick arithmetic for a clock of `hz` divided by `div`: how many whole ticks lie in
/// `elapsed` picoseconds, and the picoseconds from the origin to the `k`-th tick (rounded up).
pub mod ticks {
    use crate::time::{Ps, PS_PER_S};

    pub fn count(elapsed: Ps, hz: u64, div: u64) -> u64 {
        (u128::from(elapsed) * u128::from(hz) / (u128::from(PS_PER_S) * u128::from(div))) as u64
    }

    /// An unclocked timer (0 Hz) never reaches its next tick: `Ps::MAX`.
    pub fn time_of(k: u64, hz: u64, div: u64) -> Ps {
        if hz == 0 {
            return Ps::MAX;
        }
        let num = u128::from(k) * u128::from(PS_PER_S) * u128::from(div);
        num.div_ceil(u128::from(hz)).min(u128::from(u64::MAX)) as Ps
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trip_at_24mhz() {
            // 24 MHz: a tick is 41666.67 ps; 24e6 ticks are exactly one second.
            assert_eq!(time_of(24_000_000, 24_000_000, 1), PS_PER_S);
            assert_eq!(count(PS_PER_S, 24_000_000, 1), 24_000_000);
            let t = time_of(1, 24_000_000, 1);
            assert_eq!(t, 41_667);
            assert_eq!(count(t, 24_000_000, 1), 1);
            assert_eq!(count(t - 1, 24_000_000, 1), 0);
        }

        #[test]
        fn unclocked_never_ticks() {
            assert_eq!(count(PS_PER_S, 0, 1), 0);
            assert_eq!(time_of(1, 0, 1), Ps::MAX);
        }
    }
}
