//! Thumb and Thumb-2 (ARMv7-M) instructions sorted into the classes a timing table prices.
//!
//! Decodes just enough of each encoding to tell its class, its length and, for the classes
//! whose cost depends on it, a register or word count; the semantics are Unicorn's. Encodings
//! follow the ARMv7-M Architecture Reference Manual (ARM DDI 0403E), chapter A5 "The Thumb
//! Instruction Set Encoding" (16-bit: A5.2; 32-bit: A5.3) and A6.4 / A7.9 "Floating-point data-
//! processing instructions" and "Extension register load or store". Anything the table does not
//! price separately (undefined encodings included: the core faults on them) is [`Class::Other`].

/// What an instruction costs by. `n` counts registers (integer) or 32-bit words (floating
/// point) transferred; `f64` marks double-precision operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Data processing, moves, shifts, compares, extends, bit fields, saturation, ADR,
    /// MRS/MSR/CPS: one ALU operation.
    Alu,
    /// IT (If-Then).
    It,
    /// NOP, YIELD, WFI, WFE, SEV and the other hints.
    Hint,
    /// MUL, MLA, MLS and the DSP multiplies (32-bit result).
    Mul,
    /// SMULL, UMULL, SMLAL, UMLAL and the other 64-bit-result multiplies.
    MulLong,
    /// SDIV, UDIV.
    Div,
    /// A single load: LDR, LDRB/H, LDRSB/H, LDREX*, PLD/PLI.
    Load,
    /// A single store: STR, STRB/H, STREX*.
    Store,
    /// LDM, POP, LDRD (n registers).
    LoadMulti { n: u8 },
    /// STM, PUSH, STRD (n registers).
    StoreMulti { n: u8 },
    /// B, BL, BX, BLX, CBZ, CBNZ.
    Branch,
    /// TBB, TBH.
    TableBranch,
    /// DMB, DSB, ISB.
    Barrier,
    /// VADD, VSUB, VABS, VNEG, VCMP, VCVT, VMOV (register, immediate).
    FpAlu { f64: bool },
    /// VMUL, VNMUL.
    FpMul { f64: bool },
    /// VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS.
    FpMac { f64: bool },
    /// VDIV.
    FpDiv { f64: bool },
    /// VSQRT.
    FpSqrt { f64: bool },
    /// VLDR (n = 1 or 2 words).
    FpLoad { n: u8 },
    /// VSTR (n = 1 or 2 words).
    FpStore { n: u8 },
    /// VLDM, VPOP (n words).
    FpLoadMulti { n: u8 },
    /// VSTM, VPUSH (n words).
    FpStoreMulti { n: u8 },
    /// VMOV between a core register and a single, VMRS, VMSR.
    FpMove,
    /// VMOV between two core registers and two singles or a double.
    FpMove2,
    /// SVC, BKPT, UDF, coprocessor encodings without a coprocessor, undefined encodings.
    Other,
}

/// One decoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// 2 or 4 bytes.
    pub len: u8,
    pub class: Class,
    /// It may write the PC (a branch, a load or POP into the PC, an ALU op with Rd = PC): the
    /// next block starting elsewhere than after it means it was taken.
    pub writes_pc: bool,
}

/// Does a halfword start a 32-bit instruction (A5.1: top five bits 0b11101, 0b11110, 0b11111)?
pub fn is_wide(hw1: u16) -> bool {
    hw1 >> 11 >= 0x1D
}

/// Decode the instruction whose first halfword is `hw1` (and second `hw2`, ignored for a 16-bit
/// instruction).
pub fn decode(hw1: u16, hw2: u16) -> Insn {
    if is_wide(hw1) {
        let (class, writes_pc) = wide(hw1, hw2);
        Insn {
            len: 4,
            class,
            writes_pc,
        }
    } else {
        let (class, writes_pc) = narrow(hw1);
        Insn {
            len: 2,
            class,
            writes_pc,
        }
    }
}

fn regs(list: u16) -> u8 {
    list.count_ones() as u8
}

/// A5.2: 16-bit encodings.
fn narrow(hw: u16) -> (Class, bool) {
    use Class::*;
    match hw >> 10 {
        // Shift (immediate), add, subtract, move, compare.
        0b000000..=0b001111 => (Alu, false),
        // Data processing (register): MUL is opcode 0b1101.
        0b010000 => (if (hw >> 6) & 0xF == 0b1101 { Mul } else { Alu }, false),
        // Special data instructions and branch and exchange (A5.2.3).
        0b010001 => {
            let op = (hw >> 6) & 0xF;
            let rd = (((hw >> 7) & 1) << 3) | (hw & 7);
            match op {
                // ADD, MOV (register): to the PC when Rd is 15.
                0b0000..=0b0011 | 0b1000..=0b1011 => {
                    (if rd == 15 { Branch } else { Alu }, rd == 15)
                }
                0b1100..=0b1111 => (Branch, true), // BX, BLX
                _ => (Alu, false),                 // CMP
            }
        }
        // LDR (literal).
        0b010010 | 0b010011 => (Load, false),
        // Load/store single: register offset (0101), immediate (011x, 1000), SP-relative (1001).
        0b010100..=0b010111 => (if (hw >> 9) & 7 < 3 { Store } else { Load }, false),
        0b011000..=0b100111 => (if hw & (1 << 11) == 0 { Store } else { Load }, false),
        // ADR, ADD (SP plus immediate).
        0b101000..=0b101011 => (Alu, false),
        // Miscellaneous (A5.2.5).
        0b101100..=0b101111 => misc16(hw),
        // STM, LDM.
        0b110000 | 0b110001 => (StoreMulti { n: regs(hw & 0xFF) }, false),
        0b110010 | 0b110011 => (LoadMulti { n: regs(hw & 0xFF) }, false),
        // Conditional branch, UDF (cond 1110), SVC (cond 1111).
        0b110100..=0b110111 => match (hw >> 8) & 0xF {
            0xE | 0xF => (Other, false),
            _ => (Branch, true),
        },
        // B (unconditional).
        0b111000 | 0b111001 => (Branch, true),
        _ => (Other, false),
    }
}

/// A5.2.5: miscellaneous 16-bit instructions.
fn misc16(hw: u16) -> (Class, bool) {
    use Class::*;
    if hw & 0xF500 == 0xB100 {
        (Branch, true) // CBZ, CBNZ
    } else if hw & 0xFE00 == 0xB400 {
        // PUSH: the list and LR.
        (
            StoreMulti {
                n: regs(hw & 0xFF) + ((hw >> 8) & 1) as u8,
            },
            false,
        )
    } else if hw & 0xFE00 == 0xBC00 {
        // POP: the list and the PC.
        let pc = hw & 0x100 != 0;
        (
            LoadMulti {
                n: regs(hw & 0xFF) + u8::from(pc),
            },
            pc,
        )
    } else if hw & 0xFF00 == 0xBE00 {
        (Other, false) // BKPT
    } else if hw & 0xFF00 == 0xBF00 {
        (if hw & 0xF != 0 { It } else { Hint }, false)
    } else {
        (Alu, false) // ADD/SUB SP, extends, REV, CPS
    }
}

/// A5.3: 32-bit encodings.
fn wide(hw1: u16, hw2: u16) -> (Class, bool) {
    use Class::*;
    let op1 = (hw1 >> 11) & 3;
    let op2 = (hw1 >> 4) & 0x7F;
    match op1 {
        0b01 => {
            if op2 & 0b1100100 == 0 {
                // Load/store multiple (A5.3.5); SRS/RFE (op 00, 11) are undefined in ARMv7-M.
                let op = (hw1 >> 7) & 3;
                if op == 0 || op == 3 {
                    return (Other, false);
                }
                let n = regs(hw2);
                if hw1 & (1 << 4) != 0 {
                    (LoadMulti { n }, hw2 & 0x8000 != 0)
                } else {
                    (StoreMulti { n }, false)
                }
            } else if op2 & 0b1100100 == 0b0000100 {
                dual_exclusive_table(hw1, hw2)
            } else if op2 & 0b1100000 == 0b0100000 {
                (Alu, false) // data processing (shifted register)
            } else {
                coprocessor(hw1, hw2)
            }
        }
        0b10 => {
            if hw2 & 0x8000 == 0 {
                (Alu, false) // data processing (modified / plain binary immediate)
            } else {
                branch_misc(hw1, hw2)
            }
        }
        _ => {
            if op2 & 0b1110001 == 0 {
                (Store, false) // store single (A5.3.10)
            } else if op2 & 0b1100111 == 0b0000111 {
                (Other, false) // undefined
            } else if op2 & 0b1100000 == 0 {
                // Load byte / halfword / word (A5.3.7-9): to the PC when Rt is 15 (a word).
                let pc = hw2 >> 12 == 15 && op2 & 0b111 == 0b101;
                (Load, pc)
            } else if op2 & 0b1110000 == 0b0100000 {
                (Alu, false) // data processing (register)
            } else if op2 & 0b1111000 == 0b0110000 {
                (Mul, false) // multiply, multiply accumulate, absolute difference
            } else if op2 & 0b1111000 == 0b0111000 {
                // Long multiply, long multiply accumulate, divide (A5.3.17).
                match op2 & 0b111 {
                    0b001 | 0b011 => (Div, false),
                    _ => (MulLong, false),
                }
            } else {
                coprocessor(hw1, hw2)
            }
        }
    }
}

/// A5.3.6: load/store dual or exclusive, table branch.
fn dual_exclusive_table(hw1: u16, hw2: u16) -> (Class, bool) {
    use Class::*;
    let op1 = (hw1 >> 7) & 3;
    let op2 = (hw1 >> 4) & 3;
    let op3 = (hw2 >> 4) & 0xF;
    match (op1, op2) {
        (0, 0) | (1, 0) => (Store, false), // STREX, STREXB/H
        (0, 1) => (Load, false),           // LDREX
        (1, 1) if op3 < 2 => (TableBranch, true),
        (1, 1) => (Load, false), // LDREXB/H
        // LDRD, STRD.
        _ if op2 & 1 != 0 => (LoadMulti { n: 2 }, false),
        _ => (StoreMulti { n: 2 }, false),
    }
}

/// A5.3.4: branches and miscellaneous control.
fn branch_misc(hw1: u16, hw2: u16) -> (Class, bool) {
    use Class::*;
    let op = (hw1 >> 4) & 0x7F;
    let op1 = (hw2 >> 12) & 0b101;
    if op1 & 1 == 1 {
        return (Branch, true); // B (T4), BL
    }
    if op1 == 0b100 {
        return (Other, false); // BLX (immediate): ARM state, undefined on M-profile
    }
    // op1 == 0x0: conditional branch, or the miscellaneous group when op is 0111xxx.
    if (hw2 >> 12) & 0b111 == 0b010 {
        return (Other, false); // UDF (permanently undefined)
    }
    if op & 0b0111000 != 0b0111000 {
        return (Branch, true); // B (T3, conditional)
    }
    match op {
        0b0111010 => (Hint, false),                                    // hints
        0b0111011 => (Barrier, false),                                 // CLREX, DSB, DMB, ISB
        0b0111111 | 0b0111110 | 0b0111000 | 0b0111001 => (Alu, false), // MRS, MSR
        _ => (Other, false),
    }
}

/// Coprocessor space: the FPU's (coprocessors 10 and 11) or nothing.
fn coprocessor(hw1: u16, hw2: u16) -> (Class, bool) {
    use Class::*;
    let coproc = (hw2 >> 8) & 0xF;
    if coproc & 0b1110 != 0b1010 {
        return (Other, false);
    }
    let f64 = coproc == 0b1011;
    if hw1 & 0x0F00 == 0x0E00 {
        if hw2 & 0x10 != 0 {
            // 8-, 16- and 32-bit transfers: VMOV core <-> single or scalar, VMRS, VMSR (A6.7).
            return (FpMove, false);
        }
        return (fp_data(hw1, hw2, f64), false);
    }
    if hw1 & 0x0E00 != 0x0C00 {
        return (Other, false); // CDP2/MCR2 etc.: no such coprocessor
    }
    // Extension register load/store and 64-bit transfers (A6.5).
    let opcode = (hw1 >> 4) & 0x1F;
    if opcode & 0b11110 == 0b00100 {
        return (FpMove2, false);
    }
    if opcode & 0b11010 == 0 {
        return (Other, false);
    }
    let load = hw1 & (1 << 4) != 0;
    if opcode & 0b10010 == 0b10000 {
        // VLDR, VSTR (P = 1, W = 0).
        let n = if f64 { 2 } else { 1 };
        return (if load { FpLoad { n } } else { FpStore { n } }, false);
    }
    // VLDM, VSTM, VPUSH, VPOP: imm8 counts words.
    let n = (hw2 & 0xFF) as u8;
    (
        if load {
            FpLoadMulti { n }
        } else {
            FpStoreMulti { n }
        },
        false,
    )
}

/// A6.4: floating-point data processing (opc1 = bits 23, 21, 20; opc2 = bits 19-16;
/// opc3 = bits 7-6).
fn fp_data(hw1: u16, hw2: u16, f64: bool) -> Class {
    use Class::*;
    let opc1 = (((hw1 >> 7) & 1) << 2) | ((hw1 >> 4) & 3);
    let opc2 = hw1 & 0xF;
    let opc3 = (hw2 >> 6) & 3;
    match opc1 {
        0b000 | 0b001 | 0b101 | 0b110 => FpMac { f64 },
        0b010 => FpMul { f64 },
        0b011 => FpAlu { f64 },
        0b100 if opc3 & 1 == 0 => FpDiv { f64 },
        0b111 if opc2 == 0b0001 && opc3 == 0b11 => FpSqrt { f64 },
        0b111 => FpAlu { f64 },
        _ => Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Class::*;

    fn one(bytes: &[u8]) -> Insn {
        let hw1 = u16::from_le_bytes([bytes[0], bytes[1]]);
        let hw2 = if bytes.len() > 2 {
            u16::from_le_bytes([bytes[2], bytes[3]])
        } else {
            0
        };
        let i = decode(hw1, hw2);
        assert_eq!(usize::from(i.len), bytes.len(), "length of {bytes:02x?}");
        i
    }

    /// Encodings as LLVM's assembler gives them (`llvm-mc -triple=thumbv7em-none-eabihf
    /// -mattr=+fp-armv8d16 -show-encoding`), each with the class the TRM prices it as.
    #[test]
    fn known_encodings() {
        let cases: &[(&[u8], Class, bool)] = &[
            (&[0x08, 0x18], Alu, false),                            // adds r0, r1, r0
            (&[0x00, 0xbf], Hint, false),                           // nop
            (&[0x30, 0xbf], Hint, false),                           // wfi
            (&[0x08, 0xbf], It, false),                             // it eq
            (&[0x48, 0x43], Mul, false),                            // muls r0, r1, r0
            (&[0x00, 0xfb, 0x01, 0xf0], Mul, false),                // mul r0, r0, r1
            (&[0x01, 0xfb, 0x02, 0x30], Mul, false),                // mla r0, r1, r2, r3
            (&[0x81, 0xfb, 0x02, 0x01], MulLong, false),            // smull r0, r1, r1, r2
            (&[0xe1, 0xfb, 0x02, 0x01], MulLong, false),            // umlal r0, r1, r1, r2
            (&[0x91, 0xfb, 0xf2, 0xf0], Div, false),                // sdiv r0, r1, r2
            (&[0xb1, 0xfb, 0xf2, 0xf0], Div, false),                // udiv r0, r1, r2
            (&[0x08, 0x68], Load, false),                           // ldr r0, [r1]
            (&[0x08, 0x60], Store, false),                          // str r0, [r1]
            (&[0x01, 0x98], Load, false),                           // ldr r0, [sp, #4]
            (&[0x88, 0x5c], Load, false),                           // ldrb r0, [r1, r2]
            (&[0x88, 0x54], Store, false),                          // strb r0, [r1, r2]
            (&[0xd1, 0xf8, 0x04, 0x00], Load, false),               // ldr.w r0, [r1, #4]
            (&[0xc1, 0xf8, 0x04, 0x00], Store, false),              // str.w r0, [r1, #4]
            (&[0x5d, 0xf8, 0x04, 0xfb], Load, true),                // ldr.w pc, [sp], #4
            (&[0x51, 0xe8, 0x00, 0x0f], Load, false),               // ldrex r0, [r1]
            (&[0xd1, 0xe9, 0x00, 0x23], LoadMulti { n: 2 }, false), // ldrd r2, r3, [r1]
            (&[0xc1, 0xe9, 0x00, 0x23], StoreMulti { n: 2 }, false), // strd r2, r3, [r1]
            (&[0x30, 0xb5], StoreMulti { n: 3 }, false),            // push {r4, r5, lr}
            (&[0x30, 0xbd], LoadMulti { n: 3 }, true),              // pop {r4, r5, pc}
            (&[0x2d, 0xe9, 0xf0, 0x4f], StoreMulti { n: 9 }, false), // push.w {r4-r11, lr}
            (&[0xbd, 0xe8, 0xf0, 0x8f], LoadMulti { n: 9 }, true),  // pop.w {r4-r11, pc}
            (&[0x0e, 0xc8], LoadMulti { n: 3 }, false),             // ldmia r0!, {r1, r2, r3}
            (&[0x70, 0x47], Branch, true),                          // bx lr
            (&[0x88, 0x47], Branch, true),                          // blx r1
            (&[0xfe, 0xe7], Branch, true),                          // b #-4
            (&[0xfe, 0xd0], Branch, true),                          // beq #-4
            (&[0x18, 0xb1], Branch, true),                          // cbz r0, #6
            (&[0x00, 0xf0, 0x02, 0xf8], Branch, true),              // bl #4
            (&[0x40, 0xf0, 0x02, 0x80], Branch, true),              // bne.w #4
            (&[0xd0, 0xe8, 0x01, 0xf0], TableBranch, true),         // tbb [r0, r1]
            (&[0xd0, 0xe8, 0x11, 0xf0], TableBranch, true),         // tbh [r0, r1, lsl #1]
            (&[0xbf, 0xf3, 0x5f, 0x8f], Barrier, false),            // dmb sy
            (&[0xef, 0xf3, 0x10, 0x80], Alu, false),                // mrs r0, primask
            (&[0x00, 0xdf], Other, false),                          // svc 0
            (&[0x00, 0xbe], Other, false),                          // bkpt 0
            (&[0x00, 0xde], Other, false),                          // udf #0
            (&[0x87, 0x44], Branch, true),                          // add pc, r0
            (&[0x87, 0x46], Branch, true),                          // mov pc, r0
            (&[0x01, 0xeb, 0x02, 0x00], Alu, false),                // add.w r0, r1, r2
            (&[0x4f, 0xf0, 0x01, 0x00], Alu, false),                // mov.w r0, #1
            (&[0x30, 0xee, 0x20, 0x0a], FpAlu { f64: false }, false), // vadd.f32 s0, s0, s1
            (&[0x31, 0xee, 0x02, 0x0b], FpAlu { f64: true }, false), // vadd.f64 d0, d1, d2
            (&[0x20, 0xee, 0x20, 0x0a], FpMul { f64: false }, false), // vmul.f32 s0, s0, s1
            (&[0x00, 0xee, 0x20, 0x0a], FpMac { f64: false }, false), // vmla.f32 s0, s0, s1
            (&[0xa0, 0xee, 0x20, 0x0a], FpMac { f64: false }, false), // vfma.f32 s0, s0, s1
            (&[0x80, 0xee, 0x20, 0x0a], FpDiv { f64: false }, false), // vdiv.f32 s0, s0, s1
            (&[0x81, 0xee, 0x02, 0x0b], FpDiv { f64: true }, false), // vdiv.f64 d0, d1, d2
            (&[0xb1, 0xee, 0xc0, 0x0a], FpSqrt { f64: false }, false), // vsqrt.f32 s0, s0
            (&[0xb1, 0xee, 0xc1, 0x0b], FpSqrt { f64: true }, false), // vsqrt.f64 d0, d1
            (&[0xb1, 0xee, 0x40, 0x0a], FpAlu { f64: false }, false), // vneg.f32 s0, s0
            (&[0xb4, 0xee, 0x60, 0x0a], FpAlu { f64: false }, false), // vcmp.f32 s0, s1
            (&[0xb8, 0xee, 0xc0, 0x0a], FpAlu { f64: false }, false), // vcvt.f32.s32 s0, s0
            (&[0xb7, 0xee, 0x00, 0x0a], FpAlu { f64: false }, false), // vmov.f32 s0, #1.0
            (&[0x91, 0xed, 0x00, 0x0a], FpLoad { n: 1 }, false),    // vldr s0, [r1]
            (&[0x91, 0xed, 0x00, 0x0b], FpLoad { n: 2 }, false),    // vldr d0, [r1]
            (&[0x81, 0xed, 0x00, 0x0a], FpStore { n: 1 }, false),   // vstr s0, [r1]
            (&[0x2d, 0xed, 0x04, 0x8b], FpStoreMulti { n: 4 }, false), // vpush {d8, d9}
            (&[0xbd, 0xec, 0x04, 0x8b], FpLoadMulti { n: 4 }, false), // vpop {d8, d9}
            (&[0x91, 0xec, 0x02, 0x0a], FpLoadMulti { n: 2 }, false), // vldmia r1, {s0, s1}
            (&[0x00, 0xee, 0x10, 0x0a], FpMove, false),             // vmov s0, r0
            (&[0xf1, 0xee, 0x10, 0xfa], FpMove, false),             // vmrs APSR_nzcv, fpscr
            (&[0x41, 0xec, 0x10, 0x0b], FpMove2, false),            // vmov d0, r0, r1
        ];
        for &(bytes, class, pc) in cases {
            let i = one(bytes);
            assert_eq!((i.class, i.writes_pc), (class, pc), "{bytes:02x?}");
        }
    }

    #[test]
    fn every_halfword_pair_decodes() {
        // No encoding panics, and the length follows the first halfword alone.
        for hw1 in 0..=u16::MAX {
            for hw2 in [0u16, 0x8000, 0xF0F0, 0xFFFF, 0x0A00, 0x0B10] {
                let i = decode(hw1, hw2);
                assert_eq!(i.len, if is_wide(hw1) { 4 } else { 2 });
            }
        }
    }
}
