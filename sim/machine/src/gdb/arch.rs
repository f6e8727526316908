//! ARMv7-M as GDB sees the twin's cores: the target description, the register file in its
//! order, and reading and writing a core's registers.

use gdbstub::arch::{Arch, Registers};
use unicorn_engine::RegisterARM;

use crate::core::{self, CALL_REGS, D_REGS};
use crate::machine::Machine;

/// The target description GDB reads (`qXfer:features:read`). The `g` packet follows its order:
/// r0-r12, sp, lr, pc, xpsr, d0-d15, fpscr, msp, psp, primask, basepri, faultmask, control.
pub const TARGET_XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
  <architecture>arm</architecture>
  <feature name="org.gnu.gdb.arm.m-profile">
    <reg name="r0" bitsize="32"/>
    <reg name="r1" bitsize="32"/>
    <reg name="r2" bitsize="32"/>
    <reg name="r3" bitsize="32"/>
    <reg name="r4" bitsize="32"/>
    <reg name="r5" bitsize="32"/>
    <reg name="r6" bitsize="32"/>
    <reg name="r7" bitsize="32"/>
    <reg name="r8" bitsize="32"/>
    <reg name="r9" bitsize="32"/>
    <reg name="r10" bitsize="32"/>
    <reg name="r11" bitsize="32"/>
    <reg name="r12" bitsize="32"/>
    <reg name="sp" bitsize="32" type="data_ptr"/>
    <reg name="lr" bitsize="32"/>
    <reg name="pc" bitsize="32" type="code_ptr"/>
    <reg name="xpsr" bitsize="32"/>
  </feature>
  <feature name="org.gnu.gdb.arm.vfp">
    <reg name="d0" bitsize="64" type="ieee_double"/>
    <reg name="d1" bitsize="64" type="ieee_double"/>
    <reg name="d2" bitsize="64" type="ieee_double"/>
    <reg name="d3" bitsize="64" type="ieee_double"/>
    <reg name="d4" bitsize="64" type="ieee_double"/>
    <reg name="d5" bitsize="64" type="ieee_double"/>
    <reg name="d6" bitsize="64" type="ieee_double"/>
    <reg name="d7" bitsize="64" type="ieee_double"/>
    <reg name="d8" bitsize="64" type="ieee_double"/>
    <reg name="d9" bitsize="64" type="ieee_double"/>
    <reg name="d10" bitsize="64" type="ieee_double"/>
    <reg name="d11" bitsize="64" type="ieee_double"/>
    <reg name="d12" bitsize="64" type="ieee_double"/>
    <reg name="d13" bitsize="64" type="ieee_double"/>
    <reg name="d14" bitsize="64" type="ieee_double"/>
    <reg name="d15" bitsize="64" type="ieee_double"/>
    <reg name="fpscr" bitsize="32" type="int" group="float"/>
  </feature>
  <feature name="org.gnu.gdb.arm.m-system">
    <reg name="msp" bitsize="32" type="data_ptr" group="system"/>
    <reg name="psp" bitsize="32" type="data_ptr" group="system"/>
  </feature>
  <feature name="org.rt-twin.arm.m-masks">
    <reg name="primask" bitsize="32" group="system"/>
    <reg name="basepri" bitsize="32" group="system"/>
    <reg name="faultmask" bitsize="32" group="system"/>
    <reg name="control" bitsize="32" group="system"/>
  </feature>
</target>
"#;

/// ARMv7-M as GDB sees the twin's cores.
pub enum ArmV7M {}

impl Arch for ArmV7M {
    type Usize = u32;
    type Registers = Regs;
    /// Thumb breakpoint kinds: 2 (16-bit), 3 (32-bit Thumb-2), 4.
    type BreakpointKind = usize;
    type RegId = ();

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML)
    }
}

/// One core's registers in [`TARGET_XML`]'s order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Regs {
    /// r0-r12, sp, lr, pc.
    pub r: [u32; 16],
    pub xpsr: u32,
    pub d: [u64; 16],
    pub fpscr: u32,
    pub msp: u32,
    pub psp: u32,
    pub primask: u32,
    pub basepri: u32,
    pub faultmask: u32,
    pub control: u32,
}

impl Regs {
    fn words_after_d(&self) -> [u32; 7] {
        [
            self.fpscr,
            self.msp,
            self.psp,
            self.primask,
            self.basepri,
            self.faultmask,
            self.control,
        ]
    }
}

impl Registers for Regs {
    type ProgramCounter = u32;

    fn pc(&self) -> u32 {
        self.r[15]
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        let mut put = |b: &[u8]| b.iter().for_each(|&x| write_byte(Some(x)));
        for w in self.r.iter().chain([&self.xpsr]) {
            put(&w.to_le_bytes());
        }
        for d in &self.d {
            put(&d.to_le_bytes());
        }
        for w in self.words_after_d() {
            put(&w.to_le_bytes());
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        const LEN: usize = 17 * 4 + 16 * 8 + 7 * 4;
        if bytes.len() < LEN {
            return Err(());
        }
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        for (k, r) in self.r.iter_mut().enumerate() {
            *r = word(4 * k);
        }
        self.xpsr = word(64);
        for (k, d) in self.d.iter_mut().enumerate() {
            let at = 68 + 8 * k;
            *d = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        }
        let rest: Vec<u32> = (0..7).map(|k| word(196 + 4 * k)).collect();
        self.fpscr = rest[0];
        self.msp = rest[1];
        self.psp = rest[2];
        self.primask = rest[3];
        self.basepri = rest[4];
        self.faultmask = rest[5];
        self.control = rest[6];
        Ok(())
    }
}

/// Read a core's registers.
pub fn read_regs(m: &mut Machine, core_idx: usize) -> Regs {
    let uc = m.engine(core_idx);
    let get = |uc: &core::Engine, r| uc.reg_read(r).unwrap_or(0);
    let mut regs = Regs::default();
    for (k, &r) in CALL_REGS[..13].iter().enumerate() {
        regs.r[k] = get(uc, r) as u32;
    }
    regs.r[13] = get(uc, RegisterARM::SP) as u32;
    regs.r[14] = get(uc, RegisterARM::LR) as u32;
    regs.r[15] = get(uc, RegisterARM::PC) as u32;
    for (k, &r) in D_REGS.iter().enumerate() {
        regs.d[k] = get(uc, r);
    }
    regs.fpscr = get(uc, RegisterARM::FPSCR) as u32;
    regs.primask = get(uc, RegisterARM::PRIMASK) as u32;
    regs.basepri = get(uc, RegisterARM::BASEPRI) as u32;
    regs.faultmask = get(uc, RegisterARM::FAULTMASK) as u32;
    let mode = core::read_mode(uc);
    regs.xpsr = mode.xpsr;
    regs.control = mode.control;
    regs.msp = mode.msp;
    regs.psp = mode.psp;
    regs
}

/// Write a core's registers (the mode registers through [`core::write_mode`], so the banked
/// stack pointers stay consistent).
pub fn write_regs(m: &mut Machine, core_idx: usize, regs: &Regs) {
    let uc = m.engine(core_idx);
    let old = core::read_mode(uc);
    // A write of `sp` is a write of the stack pointer in use.
    let thread_psp = old.ipsr() == 0 && old.control & 2 != 0;
    let old_sp = if thread_psp { old.psp } else { old.msp };
    let (mut msp, mut psp) = (regs.msp, regs.psp);
    if regs.r[13] != old_sp {
        if thread_psp {
            psp = regs.r[13];
        } else {
            msp = regs.r[13];
        }
    }
    core::write_mode(
        uc,
        core::CpuMode {
            xpsr: regs.xpsr,
            control: regs.control,
            msp,
            psp,
        },
    );
    for (k, &r) in CALL_REGS[..13].iter().enumerate() {
        core::set(uc, r, regs.r[k]);
    }
    core::set(uc, RegisterARM::LR, regs.r[14]);
    core::set(uc, RegisterARM::PC, regs.r[15] | 1);
    for (k, &r) in D_REGS.iter().enumerate() {
        let _ = uc.reg_write(r, regs.d[k]);
    }
    core::set(uc, RegisterARM::FPSCR, regs.fpscr);
    core::set(uc, RegisterARM::PRIMASK, regs.primask & 1);
    core::set(uc, RegisterARM::BASEPRI, regs.basepri & 0xFF);
    core::set(uc, RegisterARM::FAULTMASK, regs.faultmask & 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registers in the target description, in order: (name, bits).
    fn described() -> Vec<(String, usize)> {
        TARGET_XML
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let name = l.strip_prefix("<reg name=\"")?.split('"').next()?;
                let bits = l.split("bitsize=\"").nth(1)?.split('"').next()?;
                Some((name.to_string(), bits.parse().ok()?))
            })
            .collect()
    }

    #[test]
    fn the_g_packet_follows_the_target_description() {
        let regs = described();
        let names: Vec<&str> = regs.iter().map(|(n, _)| n.as_str()).collect();
        // GDB's ARM M-profile feature names (gdb/features/arm/arm-m-profile.xml).
        assert_eq!(
            &names[..17],
            [
                "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12",
                "sp", "lr", "pc", "xpsr"
            ]
        );
        assert_eq!(names[17], "d0");
        assert_eq!(names[33], "fpscr");
        assert_eq!(
            &names[34..],
            ["msp", "psp", "primask", "basepri", "faultmask", "control"]
        );
        let bytes: usize = regs.iter().map(|(_, b)| b / 8).sum();
        // Every register distinct, so a misplaced one shows.
        let mut r = Regs::default();
        for (k, x) in r.r.iter_mut().enumerate() {
            *x = 0x1000 + k as u32;
        }
        r.xpsr = 0x0100_0000;
        for (k, d) in r.d.iter_mut().enumerate() {
            *d = 0x4000_0000_0000_0000 | k as u64;
        }
        (
            r.fpscr,
            r.msp,
            r.psp,
            r.primask,
            r.basepri,
            r.faultmask,
            r.control,
        ) = (0x0300_0000, 0x2000_1000, 0x2000_2000, 1, 0x40, 1, 6);
        let mut out = Vec::new();
        r.gdb_serialize(|b| out.push(b.unwrap()));
        assert_eq!(out.len(), bytes);
        // Spot checks at the offsets the description implies.
        let word = |i: usize| u32::from_le_bytes(out[i..i + 4].try_into().unwrap());
        assert_eq!(word(15 * 4), 0x100F, "pc");
        assert_eq!(word(16 * 4), 0x0100_0000, "xpsr");
        assert_eq!(out[17 * 4 + 8 * 3], 3, "d3's low byte");
        assert_eq!(word(17 * 4 + 16 * 8 + 4), 0x2000_1000, "msp");
        assert_eq!(word(bytes - 4), 6, "control");
        let mut back = Regs::default();
        back.gdb_deserialize(&out).unwrap();
        assert_eq!(back, r);
        assert!(back.gdb_deserialize(&out[..out.len() - 1]).is_err());
    }
}
