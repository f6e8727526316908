//! AAPCS-VFP (the hard-float procedure call standard, ARM IHI 0042, section 6.1.2 "Parameter
//! passing" and 6.2 "Result return") for wasm's four value types, as synth's relocatable code
//! uses it (reference/pulseengine.md section 1):
//! - i32 in the next core register r0-r3, then on the stack (4-byte slot);
//! - i64 in an even-aligned core register pair (r0:r1 or r2:r3), then on the stack (8-aligned);
//!   once a parameter has gone to the stack no later one uses core registers (NCRN = 4);
//! - f32 in the next free single register s0-s15 (back-filling the odd half left by an f64);
//!   f64 in the next free double register d0-d7; when a VFP argument goes to the stack, all VFP
//!   registers are marked used (no back-filling after that);
//! - results: i32 in r0, i64 in r0:r1, f32 in s0, f64 in d0.

use crate::wasm::ValType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// Core register rN.
    Core(u8),
    /// Core register pair rN (low word), rN+1 (high word).
    CorePair(u8),
    /// Single-precision register sN.
    S(u8),
    /// Double-precision register dN.
    D(u8),
    /// Stack, byte offset from SP at the call.
    Stack(u32),
}

/// Where each parameter goes, and the stack bytes the arguments need (8-aligned).
pub fn assign_params(params: &[ValType]) -> (Vec<Loc>, u32) {
    let mut ncrn = 0u8;
    let mut nsaa = 0u32;
    let mut singles = [false; 16];
    let mut vfp_exhausted = false;
    let mut out = Vec::with_capacity(params.len());
    let stack = |size: u32, nsaa: &mut u32| {
        *nsaa = nsaa.next_multiple_of(size);
        let at = *nsaa;
        *nsaa += size;
        Loc::Stack(at)
    };
    for &t in params {
        let loc = match t {
            ValType::I32 => {
                if ncrn < 4 {
                    ncrn += 1;
                    Loc::Core(ncrn - 1)
                } else {
                    stack(4, &mut nsaa)
                }
            }
            ValType::I64 => {
                ncrn = ncrn.next_multiple_of(2);
                if ncrn <= 2 {
                    ncrn += 2;
                    Loc::CorePair(ncrn - 2)
                } else {
                    ncrn = 4;
                    stack(8, &mut nsaa)
                }
            }
            ValType::F32 => match (0..16).find(|&i| !singles[i] && !vfp_exhausted) {
                Some(i) => {
                    singles[i] = true;
                    Loc::S(i as u8)
                }
                None => {
                    vfp_exhausted = true;
                    stack(4, &mut nsaa)
                }
            },
            ValType::F64 => {
                match (0..8).find(|&d| !singles[2 * d] && !singles[2 * d + 1] && !vfp_exhausted) {
                    Some(d) => {
                        singles[2 * d] = true;
                        singles[2 * d + 1] = true;
                        Loc::D(d as u8)
                    }
                    None => {
                        vfp_exhausted = true;
                        singles = [true; 16];
                        stack(8, &mut nsaa)
                    }
                }
            }
        };
        out.push(loc);
    }
    (out, nsaa.next_multiple_of(8))
}

/// Where a single result is returned.
pub fn result_loc(t: ValType) -> Loc {
    match t {
        ValType::I32 => Loc::Core(0),
        ValType::I64 => Loc::CorePair(0),
        ValType::F32 => Loc::S(0),
        ValType::F64 => Loc::D(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ValType::*;

    #[test]
    fn core_registers_and_pairs() {
        // AAPCS: an i64 after one i32 skips r1 and takes r2:r3; the next i32 goes to the stack.
        let (locs, stack) = assign_params(&[I32, I64, I32]);
        assert_eq!(locs, vec![Loc::Core(0), Loc::CorePair(2), Loc::Stack(0)]);
        assert_eq!(stack, 8);
        let (locs, _) = assign_params(&[I32, I32, I32, I64, I32]);
        assert_eq!(
            locs,
            vec![
                Loc::Core(0),
                Loc::Core(1),
                Loc::Core(2),
                Loc::Stack(0),
                Loc::Stack(8)
            ]
        );
    }

    #[test]
    fn vfp_back_filling() {
        // f32, f64, f32: s0, d1, then s1 back-fills the hole below d1.
        let (locs, stack) = assign_params(&[F32, F64, F32]);
        assert_eq!(locs, vec![Loc::S(0), Loc::D(1), Loc::S(1)]);
        assert_eq!(stack, 0);
    }

    #[test]
    fn vfp_overflow_stops_back_filling() {
        let mut p = vec![F64; 8];
        p.push(F32); // all d0-d7 used: to the stack
        p.push(F32);
        let (locs, stack) = assign_params(&p);
        assert_eq!(locs[7], Loc::D(7));
        assert_eq!(locs[8], Loc::Stack(0));
        assert_eq!(locs[9], Loc::Stack(4));
        assert_eq!(stack, 8);
        // Mixed core and VFP allocate independently.
        let (locs, _) = assign_params(&[F32, I32, F64, I64]);
        assert_eq!(
            locs,
            vec![Loc::S(0), Loc::Core(0), Loc::D(1), Loc::CorePair(2)]
        );
    }
}
