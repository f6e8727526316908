//! Low-power SPI (LPSPI1-6), master mode: 16-word command/data and receive FIFOs, frame timing
//! from the root clock, and the devices on the bus selected by their GPIO chip selects.
//!
//! Source: rt1176.md section 3.7 (PERI_LPSPI.h) for the registers and bits, and its note that
//! PX4 drives chip select (and data-ready) as plain GPIOs: the device a frame reaches is the one
//! whose chip-select pin is low ([`Lpspi::sync`] is given those levels), not TCR.PCS. The SCK
//! period, (SCKDIV + 2) x 2^PRESCALE clocks of the root, is the NXP LPSPI's (CCR.SCKDIV,
//! TCR.PRESCALE); rt1176.md lists the fields without the formula (inferred).
//!
//! | Off  | Reg   | Implemented                                                                 |
//! |------|-------|-----------------------------------------------------------------------------|
//! | 0x00 | VERID | reads 0                                                                     |
//! | 0x04 | PARAM | 0x0404 (16-word TX and RX FIFOs)                                            |
//! | 0x10 | CR    | MEN (the module runs only when set), RST (registers and FIFOs to reset while set), DBGEN stored, RTF / RRF flush a FIFO (self-clearing) |
//! | 0x14 | SR    | TDF (TX count <= TXWATER), RDF (RX count > RXWATER), WCF (a word done), FCF (a frame done with CS released by the command), TCF (TX FIFO empty and idle), REF (a word to a full RX FIFO); WCF/FCF/TCF/REF write-1-to-clear; MBF while a word is on the wire |
//! | 0x18 | IER   | interrupt enables, SR positions: the line is SR & IER                       |
//! | 0x1C | DER   | stored (no DMA)                                                              |
//! | 0x20 / 0x24 | CFGR0 / CFGR1 | stored; CFGR1.MASTER must be set for transfers          |
//! | 0x40 | CCR   | SCKDIV[7:0] (frame timing); DBT, PCSSCK, SCKPCS stored                       |
//! | 0x58 | FCR   | TXWATER[3:0], RXWATER[19:16]                                                 |
//! | 0x5C | FSR   | TXCOUNT[4:0], RXCOUNT[20:16]                                                 |
//! | 0x60 | TCR   | a write queues a command into the TX FIFO; read: the command in force. FRAMESZ[11:0] (bits - 1), RXMSK (no RX word stored), PRESCALE[29:27]; CPOL/CPHA/LSBF/PCS/CONT stored (every device here is mode-agnostic) |
//! | 0x64 | TDR   | a data word into the TX FIFO (when it is full, the word is dropped)          |
//! | 0x70 | RSR   | SOF (bit0, first word after CS), RXEMPTY (bit1)                              |
//! | 0x74 | RDR   | pops the RX FIFO                                                            |
//!
//! Not modelled: TXMSK transfers (refused with an error), DMA, the PCS-to-SCK and SCK-to-PCS
//! delays and the delay between transfers (frames are back to back), slave mode, LSBF bit
//! order on the wire (devices see the word as written).

use std::collections::VecDeque;

use super::{merge, ticks, RegError};
use crate::time::Ps;

const DEPTH: usize = 16;

const CR_MEN: u32 = 1;
const CR_RST: u32 = 1 << 1;
const CR_RTF: u32 = 1 << 8;
const CR_RRF: u32 = 1 << 9;

const SR_TDF: u32 = 1;
const SR_RDF: u32 = 1 << 1;
const SR_WCF: u32 = 1 << 8;
const SR_FCF: u32 = 1 << 9;
const SR_TCF: u32 = 1 << 10;
const SR_REF: u32 = 1 << 12;
const SR_MBF: u32 = 1 << 24;
const SR_W1C: u32 = SR_WCF | SR_FCF | SR_TCF | (1 << 11) | SR_REF | (1 << 13);

const TCR_RXMSK: u32 = 1 << 19;
const TCR_TXMSK: u32 = 1 << 18;
const TCR_CONT: u32 = 1 << 21;
const TCR_RESET: u32 = 0x0000_001F; // FRAMESZ 31 (NXP reset value)

/// A device on an SPI bus: one word in, one word out per frame while it is selected.
pub trait SpiDevice: std::fmt::Debug {
    /// Chip select went low: a transaction starts.
    fn select(&mut self);
    /// Chip select went high: the transaction ends.
    fn deselect(&mut self);
    /// One frame of `bits` bits at time `t`: the word the master sent, the word the device
    /// drives back.
    fn transfer(&mut self, word: u32, bits: u32, t: Ps) -> u32;
    /// The device as `Any` (to feed a sensor its samples).
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    /// The level of its interrupt (data-ready) output.
    fn irq_out(&self) -> bool {
        false
    }
}

#[derive(Debug)]
enum Entry {
    Command(u32),
    Data(u32, Ps),
}

#[derive(Debug)]
pub struct Lpspi {
    hz: u64,
    cr: u32,
    sticky: u32,
    ier: u32,
    der: u32,
    cfgr0: u32,
    cfgr1: u32,
    ccr: u32,
    fcr: u32,
    /// The command in force.
    tcr: u32,
    tx: VecDeque<Entry>,
    rx: VecDeque<u32>,
    /// The word on the wire and when its last bit ends.
    busy: Option<(u32, Ps)>,
    free_at: Ps,
    sof: bool,
    /// Devices on the bus and whether each one's chip select is low now.
    pub devices: Vec<(Box<dyn SpiDevice>, bool)>,
    /// An error to raise at the next register access (a transfer the model refuses).
    refused: Option<&'static str>,
    /// Words and frames transferred (bus utilisation).
    pub frames: u64,
    pub busy_ps: Ps,
}

impl Lpspi {
    pub fn new(hz: u64) -> Lpspi {
        Lpspi {
            hz,
            cr: 0,
            sticky: 0,
            ier: 0,
            der: 0,
            cfgr0: 0,
            cfgr1: 0,
            ccr: 0,
            fcr: 0,
            tcr: TCR_RESET,
            tx: VecDeque::new(),
            rx: VecDeque::new(),
            busy: None,
            free_at: 0,
            sof: true,
            devices: Vec::new(),
            refused: None,
            frames: 0,
            busy_ps: 0,
        }
    }

    fn reset(&mut self) {
        let devices = std::mem::take(&mut self.devices);
        let (frames, busy_ps) = (self.frames, self.busy_ps);
        *self = Lpspi::new(self.hz);
        self.devices = devices;
        self.frames = frames;
        self.busy_ps = busy_ps;
    }

    /// One frame's duration under command `tcr`.
    fn frame_time(&self, tcr: u32) -> Ps {
        let bits = u64::from(tcr & 0xFFF) + 1;
        let period = (u64::from(self.ccr & 0xFF) + 2) << ((tcr >> 27) & 7);
        ticks::time_of(bits * period, self.hz, 1)
    }

    /// The chip select of device `i` changed (from its GPIO), at a time the bus is synced to.
    pub fn chip_select(&mut self, i: usize, low: bool) {
        let Some((dev, selected)) = self.devices.get_mut(i) else {
            return;
        };
        if low && !*selected {
            dev.select();
            self.sof = true;
        } else if !low && *selected {
            dev.deselect();
        }
        *selected = low;
    }

    fn running(&self) -> bool {
        self.cr & CR_MEN != 0 && self.cfgr1 & 1 != 0
    }

    /// Bring the bus up to time `t`: every frame that ends by then has been exchanged with the
    /// selected device.
    pub fn sync(&mut self, t: Ps) {
        loop {
            if let Some((w, end)) = self.busy {
                if end > t {
                    return;
                }
                self.busy = None;
                self.free_at = end;
                let bits = (self.tcr & 0xFFF) + 1;
                let mut back = u32::MAX >> (32 - bits.min(32));
                for (dev, selected) in &mut self.devices {
                    if *selected {
                        back = dev.transfer(w, bits, end);
                    }
                }
                self.frames += 1;
                self.sticky |= SR_WCF;
                if self.tcr & TCR_RXMSK == 0 {
                    if self.rx.len() >= DEPTH {
                        self.sticky |= SR_REF;
                    } else {
                        self.rx.push_back(back);
                    }
                }
                if self.tcr & TCR_CONT == 0 {
                    self.sticky |= SR_FCF;
                }
                continue;
            }
            if !self.running() {
                return;
            }
            match self.tx.front() {
                Some(Entry::Command(c)) => {
                    if c & TCR_TXMSK != 0 {
                        self.refused = Some("TCR.TXMSK transfers are not modelled");
                    }
                    self.tcr = *c;
                    self.tx.pop_front();
                }
                Some(&Entry::Data(w, written)) => {
                    let start = self.free_at.max(written);
                    if start > t {
                        return;
                    }
                    self.tx.pop_front();
                    let d = self.frame_time(self.tcr);
                    self.busy_ps += d;
                    self.busy = Some((w, start + d));
                }
                None => {
                    if self.tx.is_empty() {
                        self.sticky |= SR_TCF;
                    }
                    return;
                }
            }
        }
    }

    fn sr(&self) -> u32 {
        let mut s = self.sticky;
        if self.tx.len() <= (self.fcr & 0xF) as usize {
            s |= SR_TDF;
        }
        if self.rx.len() > ((self.fcr >> 16) & 0xF) as usize {
            s |= SR_RDF;
        }
        if self.busy.is_some() {
            s |= SR_MBF;
        }
        s
    }

    pub fn irq_level(&self) -> bool {
        self.sr() & self.ier & 0x3F03 != 0
    }

    /// When the word on the wire ends, or the next one can start.
    pub fn next_event(&self) -> Option<Ps> {
        if let Some((_, end)) = self.busy {
            return Some(end);
        }
        match self.tx.front() {
            Some(Entry::Data(_, w)) if self.running() => Some(self.free_at.max(*w)),
            Some(Entry::Command(_)) if self.running() => Some(self.free_at),
            _ => None,
        }
    }

    fn check(&mut self, off: u32) -> Result<(), RegError> {
        match self.refused.take() {
            Some(what) => Err(RegError { offset: off, what }),
            None => Ok(()),
        }
    }

    pub fn read(&mut self, off: u32, now: Ps) -> Result<u32, RegError> {
        self.sync(now);
        self.check(off)?;
        Ok(match off {
            0x00 => 0,
            0x04 => 0x0404,
            0x10 => self.cr & !(CR_RTF | CR_RRF),
            0x14 => self.sr(),
            0x18 => self.ier,
            0x1C => self.der,
            0x20 => self.cfgr0,
            0x24 => self.cfgr1,
            0x40 => self.ccr,
            0x58 => self.fcr,
            0x5C => (self.tx.len() as u32) | ((self.rx.len() as u32) << 16),
            0x60 => self.tcr,
            0x70 => u32::from(self.sof) | (u32::from(self.rx.is_empty()) << 1),
            0x74 => {
                self.sof = false;
                self.rx.pop_front().unwrap_or(0)
            }
            _ => return Err(RegError::unmodelled(off)),
        })
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32, now: Ps) -> Result<(), RegError> {
        self.sync(now);
        self.check(off)?;
        if off == 0x10 {
            let v = merge(self.cr, value, mask);
            if v & CR_RST != 0 {
                self.reset();
                self.cr = CR_RST;
                return Ok(());
            }
            if v & CR_RTF != 0 {
                self.tx.clear();
            }
            if v & CR_RRF != 0 {
                self.rx.clear();
            }
            self.cr = v & !(CR_RTF | CR_RRF);
            self.free_at = self.free_at.max(now);
            self.sync(now);
            return Ok(());
        }
        if self.cr & CR_RST != 0 {
            return Ok(());
        }
        match off {
            0x00 | 0x04 | 0x5C | 0x70 | 0x74 => {}
            0x14 => self.sticky &= !(value & mask & SR_W1C),
            0x18 => self.ier = merge(self.ier, value, mask),
            0x1C => self.der = merge(self.der, value, mask),
            0x20 => self.cfgr0 = merge(self.cfgr0, value, mask),
            0x24 => self.cfgr1 = merge(self.cfgr1, value, mask),
            0x40 => self.ccr = merge(self.ccr, value, mask),
            0x58 => self.fcr = merge(self.fcr, value, mask) & 0x000F_000F,
            0x60 | 0x64 if self.tx.len() < DEPTH => {
                let v = merge(if off == 0x60 { self.tcr } else { 0 }, value, mask);
                self.sticky &= !SR_TCF;
                self.tx.push_back(if off == 0x60 {
                    Entry::Command(v)
                } else {
                    Entry::Data(v, now)
                });
            }
            0x60 | 0x64 => {}
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

    /// A device that answers each word with the previous one plus one, and logs selects.
    #[derive(Debug, Default)]
    struct Echo {
        last: u32,
        log: Vec<String>,
    }

    impl SpiDevice for Echo {
        fn select(&mut self) {
            self.log.push("select".into());
        }
        fn deselect(&mut self) {
            self.log.push("deselect".into());
        }
        fn transfer(&mut self, word: u32, bits: u32, _: Ps) -> u32 {
            self.log.push(format!("{word:#x}/{bits}"));
            let r = self.last + 1;
            self.last = word;
            r
        }
        fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
            self
        }
    }

    const HZ: u64 = 24_000_000;

    fn master() -> Lpspi {
        let mut s = Lpspi::new(HZ);
        s.write(0x24, 1, u32::MAX, 0).unwrap(); // CFGR1.MASTER
        s.write(0x40, 4, u32::MAX, 0).unwrap(); // SCKDIV 4: SCK = 24 MHz / 6 = 4 MHz
        s.write(0x10, CR_MEN, u32::MAX, 0).unwrap();
        s
    }

    #[test]
    fn frames_take_their_bits_at_the_sck_period_and_reach_the_selected_device() {
        let mut s = master();
        s.devices.push((Box::new(Echo::default()), false));
        s.chip_select(0, true);
        s.write(0x60, 7, u32::MAX, 0).unwrap(); // 8-bit frames, prescale 1
        for w in [0x75 | 0x80, 0x00] {
            s.write(0x64, w, u32::MAX, 0).unwrap();
        }
        // 8 bits x 6 clocks at 24 MHz = 2 us a frame.
        let frame = PS_PER_S / 500_000;
        assert_eq!(s.next_event(), Some(frame));
        assert_ne!(s.read(0x14, frame - 1).unwrap() & SR_MBF, 0);
        assert_eq!((s.read(0x5C, frame - 1).unwrap() >> 16) & 0x1F, 0);
        s.sync(2 * frame);
        assert_eq!((s.read(0x5C, 2 * frame).unwrap() >> 16) & 0x1F, 2);
        assert_eq!(s.read(0x70, 2 * frame).unwrap() & 1, 1, "SOF");
        assert_eq!(s.read(0x74, 2 * frame).unwrap(), 1);
        assert_eq!(s.read(0x74, 2 * frame).unwrap(), 0xF6);
        assert_ne!(s.read(0x14, 2 * frame).unwrap() & SR_TCF, 0);
        assert_eq!(s.frames, 2);
        assert_eq!(s.busy_ps, 2 * frame);
        s.chip_select(0, false);
        let (dev, _) = &s.devices[0];
        assert!(format!("{dev:?}").contains("select\", \"0xf5/8\", \"0x0/8\", \"deselect"));
    }

    #[test]
    fn prescale_and_frame_size_scale_the_frame_time() {
        let mut s = master();
        s.write(0x60, (2 << 27) | 15, u32::MAX, 0).unwrap(); // 16 bits, prescale 4
        s.write(0x64, 0xABCD, u32::MAX, 0).unwrap();
        // 16 bits x 6 x 4 clocks = 384 clocks = 16 us.
        assert_eq!(s.next_event(), Some(PS_PER_S / 62_500));
        s.sync(PS_PER_S);
        assert_eq!(
            s.read(0x74, PS_PER_S).unwrap(),
            0xFFFF,
            "no device: MISO floats high"
        );
    }

    #[test]
    fn nothing_moves_without_men_and_rx_overruns_past_sixteen() {
        let mut s = Lpspi::new(HZ);
        s.write(0x24, 1, u32::MAX, 0).unwrap();
        s.write(0x60, 7, u32::MAX, 0).unwrap();
        for w in 0..17 {
            s.write(0x64, w, u32::MAX, 0).unwrap();
        }
        assert_eq!(
            s.read(0x5C, 0).unwrap() & 0x1F,
            16,
            "the 17th word is dropped"
        );
        assert_eq!(s.next_event(), None, "MEN clear");
        s.write(0x10, CR_MEN, u32::MAX, 0).unwrap();
        s.sync(PS_PER_S);
        assert_eq!((s.read(0x5C, PS_PER_S).unwrap() >> 16) & 0x1F, 15);
        s.write(0x60, 7 | TCR_RXMSK, u32::MAX, PS_PER_S).unwrap();
        s.write(0x64, 0, u32::MAX, PS_PER_S).unwrap();
        s.write(0x64, 0, u32::MAX, PS_PER_S).unwrap();
        s.sync(2 * PS_PER_S);
        assert_eq!(
            s.read(0x14, 2 * PS_PER_S).unwrap() & SR_REF,
            0,
            "RXMSK: not stored"
        );
        s.write(0x60, 7, u32::MAX, 2 * PS_PER_S).unwrap();
        s.write(0x64, 0, u32::MAX, 2 * PS_PER_S).unwrap();
        s.write(0x64, 0, u32::MAX, 2 * PS_PER_S).unwrap();
        s.sync(3 * PS_PER_S);
        assert_ne!(s.read(0x14, 3 * PS_PER_S).unwrap() & SR_REF, 0);
    }
}
