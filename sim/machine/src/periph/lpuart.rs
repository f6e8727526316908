//! Low-power UART (LPUART1-12): 4-entry FIFOs, baud timing, TX/RX interrupts, loopback.
//!
//! Source: rt1176.md section 3.6 (PERI_LPUART.h, the RT1176 features: 4-word FIFOs) for the
//! registers and bits; the baud formula there (baud = clock / (OSR+1 · SBR), OSR 0 meaning
//! x16). Reset values not given by rt1176.md are NXP's LPUART ones (BAUD 0x0F00_0004: x16, SBR 4;
//! STAT TDRE and TC set; FIFO sizes 4); VERID reads 0 (the reference gives no value).
//!
//! | Off  | Reg    | Implemented                                                                  |
//! |------|--------|------------------------------------------------------------------------------|
//! | 0x00 | VERID  | reads 0                                                                      |
//! | 0x04 | PARAM  | 0x0202 (log2 of the 4-word TX and RX FIFOs)                                   |
//! | 0x08 | GLOBAL | RST (bit1): while set, every other register and both FIFOs are at reset      |
//! | 0x0C | PINCFG | stored                                                                       |
//! | 0x10 | BAUD   | SBR[12:0], SBNS (bit13, two stop bits), OSR[28:24], M10 (bit29): frame timing; other bits stored |
//! | 0x14 | STAT   | TDRE (TX count <= TXWATER, or empty without FIFO), TC (FIFO and shifter empty), RDRF (RX count > RXWATER, or any without FIFO), IDLE (a frame time of idle line after a reception), OR (a byte arrived to a full RX FIFO); IDLE and OR write-1-to-clear; others read 0 |
//! | 0x18 | CTRL   | PE (parity bit in the frame), M (9 data bits), LOOPS (TX fed back to RX), RE, TE, ILIE, RIE, TCIE, TIE, ORIE; other bits stored |
//! | 0x1C | DATA   | write: into the TX FIFO (full: FIFO.TXOF set, the byte lost); read: from the RX FIFO, RXEMPT (bit12) when empty (FIFO.RXUF set) |
//! | 0x20 | MATCH  | stored                                                                       |
//! | 0x24 | MODIR  | stored                                                                       |
//! | 0x28 | FIFO   | RXFE (bit3), TXFE (bit7), RXIDEN stored; RXFIFOSIZE/TXFIFOSIZE read 1 (4 words); RXFLUSH/TXFLUSH (14/15) empty a FIFO, self-clearing; RXUF/TXOF (16/17) write-1-to-clear; RXEMPT/TXEMPT (22/23) |
//! | 0x2C | WATER  | TXWATER[1:0], RXWATER[17:16]; TXCOUNT[10:8], RXCOUNT[26:24] read the FIFO levels |
//!
//! Timing: a frame is a start bit, 8 data bits (9 with CTRL.M, 10 with BAUD.M10), a parity bit
//! with CTRL.PE and one stop bit (two with SBNS), each bit (OSR+1)·SBR clocks of the root. A
//! byte written to an idle transmitter starts at once; the next starts when the previous one's
//! stop bit ends. Received bytes (from the host, a device, or the transmitter with LOOPS) land in
//! the RX FIFO when their stop bit ends. Not modelled: break characters, address matching,
//! DMA requests (RDMAE/TDMAE are stored), the idle preamble sent when TE is set, RAF, noise,
//! framing and parity errors (every byte arrives intact).

use std::collections::VecDeque;

use super::{merge, ticks, RegError};
use crate::time::Ps;

const FIFO_DEPTH: usize = 4;
const BAUD_RESET: u32 = 0x0F00_0004;

const STAT_TDRE: u32 = 1 << 23;
const STAT_TC: u32 = 1 << 22;
const STAT_RDRF: u32 = 1 << 21;
const STAT_IDLE: u32 = 1 << 20;
const STAT_OR: u32 = 1 << 19;

const CTRL_PE: u32 = 1 << 1;
const CTRL_M: u32 = 1 << 4;
const CTRL_LOOPS: u32 = 1 << 7;
const CTRL_RE: u32 = 1 << 18;
const CTRL_TE: u32 = 1 << 19;
const CTRL_ILIE: u32 = 1 << 20;
const CTRL_RIE: u32 = 1 << 21;
const CTRL_TCIE: u32 = 1 << 22;
const CTRL_TIE: u32 = 1 << 23;
const CTRL_ORIE: u32 = 1 << 27;

const FIFO_RXFE: u32 = 1 << 3;
const FIFO_TXFE: u32 = 1 << 7;
const FIFO_SIZES: u32 = 1 | (1 << 4);
const FIFO_RXFLUSH: u32 = 1 << 14;
const FIFO_TXFLUSH: u32 = 1 << 15;
const FIFO_RXUF: u32 = 1 << 16;
const FIFO_TXOF: u32 = 1 << 17;
const FIFO_RXEMPT: u32 = 1 << 22;
const FIFO_TXEMPT: u32 = 1 << 23;

#[derive(Debug, Clone)]
pub struct Lpuart {
    hz: u64,
    global: u32,
    pincfg: u32,
    baud: u32,
    ctrl: u32,
    match_: u32,
    modir: u32,
    /// FIFO's stored bits (enables, RXIDEN) and its sticky flags (RXUF, TXOF).
    fifo: u32,
    water: u32,
    /// STAT's sticky flags (IDLE, OR).
    sticky: u32,
    /// Words written and not yet in the shifter, with the time they were written.
    tx: VecDeque<(u16, Ps)>,
    /// The word being sent and when its stop bit ends.
    shifter: Option<(u16, Ps)>,
    /// The transmitter is free from this time (the last stop bit's end, or TE set).
    tx_free_at: Ps,
    /// The current run of back-to-back frames: its start and the frames in it so far (each
    /// end is computed from the start, so a long run does not accumulate rounding).
    tx_burst: Option<(Ps, u64)>,
    rx: VecDeque<u16>,
    /// Words on their way in, with the time each one's stop bit ends.
    incoming: VecDeque<(u16, Ps)>,
    /// When the line goes idle after the last word received (IDLE pending), if it has not yet.
    idle_at: Option<Ps>,
    /// Every word sent, with the time its stop bit ended (taken by [`Lpuart::take_output`]).
    output: Vec<(Ps, u16)>,
    /// Line time of every frame sent and received so far (bus load).
    pub tx_busy_ps: Ps,
    pub rx_busy_ps: Ps,
}

impl Lpuart {
    pub fn new(hz: u64) -> Lpuart {
        Lpuart {
            hz,
            global: 0,
            pincfg: 0,
            baud: BAUD_RESET,
            ctrl: 0,
            match_: 0,
            modir: 0,
            fifo: 0,
            water: 0,
            sticky: 0,
            tx: VecDeque::new(),
            shifter: None,
            tx_free_at: 0,
            tx_burst: None,
            rx: VecDeque::new(),
            incoming: VecDeque::new(),
            idle_at: None,
            output: Vec::new(),
            tx_busy_ps: 0,
            rx_busy_ps: 0,
        }
    }

    fn reset(&mut self) {
        let (hz, output) = (self.hz, std::mem::take(&mut self.output));
        let (tx, rx) = (self.tx_busy_ps, self.rx_busy_ps);
        *self = Lpuart::new(hz);
        self.output = output;
        (self.tx_busy_ps, self.rx_busy_ps) = (tx, rx);
    }

    /// Clocks per bit: (OSR+1) x SBR, OSR 0 meaning x16; None when SBR is 0 (no baud clock).
    fn clocks_per_bit(&self) -> Option<u64> {
        let sbr = u64::from(self.baud & 0x1FFF);
        let osr = u64::from((self.baud >> 24) & 0x1F);
        let over = if osr == 0 { 16 } else { osr + 1 };
        (sbr > 0).then_some(over * sbr)
    }

    fn bits_per_frame(&self) -> u64 {
        let data = if self.baud & (1 << 29) != 0 {
            10
        } else if self.ctrl & CTRL_M != 0 {
            9
        } else {
            8
        };
        let parity = u64::from(self.ctrl & CTRL_PE != 0);
        let stop = if self.baud & (1 << 13) != 0 { 2 } else { 1 };
        1 + data + parity + stop
    }

    /// The programmed baud (bits per second), or None when the baud clock is off.
    pub fn baud(&self) -> Option<f64> {
        Some(self.hz as f64 / self.clocks_per_bit()? as f64)
    }

    /// One frame's duration, or None when the baud clock is off.
    pub fn frame_time(&self) -> Option<Ps> {
        self.frames_time(1)
    }

    /// The duration of `k` frames back to back (exact clock arithmetic, rounded up once).
    fn frames_time(&self, k: u64) -> Option<Ps> {
        let clocks = self.clocks_per_bit()? * self.bits_per_frame();
        Some(ticks::time_of(k * clocks, self.hz, 1)).filter(|&t| t != Ps::MAX)
    }

    fn depth(&self, enable: u32) -> usize {
        if self.fifo & enable != 0 {
            FIFO_DEPTH
        } else {
            1
        }
    }

    fn in_reset(&self) -> bool {
        self.global & 2 != 0
    }

    /// Bring the transmitter and receiver up to time `t`.
    pub fn sync(&mut self, t: Ps) {
        loop {
            // The next thing to happen first: the shifter's byte ending, or an arrival.
            let tx_end = self.shifter.map(|(_, end)| end);
            let rx_end = self.incoming.front().map(|&(_, at)| at);
            match (tx_end, rx_end) {
                (Some(e), r) if e <= t && r.is_none_or(|r| e <= r) => {
                    let (w, end) = self.shifter.take().expect("a byte in the shifter");
                    self.output.push((end, w));
                    self.tx_busy_ps += self.frame_time().unwrap_or(0);
                    self.tx_free_at = end;
                    if self.ctrl & CTRL_LOOPS != 0 {
                        self.incoming.push_back((w, end));
                        continue;
                    }
                }
                (_, Some(r)) if r <= t => {
                    let (w, at) = self.incoming.pop_front().expect("an arrival");
                    self.arrive(w, at);
                    continue;
                }
                _ => {}
            }
            // Load the shifter from the FIFO when the transmitter is free.
            if self.shifter.is_none() && self.ctrl & CTRL_TE != 0 {
                if let (Some(&(w, written)), true) = (self.tx.front(), self.frame_time().is_some())
                {
                    let start = self.tx_free_at.max(written);
                    if start <= t {
                        self.tx.pop_front();
                        let (origin, k) = match self.tx_burst {
                            Some((origin, k)) if start == self.tx_free_at => (origin, k + 1),
                            _ => (start, 1),
                        };
                        self.tx_burst = Some((origin, k));
                        let end = origin + self.frames_time(k).expect("a baud clock");
                        self.shifter = Some((w, end));
                        continue;
                    }
                }
            }
            break;
        }
        if let Some(at) = self.idle_at {
            if at <= t {
                self.sticky |= STAT_IDLE;
                self.idle_at = None;
            }
        }
    }

    fn arrive(&mut self, w: u16, at: Ps) {
        self.rx_busy_ps += self.frame_time().unwrap_or(0);
        if self.ctrl & CTRL_RE == 0 {
            return;
        }
        if self.rx.len() >= self.depth(FIFO_RXFE) {
            self.sticky |= STAT_OR;
        } else {
            self.rx.push_back(w);
        }
        self.idle_at = self.frame_time().map(|f| at + f);
    }

    /// Bytes from the line (the host, a device) starting at `at`, back to back at the
    /// programmed baud (at once when the baud clock is off).
    pub fn receive(&mut self, at: Ps, bytes: &[u8]) {
        let start = self.incoming.back().map_or(at, |&(_, e)| e.max(at));
        for (k, &b) in bytes.iter().enumerate() {
            let end = start + self.frames_time(k as u64 + 1).unwrap_or(0);
            self.incoming.push_back((u16::from(b), end));
        }
    }

    /// The words sent since the last call, each with the time its stop bit ended.
    pub fn take_output(&mut self) -> Vec<(Ps, u16)> {
        std::mem::take(&mut self.output)
    }

    fn stat(&self) -> u32 {
        let mut s = self.sticky;
        let txwater = (self.water & 3) as usize;
        let tdre = if self.fifo & FIFO_TXFE != 0 {
            self.tx.len() <= txwater
        } else {
            self.tx.is_empty()
        };
        if tdre {
            s |= STAT_TDRE;
        }
        if self.tx.is_empty() && self.shifter.is_none() {
            s |= STAT_TC;
        }
        let rxwater = ((self.water >> 16) & 3) as usize;
        let rdrf = if self.fifo & FIFO_RXFE != 0 {
            self.rx.len() > rxwater
        } else {
            !self.rx.is_empty()
        };
        if rdrf {
            s |= STAT_RDRF;
        }
        s
    }

    pub fn irq_level(&self) -> bool {
        let s = self.stat();
        let c = self.ctrl;
        (c & CTRL_TIE != 0 && s & STAT_TDRE != 0)
            || (c & CTRL_TCIE != 0 && s & STAT_TC != 0)
            || (c & CTRL_RIE != 0 && s & STAT_RDRF != 0)
            || (c & CTRL_ILIE != 0 && s & STAT_IDLE != 0)
            || (c & CTRL_ORIE != 0 && s & STAT_OR != 0)
    }

    /// When the state next changes by itself: a byte's stop bit ending (sent or received), the
    /// next byte entering the shifter, or the line going idle.
    pub fn next_event(&self) -> Option<Ps> {
        let shifter = self.shifter.map(|(_, e)| e);
        let load = match (self.shifter, self.tx.front(), self.ctrl & CTRL_TE != 0) {
            (None, Some(&(_, written)), true) if self.frame_time().is_some() => {
                Some(self.tx_free_at.max(written))
            }
            _ => None,
        };
        let arrival = self.incoming.front().map(|&(_, at)| at);
        [shifter, load, arrival, self.idle_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn read(&mut self, off: u32, now: Ps) -> Result<u32, RegError> {
        self.sync(now);
        Ok(match off {
            0x00 => 0,
            0x04 => 0x0202,
            0x08 => self.global,
            0x0C => self.pincfg,
            0x10 => self.baud,
            0x14 => self.stat(),
            0x18 => self.ctrl,
            0x1C => match self.rx.pop_front() {
                Some(w) => u32::from(w),
                None => {
                    self.fifo |= FIFO_RXUF;
                    1 << 12 // RXEMPT
                }
            },
            0x20 => self.match_,
            0x24 => self.modir,
            0x28 => {
                let mut v = (self.fifo & !(FIFO_RXFLUSH | FIFO_TXFLUSH)) | FIFO_SIZES;
                if self.rx.is_empty() {
                    v |= FIFO_RXEMPT;
                }
                if self.tx.is_empty() {
                    v |= FIFO_TXEMPT;
                }
                v
            }
            0x2C => {
                (self.water & 0x0003_0003)
                    | ((self.tx.len() as u32) << 8)
                    | ((self.rx.len() as u32) << 24)
            }
            _ => return Err(RegError::unmodelled(off)),
        })
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32, now: Ps) -> Result<(), RegError> {
        self.sync(now);
        if off == 0x08 {
            self.global = merge(self.global, value, mask) & 2;
            if self.in_reset() {
                self.reset();
                self.global = 2;
            }
            return Ok(());
        }
        if self.in_reset() {
            return Ok(());
        }
        match off {
            0x00 | 0x04 => {}
            0x0C => self.pincfg = merge(self.pincfg, value, mask),
            0x10 => {
                self.baud = merge(self.baud, value, mask);
                self.tx_burst = None;
            }
            0x14 => self.sticky &= !(value & mask & (STAT_IDLE | STAT_OR)),
            0x18 => {
                let was = self.ctrl;
                self.ctrl = merge(self.ctrl, value, mask);
                self.tx_burst = None;
                if was & CTRL_TE == 0 && self.ctrl & CTRL_TE != 0 {
                    self.tx_free_at = self.tx_free_at.max(now);
                }
            }
            0x1C => {
                if mask & 0xFF == 0 {
                    return Ok(());
                }
                if self.tx.len() >= self.depth(FIFO_TXFE) {
                    self.fifo |= FIFO_TXOF;
                } else {
                    self.tx.push_back(((value & 0x3FF) as u16, now));
                }
            }
            0x20 => self.match_ = merge(self.match_, value, mask),
            0x24 => self.modir = merge(self.modir, value, mask),
            0x28 => {
                let v = value & mask;
                if v & FIFO_TXFLUSH != 0 {
                    self.tx.clear();
                }
                if v & FIFO_RXFLUSH != 0 {
                    self.rx.clear();
                }
                let sticky = self.fifo & (FIFO_RXUF | FIFO_TXOF) & !(v & (FIFO_RXUF | FIFO_TXOF));
                let stored = merge(self.fifo, value, mask) & (FIFO_RXFE | FIFO_TXFE | 0x1C00);
                self.fifo = stored | sticky;
            }
            0x2C => self.water = merge(self.water, value, mask) & 0x0003_0003,
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

    const HZ: u64 = 24_000_000;

    /// 115 200 baud as the NXP SDK programs it from a 24 MHz root: OSR 15 (x16), SBR 13, so
    /// 24e6 / (16 x 13) = 115 384.6 baud; a 10-bit frame is 2080 clocks = 86 666.67 ns.
    fn at_115200() -> Lpuart {
        let mut u = Lpuart::new(HZ);
        u.write(0x10, (15 << 24) | 13, u32::MAX, 0).unwrap();
        u
    }

    fn frame_ps(k: u64) -> Ps {
        // k frames of 2080 clocks at 24 MHz, rounded up to the picosecond.
        (u128::from(k) * 2080 * u128::from(PS_PER_S)).div_ceil(u128::from(HZ)) as Ps
    }

    #[test]
    fn bytes_leave_one_frame_apart_at_the_programmed_baud() {
        let mut u = at_115200();
        assert_eq!(u.frame_time(), Some(frame_ps(1)));
        u.write(0x28, FIFO_TXFE, u32::MAX, 0).unwrap();
        u.write(0x18, CTRL_TE, u32::MAX, 0).unwrap();
        for b in b"hi!\n" {
            u.write(0x1C, u32::from(*b), u32::MAX, 1000).unwrap();
        }
        assert_eq!(u.read(0x14, 1000).unwrap() & (STAT_TDRE | STAT_TC), 0);
        u.sync(frame_ps(4) + 1000);
        let out = u.take_output();
        let times: Vec<Ps> = out.iter().map(|o| o.0).collect();
        assert_eq!(
            times,
            (1..=4).map(|k| 1000 + frame_ps(k)).collect::<Vec<_>>(),
            "back to back from the first write"
        );
        assert_eq!(out.iter().map(|o| o.1 as u8).collect::<Vec<_>>(), b"hi!\n");
        assert_ne!(u.read(0x14, frame_ps(4) + 1000).unwrap() & STAT_TC, 0);
    }

    #[test]
    fn the_fifo_holds_four_and_drops_the_fifth_with_txof() {
        let mut u = at_115200();
        u.write(0x28, FIFO_TXFE, u32::MAX, 0).unwrap();
        // Transmitter off: nothing leaves the FIFO.
        for b in 0..5u32 {
            u.write(0x1C, b, u32::MAX, 0).unwrap();
        }
        assert_eq!((u.read(0x2C, 0).unwrap() >> 8) & 7, 4, "TXCOUNT");
        assert_ne!(u.read(0x28, 0).unwrap() & FIFO_TXOF, 0);
        u.write(0x28, FIFO_TXOF | FIFO_TXFE, u32::MAX, 0).unwrap();
        assert_eq!(u.read(0x28, 0).unwrap() & FIFO_TXOF, 0, "write-1-to-clear");
        // TXWATER 2: TDRE once two words are left.
        u.write(0x2C, 2, u32::MAX, 0).unwrap();
        u.write(0x18, CTRL_TE, u32::MAX, 0).unwrap();
        let tdre = |u: &mut Lpuart, t| u.read(0x14, t).unwrap() & STAT_TDRE != 0;
        assert!(!tdre(&mut u, 0), "4 words > 2");
        // The first word enters the shifter at once (3 left), the second after one frame.
        assert!(tdre(&mut u, frame_ps(1)), "2 left after one frame");
    }

    #[test]
    fn loopback_receives_what_is_sent_and_overruns_past_four() {
        let mut u = at_115200();
        u.write(0x28, FIFO_TXFE | FIFO_RXFE, u32::MAX, 0).unwrap();
        u.write(0x18, CTRL_TE | CTRL_RE | CTRL_LOOPS | CTRL_RIE, u32::MAX, 0)
            .unwrap();
        // One word per frame time, so the TX FIFO never fills: back to back on the line.
        for b in 1..=5u32 {
            let t = frame_ps(u64::from(b - 1));
            u.write(0x1C, b, u32::MAX, t).unwrap();
        }
        assert_eq!(u.next_event(), Some(frame_ps(5)), "the fifth word's end");
        u.sync(frame_ps(6));
        let stat = u.read(0x14, frame_ps(6)).unwrap();
        assert_ne!(stat & STAT_RDRF, 0);
        assert_ne!(stat & STAT_OR, 0, "the fifth word met a full FIFO");
        assert!(u.irq_level(), "RIE and RDRF");
        let got: Vec<u32> = (0..5).map(|_| u.read(0x1C, frame_ps(6)).unwrap()).collect();
        assert_eq!(got, [1, 2, 3, 4, 1 << 12], "four words, then RXEMPT");
        assert_ne!(u.read(0x28, frame_ps(6)).unwrap() & FIFO_RXUF, 0);
    }

    #[test]
    fn idle_is_flagged_one_frame_after_the_last_byte_received() {
        let mut u = at_115200();
        u.write(0x18, CTRL_RE | CTRL_ILIE, u32::MAX, 0).unwrap();
        u.receive(0, b"ab");
        assert_eq!(u.next_event(), Some(frame_ps(1)));
        u.sync(frame_ps(2));
        assert_eq!(u.read(0x14, frame_ps(2)).unwrap() & STAT_IDLE, 0);
        // One frame time after the second stop bit.
        let idle = frame_ps(2) + frame_ps(1);
        assert_eq!(u.next_event(), Some(idle));
        u.sync(idle - 1);
        assert_eq!(u.read(0x14, idle - 1).unwrap() & STAT_IDLE, 0);
        u.sync(idle);
        assert_ne!(u.read(0x14, idle).unwrap() & STAT_IDLE, 0);
        assert!(u.irq_level());
        u.write(0x14, STAT_IDLE, u32::MAX, idle).unwrap();
        assert_eq!(
            u.read(0x14, idle).unwrap() & STAT_IDLE,
            0,
            "write-1-to-clear"
        );
        assert!(
            !u.irq_level(),
            "RIE is off: the two bytes waiting raise nothing"
        );
    }

    #[test]
    fn frame_length_follows_data_parity_and_stop_bits() {
        let mut u = at_115200();
        assert_eq!(u.bits_per_frame(), 10);
        u.write(0x18, CTRL_M | CTRL_PE, u32::MAX, 0).unwrap();
        assert_eq!(u.bits_per_frame(), 12, "start, 9 data, parity, stop");
        u.write(0x10, 1 << 13, 1 << 13, 0).unwrap();
        assert_eq!(u.bits_per_frame(), 13, "two stop bits");
        u.write(0x10, 0, 0x1FFF, 0).unwrap();
        assert_eq!(u.frame_time(), None, "SBR 0: no baud clock");
    }

    #[test]
    fn global_reset_holds_everything_at_reset() {
        let mut u = at_115200();
        u.write(0x18, CTRL_TE, u32::MAX, 0).unwrap();
        u.write(0x08, 2, u32::MAX, 0).unwrap();
        assert_eq!(u.read(0x10, 0).unwrap(), BAUD_RESET);
        assert_eq!(u.read(0x18, 0).unwrap(), 0);
        u.write(0x18, CTRL_TE, u32::MAX, 0).unwrap();
        assert_eq!(u.read(0x18, 0).unwrap(), 0, "ignored while RST");
        u.write(0x08, 0, u32::MAX, 0).unwrap();
        assert_eq!(u.read(0x14, 0).unwrap(), STAT_TDRE | STAT_TC);
    }
}
