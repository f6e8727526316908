//! Low-power I2C (LPI2C1-6), master mode: the command FIFO (START with address, transmit,
//! receive, STOP), the receive FIFO, bus timing, NACK, and the devices on the bus by address.
//!
//! Source: rt1176.md section 3.8 (PERI_LPI2C.h): the registers, the MTDR commands, and "CMD4
//! with an address that has no device -> NDF (and a STOP if AUTOSTOP is set)". Bus timing is the
//! NXP LPI2C's SCL period, (CLKLO + CLKHI + 2) x 2^PRESCALE clocks of the root (MCCR0,
//! MCFGR1.PRESCALE), nine SCL periods a byte with its acknowledge, one for a START or a STOP
//! (inferred: rt1176.md lists the fields; SCL latency and SETHOLD/DATAVD are not counted).
//!
//! | Off  | Reg    | Implemented                                                               |
//! |------|--------|---------------------------------------------------------------------------|
//! | 0x00 | VERID  | reads 0                                                                   |
//! | 0x04 | PARAM  | 0x0202 (4-word TX and RX FIFOs)                                            |
//! | 0x10 | MCR    | MEN (commands run only when set), RST (registers and FIFOs to reset while set), DBGEN stored, RTF / RRF flush a FIFO |
//! | 0x14 | MSR    | TDF (TX count <= TXWATER), RDF (RX count > RXWATER), EPF (a STOP or repeated START), SDF (a STOP), NDF (an address or data byte not acknowledged), FEF (a receive or transmit command outside a transfer); 8-14 write-1-to-clear; MBF (a command in progress), BBF (between START and STOP) |
//! | 0x18 | MIER   | interrupt enables, MSR positions: the line is MSR & MIER                  |
//! | 0x1C | MDER   | stored (no DMA)                                                           |
//! | 0x20-0x2C | MCFGR0-3 | stored; MCFGR1 PRESCALE[2:0] (timing), AUTOSTOP (bit8: a STOP after a NACK and when the FIFO empties), IGNACK (bit9: NACKs ignored) |
//! | 0x40 | MDMR   | stored                                                                    |
//! | 0x48 / 0x50 | MCCR0 / MCCR1 | CLKLO[5:0], CLKHI[13:8] (timing); SETHOLD, DATAVD stored    |
//! | 0x58 | MFCR   | TXWATER[1:0], RXWATER[17:16]                                              |
//! | 0x5C | MFSR   | TXCOUNT[2:0], RXCOUNT[18:16]                                              |
//! | 0x60 | MTDR   | CMD[10:8] / DATA[7:0] into the command FIFO (when full, dropped): 0 transmit, 1 receive DATA+1 bytes, 2 STOP, 3 receive and discard, 4 (repeated) START with the address byte, 5 START expecting a NACK; 6/7 (high speed) as 4/5 |
//! | 0x70 | MRDR   | pops DATA[7:0]; RXEMPTY (bit14) when empty                                |
//!
//! After a NACK (NDF set, IGNACK clear) the master stops taking commands until software clears
//! NDF. A receive command's bytes all land in the RX FIFO, however many: where silicon would
//! stretch SCL until software makes room, the twin keeps them (MFSR.RXCOUNT saturates at 7).
//! Not modelled: slave mode, arbitration loss, glitch filters, pin low timeout, SCL stretching by
//! devices, DMA.

use std::collections::VecDeque;

use super::{merge, ticks, RegError};
use crate::time::Ps;

const DEPTH: usize = 4;

const MCR_MEN: u32 = 1;
const MCR_RST: u32 = 1 << 1;
const MCR_RTF: u32 = 1 << 8;
const MCR_RRF: u32 = 1 << 9;

const MSR_TDF: u32 = 1;
const MSR_RDF: u32 = 1 << 1;
const MSR_EPF: u32 = 1 << 8;
const MSR_SDF: u32 = 1 << 9;
const MSR_NDF: u32 = 1 << 10;
const MSR_FEF: u32 = 1 << 12;
const MSR_MBF: u32 = 1 << 24;
const MSR_BBF: u32 = 1 << 25;
const MSR_W1C: u32 = 0x7F00;

const AUTOSTOP: u32 = 1 << 8;
const IGNACK: u32 = 1 << 9;

/// A device on an I2C bus.
pub trait I2cDevice: std::fmt::Debug {
    /// Its 7-bit address.
    fn address(&self) -> u8;
    /// A START (or repeated START) addressed to it, reading or writing; false to NACK.
    fn start(&mut self, read: bool) -> bool;
    /// A byte written to it; false to NACK.
    fn write(&mut self, byte: u8) -> bool;
    /// A byte it sends.
    fn read(&mut self) -> u8;
    /// A STOP.
    fn stop(&mut self);
    /// The device as `Any` (to feed a sensor its samples).
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

#[derive(Debug)]
pub struct Lpi2c {
    hz: u64,
    mcr: u32,
    sticky: u32,
    mier: u32,
    mder: u32,
    mcfgr: [u32; 4],
    mdmr: u32,
    mccr0: u32,
    mccr1: u32,
    mfcr: u32,
    tx: VecDeque<(u16, Ps)>,
    rx: VecDeque<u8>,
    /// The command on the bus and when it ends.
    busy: Option<(u16, Ps)>,
    free_at: Ps,
    /// The device addressed since the last START (None: nobody answered), and whether the
    /// transfer reads; None outside a transfer.
    transfer: Option<(Option<usize>, bool)>,
    pub devices: Vec<Box<dyn I2cDevice>>,
    /// Bytes moved on the bus and the time it was busy (utilisation).
    pub bytes: u64,
    pub busy_ps: Ps,
}

impl Lpi2c {
    pub fn new(hz: u64) -> Lpi2c {
        Lpi2c {
            hz,
            mcr: 0,
            sticky: 0,
            mier: 0,
            mder: 0,
            mcfgr: [0; 4],
            mdmr: 0,
            mccr0: 0,
            mccr1: 0,
            mfcr: 0,
            tx: VecDeque::new(),
            rx: VecDeque::new(),
            busy: None,
            free_at: 0,
            transfer: None,
            devices: Vec::new(),
            bytes: 0,
            busy_ps: 0,
        }
    }

    fn reset(&mut self) {
        let devices = std::mem::take(&mut self.devices);
        let (bytes, busy_ps) = (self.bytes, self.busy_ps);
        *self = Lpi2c::new(self.hz);
        self.devices = devices;
        self.bytes = bytes;
        self.busy_ps = busy_ps;
    }

    /// `n` SCL periods.
    fn periods(&self, n: u64) -> Ps {
        let lo = u64::from(self.mccr0 & 0x3F);
        let hi = u64::from((self.mccr0 >> 8) & 0x3F);
        let pre = 1u64 << (self.mcfgr[1] & 7);
        ticks::time_of(n * (lo + hi + 2) * pre, self.hz, 1)
    }

    fn halted(&self) -> bool {
        self.mcr & MCR_MEN == 0 || (self.sticky & MSR_NDF != 0 && self.mcfgr[1] & IGNACK == 0)
    }

    /// How long a command takes on the bus.
    fn duration(&self, cmd: u16) -> Ps {
        match cmd >> 8 {
            1 | 3 => self.periods(9 * (u64::from(cmd & 0xFF) + 1)),
            2 => self.periods(1),
            4..=7 => self.periods(10), // START, then the address byte and its acknowledge
            _ => self.periods(9),
        }
    }

    fn nack(&mut self) {
        if self.mcfgr[1] & IGNACK != 0 {
            return;
        }
        self.sticky |= MSR_NDF;
        if self.mcfgr[1] & AUTOSTOP != 0 {
            self.stop();
        }
    }

    fn stop(&mut self) {
        if let Some((Some(d), _)) = self.transfer {
            self.devices[d].stop();
        }
        if self.transfer.take().is_some() {
            self.sticky |= MSR_SDF | MSR_EPF;
        }
    }

    /// The effect of command `cmd` on the bus, at its end.
    fn execute(&mut self, cmd: u16) {
        let data = (cmd & 0xFF) as u8;
        match cmd >> 8 {
            0 => match self.transfer {
                Some((Some(d), false)) => {
                    self.bytes += 1;
                    if !self.devices[d].write(data) {
                        self.nack();
                    }
                }
                Some((None, _)) => {}
                _ => self.sticky |= MSR_FEF,
            },
            c @ (1 | 3) => match self.transfer {
                Some((Some(d), true)) => {
                    for _ in 0..=u32::from(data) {
                        let b = self.devices[d].read();
                        self.bytes += 1;
                        if c == 1 {
                            self.rx.push_back(b);
                        }
                    }
                }
                Some((None, _)) => {}
                _ => self.sticky |= MSR_FEF,
            },
            2 => self.stop(),
            c => {
                if self.transfer.is_some() {
                    self.sticky |= MSR_EPF; // a repeated START
                }
                let (addr, read) = (data >> 1, data & 1 != 0);
                let d = self.devices.iter().position(|d| d.address() == addr);
                self.bytes += 1;
                let ack = match d {
                    Some(i) => self.devices[i].start(read),
                    None => false,
                };
                self.transfer = Some((d.filter(|_| ack), read));
                let expect_nack = c == 5 || c == 7;
                if ack == expect_nack {
                    self.nack();
                }
            }
        }
    }

    /// Bring the bus up to time `t`.
    pub fn sync(&mut self, t: Ps) {
        loop {
            if let Some((cmd, end)) = self.busy {
                if end > t {
                    return;
                }
                self.busy = None;
                self.free_at = end;
                self.execute(cmd);
                if self.tx.is_empty() && self.mcfgr[1] & AUTOSTOP != 0 && self.transfer.is_some() {
                    self.stop();
                }
                continue;
            }
            if self.halted() {
                return;
            }
            let Some(&(cmd, written)) = self.tx.front() else {
                return;
            };
            let start = self.free_at.max(written);
            if start > t {
                return;
            }
            self.tx.pop_front();
            let d = self.duration(cmd);
            self.busy_ps += d;
            self.busy = Some((cmd, start + d));
        }
    }

    fn msr(&self) -> u32 {
        let mut s = self.sticky;
        if self.tx.len() <= (self.mfcr & 3) as usize {
            s |= MSR_TDF;
        }
        if self.rx.len() > ((self.mfcr >> 16) & 3) as usize {
            s |= MSR_RDF;
        }
        if self.busy.is_some() {
            s |= MSR_MBF;
        }
        if self.transfer.is_some() {
            s |= MSR_BBF;
        }
        s
    }

    pub fn irq_level(&self) -> bool {
        self.msr() & self.mier & 0x7F03 != 0
    }

    pub fn next_event(&self) -> Option<Ps> {
        if let Some((_, end)) = self.busy {
            return Some(end);
        }
        if self.halted() {
            return None;
        }
        self.tx.front().map(|&(_, w)| self.free_at.max(w))
    }

    pub fn read(&mut self, off: u32, now: Ps) -> Result<u32, RegError> {
        self.sync(now);
        Ok(match off {
            0x00 => 0,
            0x04 => 0x0202,
            0x10 => self.mcr,
            0x14 => self.msr(),
            0x18 => self.mier,
            0x1C => self.mder,
            0x20..=0x2C => self.mcfgr[((off - 0x20) / 4) as usize],
            0x40 => self.mdmr,
            0x48 => self.mccr0,
            0x50 => self.mccr1,
            0x58 => self.mfcr,
            0x5C => (self.tx.len() as u32) | ((self.rx.len().min(7) as u32) << 16),
            0x70 => match self.rx.pop_front() {
                Some(b) => u32::from(b),
                None => 1 << 14,
            },
            _ => return Err(RegError::unmodelled(off)),
        })
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32, now: Ps) -> Result<(), RegError> {
        self.sync(now);
        if off == 0x10 {
            let v = merge(self.mcr, value, mask);
            if v & MCR_RST != 0 {
                self.reset();
                self.mcr = MCR_RST;
                return Ok(());
            }
            if v & MCR_RTF != 0 {
                self.tx.clear();
            }
            if v & MCR_RRF != 0 {
                self.rx.clear();
            }
            self.mcr = v & !(MCR_RTF | MCR_RRF);
            self.free_at = self.free_at.max(now);
            self.sync(now);
            return Ok(());
        }
        if self.mcr & MCR_RST != 0 {
            return Ok(());
        }
        match off {
            0x00 | 0x04 | 0x5C | 0x70 => {}
            0x14 => {
                self.sticky &= !(value & mask & MSR_W1C);
                self.free_at = self.free_at.max(now);
            }
            0x18 => self.mier = merge(self.mier, value, mask),
            0x1C => self.mder = merge(self.mder, value, mask),
            0x20..=0x2C => {
                let i = ((off - 0x20) / 4) as usize;
                self.mcfgr[i] = merge(self.mcfgr[i], value, mask);
            }
            0x40 => self.mdmr = merge(self.mdmr, value, mask),
            0x48 => self.mccr0 = merge(self.mccr0, value, mask),
            0x50 => self.mccr1 = merge(self.mccr1, value, mask),
            0x58 => self.mfcr = merge(self.mfcr, value, mask) & 0x0003_0003,
            0x60 if self.tx.len() < DEPTH => {
                self.tx.push_back(((value & mask & 0x7FF) as u16, now));
            }
            0x60 => {}
            _ => return Err(RegError::unmodelled(off)),
        }
        self.sync(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::PS_PER_S;

    /// A register file at address 0x42: a write sets the register pointer then stores;
    /// reads come from the pointer, incrementing.
    #[derive(Debug, Default)]
    struct Regs {
        regs: [u8; 16],
        ptr: Option<usize>,
        log: Vec<String>,
    }

    impl I2cDevice for Regs {
        fn address(&self) -> u8 {
            0x42
        }
        fn start(&mut self, read: bool) -> bool {
            self.log
                .push(format!("start {}", if read { "r" } else { "w" }));
            if !read {
                self.ptr = None;
            }
            true
        }
        fn write(&mut self, b: u8) -> bool {
            match self.ptr {
                None => self.ptr = Some(usize::from(b)),
                Some(p) => {
                    self.regs[p % 16] = b;
                    self.ptr = Some(p + 1);
                }
            }
            true
        }
        fn read(&mut self) -> u8 {
            let p = self.ptr.unwrap_or(0);
            self.ptr = Some(p + 1);
            self.regs[p % 16]
        }
        fn stop(&mut self) {
            self.log.push("stop".into());
        }
        fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
            self
        }
    }

    const HZ: u64 = 24_000_000;

    fn master() -> Lpi2c {
        let mut m = Lpi2c::new(HZ);
        m.devices.push(Box::new(Regs::default()));
        // CLKLO 28, CLKHI 28, PRESCALE 1 (x2): (28 + 28 + 2) x 2 = 116 clocks ~ 206.9 kHz SCL.
        m.write(0x48, 28 | (28 << 8), u32::MAX, 0).unwrap();
        m.write(0x24, 1, u32::MAX, 0).unwrap();
        m.write(0x10, MCR_MEN, u32::MAX, 0).unwrap();
        m
    }

    fn scl(n: u64) -> Ps {
        (u128::from(n) * 116 * u128::from(PS_PER_S)).div_ceil(u128::from(HZ)) as Ps
    }

    #[test]
    fn a_register_write_then_a_repeated_start_read_takes_its_scl_periods() {
        let mut m = master();
        for c in [0x400 | 0x84, 0x003, 0x0AB, 0x0CD] {
            m.write(0x60, c, u32::MAX, 0).unwrap();
        }
        // START + address (10 periods), two bytes and a register byte (9 each), then STOP.
        let t = scl(10) + scl(9) * 3;
        m.write(0x60, 0x200, u32::MAX, 0).unwrap();
        m.sync(t + scl(1));
        let msr = m.read(0x14, t + scl(1)).unwrap();
        assert_eq!(msr & (MSR_SDF | MSR_NDF | MSR_BBF), MSR_SDF);
        for c in [0x400 | 0x84, 0x003, 0x400 | 0x85, 0x101, 0x200] {
            m.write(0x60, c, u32::MAX, t + scl(1)).unwrap();
        }
        m.sync(PS_PER_S);
        assert_eq!(m.read(0x70, PS_PER_S).unwrap(), 0xAB);
        assert_eq!(m.read(0x70, PS_PER_S).unwrap(), 0xCD);
        assert_eq!(m.read(0x70, PS_PER_S).unwrap(), 1 << 14, "RXEMPTY");
        assert_ne!(
            m.read(0x14, PS_PER_S).unwrap() & MSR_EPF,
            0,
            "repeated START"
        );
        assert_eq!(m.bytes, 1 + 3 + 1 + 1 + 1 + 2);
    }

    #[test]
    fn an_absent_address_is_nacked_and_halts_the_fifo_until_ndf_is_cleared() {
        let mut m = master();
        m.write(0x60, 0x400 | (0x10 << 1), u32::MAX, 0).unwrap();
        m.write(0x60, 0x055, u32::MAX, 0).unwrap();
        m.sync(PS_PER_S);
        let msr = m.read(0x14, PS_PER_S).unwrap();
        assert_ne!(msr & MSR_NDF, 0);
        assert_eq!(
            m.read(0x5C, PS_PER_S).unwrap() & 7,
            1,
            "the data word waits"
        );
        m.write(0x10, MCR_MEN | MCR_RTF, u32::MAX, PS_PER_S)
            .unwrap();
        m.write(0x14, MSR_NDF, u32::MAX, PS_PER_S).unwrap();
        assert_eq!(m.read(0x14, PS_PER_S).unwrap() & MSR_NDF, 0);
        // With AUTOSTOP the NACK ends the transfer with a STOP.
        m.write(0x24, AUTOSTOP | 1, u32::MAX, PS_PER_S).unwrap();
        m.write(0x60, 0x400 | (0x10 << 1), u32::MAX, PS_PER_S)
            .unwrap();
        m.sync(2 * PS_PER_S);
        let msr = m.read(0x14, 2 * PS_PER_S).unwrap();
        assert_eq!(msr & (MSR_NDF | MSR_SDF | MSR_BBF), MSR_NDF | MSR_SDF);
    }

    #[test]
    fn start_expecting_nack_and_data_outside_a_transfer() {
        let mut m = master();
        m.write(0x60, 0x500 | (0x10 << 1), u32::MAX, 0).unwrap(); // nobody: as expected
        m.write(0x60, 0x200, u32::MAX, 0).unwrap();
        m.sync(PS_PER_S);
        assert_eq!(m.read(0x14, PS_PER_S).unwrap() & MSR_NDF, 0);
        m.write(0x60, 0x012, u32::MAX, PS_PER_S).unwrap(); // no START before it
        m.sync(2 * PS_PER_S);
        assert_ne!(m.read(0x14, 2 * PS_PER_S).unwrap() & MSR_FEF, 0);
    }
}
