//! The flight computer's hardware as host capabilities (wit/hw/hw.wit, docs/full-system.md): a
//! driver compiled to wasm asks for an SPI or I2C transfer, a GPIO pin, a PWM output, the time
//! or UART bytes, and the twin performs it on the same register models the firmware uses. [`Hw`]
//! is a small driver of its own, run from the host at the calling core's virtual time: it
//! programs the peripheral's registers (`Soc::periph_write`), lets the models' events fire up to
//! when the bus is done (`Soc::fire_events`), and reports how long that took, which the caller
//! charges to the core (the call blocks for the bus time, as a polled driver would).
//!
//! | capability | how it drives the models (rt1176.md) |
//! |---|---|
//! | SPI transfer on LPSPIn | the chip select (a GPIO output, active low) driven low; CFGR1.MASTER, CCR.SCKDIV 0 (the root / 2), CR.MEN, TCR 8-bit frames; the bytes through TDR as the 16-word FIFO has room, RDR drained; the chip select high [3.5, 3.7] |
//! | I2C write-read on LPI2Cn | MCCR0 CLKLO = CLKHI = 29, PRESCALE 1 (400 kHz at 24 MHz), MCR.MEN; START + address, the bytes, a repeated START + address + receive, STOP through MTDR as the 4-word FIFO has room, MRDR drained; NDF: the FIFO flushed, a STOP, a NACK error [3.8] |
//! | GPIO get / set | PSR read; GDIR bit set and DR_SET / DR_CLEAR [3.5] |
//! | PWM set on FlexPWMn SMm | CTRL.PRSC the smallest prescaler whose period fits the signed 16-bit counter from INIT 0 (VAL1 <= 32767), INIT 0, VAL1 the period, VAL2 0, VAL3 the high time, OUTEN.PWMA_EN, MCTRL RUN and LDOK [3.9] |
//! | UART write on LPUARTn | TE set; the bytes through DATA as TDRE allows; returns once they are in the FIFO [3.6] |
//! | time | the calling core's virtual time |
//!
//! The bus configuration is the capability's own (the registers are written at each call); a
//! wasm driver chooses devices, not clock dividers.

use crate::soc::Soc;
use crate::time::{Ps, PS_PER_S};

/// Why a capability call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HwError {
    /// The board has no such peripheral (LPSPIn, LPI2Cn, GPIOn, FlexPWMn, LPUARTn).
    NoSuchBus(String),
    /// The I2C address or a byte was not acknowledged.
    Nack,
    /// More than the call allows (32 bytes back), or an out-of-range argument.
    TooLong,
    /// A register access failed or the bus never finished (a twin error, named).
    Twin(String),
}

impl std::fmt::Display for HwError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HwError::NoSuchBus(b) => write!(f, "no {b} on this board"),
            HwError::Nack => f.write_str("not acknowledged"),
            HwError::TooLong => f.write_str("transfer too long"),
            HwError::Twin(e) => f.write_str(e),
        }
    }
}

/// The most bytes a transfer returns (the WIT's `bytes32`).
pub const MAX_RX: usize = 32;
/// A bus that has not finished after this long is a twin error.
const LIMIT: Ps = PS_PER_S;

/// The capabilities, run on `soc` for `core` from virtual time `now` (which each call advances
/// to when its bus work is done).
pub struct Hw<'a> {
    soc: &'a mut Soc,
    core: usize,
    pub now: Ps,
}

impl<'a> Hw<'a> {
    pub fn new(soc: &'a mut Soc, core: usize, now: Ps) -> Hw<'a> {
        Hw { soc, core, now }
    }

    fn base(&self, name: &str) -> Result<u32, HwError> {
        self.soc
            .periph_base(name)
            .ok_or_else(|| HwError::NoSuchBus(name.to_string()))
    }

    fn write(&mut self, addr: u32, size: usize, v: u32) -> Result<(), HwError> {
        self.soc
            .periph_write(self.core, addr, size, v, self.now)
            .map_err(|e| HwError::Twin(format!("{e:?}")))
    }

    fn read(&mut self, addr: u32) -> Result<u32, HwError> {
        self.soc
            .periph_read(self.core, addr, 4, self.now)
            .map_err(|e| HwError::Twin(format!("{e:?}")))
    }

    /// Let the models run to their next event; a twin error when there is none or it is past
    /// the limit (the bus would never finish).
    fn step(&mut self, start: Ps, what: &str) -> Result<(), HwError> {
        match self.soc.events.next_time() {
            Some(t) if t <= start + LIMIT => {
                self.now = self.now.max(t);
                self.soc.fire_events(self.now);
                Ok(())
            }
            _ => Err(HwError::Twin(format!("{what} did not finish"))),
        }
    }

    /// A plain bus read of `size` bytes (1, 2 or 4) at `addr` from the calling core: the
    /// peripheral models answer; an address no model decodes is a bus error.
    pub fn bus_read(&mut self, addr: u32, size: usize) -> Result<u32, HwError> {
        self.soc
            .periph_read(self.core, addr, size, self.now)
            .map_err(|e| HwError::Twin(format!("bus read of {size} bytes at {addr:#010x}: {e:?}")))
    }

    /// A plain bus write (see [`Hw::bus_read`]).
    pub fn bus_write(&mut self, addr: u32, size: usize, v: u32) -> Result<(), HwError> {
        self.soc
            .periph_write(self.core, addr, size, v, self.now)
            .map_err(|e| HwError::Twin(format!("bus write of {size} bytes at {addr:#010x}: {e:?}")))
    }

    fn gpio(&self, port: u8) -> Result<u32, HwError> {
        self.base(&format!("GPIO{port}"))
    }

    pub fn gpio_set(&mut self, port: u8, pin: u8, high: bool) -> Result<(), HwError> {
        let g = self.gpio(port)?;
        let bit = 1u32 << (pin % 32);
        let dir = self.read(g + 0x04)?;
        self.write(g + 0x04, 4, dir | bit)?;
        self.write(g + if high { 0x84 } else { 0x88 }, 4, bit)
    }

    pub fn gpio_get(&mut self, port: u8, pin: u8) -> Result<bool, HwError> {
        let g = self.gpio(port)?;
        Ok(self.read(g + 0x08)? >> (pin % 32) & 1 != 0)
    }

    /// One SPI transaction on LPSPI`bus` with the device whose chip select is GPIO`port` pin
    /// `pin`: `tx` out, as many bytes back.
    pub fn spi_transfer(&mut self, bus: u8, cs: (u8, u8), tx: &[u8]) -> Result<Vec<u8>, HwError> {
        if tx.len() > MAX_RX {
            return Err(HwError::TooLong);
        }
        let s = self.base(&format!("LPSPI{bus}"))?;
        let start = self.now;
        self.write(s + 0x24, 4, 1)?; // CFGR1.MASTER
        self.write(s + 0x40, 4, 0)?; // CCR.SCKDIV 0
        self.write(s + 0x10, 4, 1)?; // CR.MEN
        self.write(s + 0x60, 4, 7)?; // TCR: 8-bit frames
        self.gpio_set(cs.0, cs.1, false)?;
        let mut rx = Vec::with_capacity(tx.len());
        let mut sent = 0;
        while rx.len() < tx.len() {
            let fsr = self.read(s + 0x5C)?;
            if sent < tx.len() && fsr & 0x1F < 16 {
                self.write(s + 0x64, 4, u32::from(tx[sent]))?;
                sent += 1;
                continue;
            }
            if (fsr >> 16) & 0x1F > 0 {
                rx.push(self.read(s + 0x74)? as u8);
                continue;
            }
            self.step(start, &format!("LPSPI{bus}'s transfer"))?;
        }
        self.gpio_set(cs.0, cs.1, true)?;
        Ok(rx)
    }

    /// Write `tx` to the I2C device at `address` on LPI2C`bus`, then read `rx_len` bytes (a
    /// repeated START between; no read when 0).
    pub fn i2c_write_read(
        &mut self,
        bus: u8,
        address: u8,
        tx: &[u8],
        rx_len: usize,
    ) -> Result<Vec<u8>, HwError> {
        if rx_len > MAX_RX || tx.len() > 256 || address > 0x7F {
            return Err(HwError::TooLong);
        }
        let b = self.base(&format!("LPI2C{bus}"))?;
        let start = self.now;
        self.write(b + 0x14, 4, 0x7F00)?; // MSR: flags of earlier transfers
        self.write(b + 0x48, 4, 29 | (29 << 8))?; // MCCR0
        self.write(b + 0x24, 4, 0)?; // MCFGR1: PRESCALE 1
        self.write(b + 0x10, 4, 1)?; // MCR.MEN
        let a = u32::from(address) << 1;
        let mut cmds = vec![(4 << 8) | a];
        cmds.extend(tx.iter().map(|&x| u32::from(x)));
        if rx_len > 0 {
            cmds.push((4 << 8) | a | 1);
            cmds.push((1 << 8) | (rx_len as u32 - 1));
        }
        cmds.push(2 << 8);
        let (mut sent, mut rx, mut nack) = (0, Vec::new(), false);
        loop {
            let msr = self.read(b + 0x14)?;
            if msr & (1 << 10) != 0 && !nack {
                // NDF: drop what is left, end with a STOP.
                nack = true;
                sent = cmds.len();
                self.write(b + 0x10, 4, 1 | (1 << 8))?;
                self.write(b + 0x14, 4, 1 << 10)?;
                self.write(b + 0x60, 4, 2 << 8)?;
                continue;
            }
            let v = self.read(b + 0x70)?;
            if v & (1 << 14) == 0 {
                rx.push(v as u8);
                continue;
            }
            if msr & (1 << 9) != 0 && sent == cmds.len() {
                self.write(b + 0x14, 4, 1 << 9)?; // SDF
                break;
            }
            if sent < cmds.len() && self.read(b + 0x5C)? & 7 < 4 {
                self.write(b + 0x60, 4, cmds[sent])?;
                sent += 1;
                continue;
            }
            self.step(start, &format!("LPI2C{bus}'s transfer"))?;
        }
        if nack {
            return Err(HwError::Nack);
        }
        Ok(rx)
    }

    /// FlexPWM`module` submodule `sm`'s PWM_A at `period_ns` with `high_ns` high (rt1176.md
    /// 3.9: the 16 MHz PWM clock).
    pub fn pwm_set(
        &mut self,
        module: u8,
        sm: u8,
        period_ns: u32,
        high_ns: u32,
    ) -> Result<(), HwError> {
        let p = self.base(&format!("FlexPWM{module}"))?;
        if sm > 3 || high_ns > period_ns {
            return Err(HwError::TooLong);
        }
        let ticks = |ns: u32, prsc: u32| (u64::from(ns) * 16 / 1000) >> prsc;
        let prsc = (0..8)
            .find(|&k| ticks(period_ns, k) <= 0x8000)
            .ok_or(HwError::TooLong)?;
        let at = p + 0x60 * u32::from(sm);
        let w16 = |hw: &mut Self, off: u32, v: u32| hw.write(at + off, 2, v & 0xFFFF);
        w16(self, 0x06, prsc << 4)?; // CTRL.PRSC
        w16(self, 0x02, 0)?; // INIT
        w16(self, 0x0E, ticks(period_ns, prsc).saturating_sub(1) as u32)?; // VAL1
        w16(self, 0x12, 0)?; // VAL2
        w16(self, 0x16, ticks(high_ns, prsc) as u32)?; // VAL3
        let outen = self
            .soc
            .periph_read(self.core, p + 0x180, 2, self.now)
            .map_err(|e| HwError::Twin(format!("{e:?}")))?;
        self.write(p + 0x180, 2, outen | (1 << (8 + sm)))?; // OUTEN.PWMA_EN
        let mctrl = self
            .soc
            .periph_read(self.core, p + 0x188, 2, self.now)
            .map_err(|e| HwError::Twin(format!("{e:?}")))?;
        self.write(p + 0x188, 2, mctrl | (1 << (8 + sm)) | (1 << sm)) // RUN, LDOK
    }

    /// Send `bytes` on LPUART`n` (TE set); how many went into its FIFO before it filled for
    /// good (all of them unless the UART's baud clock is off).
    pub fn uart_write(&mut self, n: u8, bytes: &[u8]) -> Result<u32, HwError> {
        let u = self.base(&format!("LPUART{n}"))?;
        let start = self.now;
        let ctrl = self.read(u + 0x18)?;
        self.write(u + 0x18, 4, ctrl | (1 << 19))?;
        let mut sent = 0;
        while sent < bytes.len() {
            if self.read(u + 0x14)? & (1 << 23) != 0 {
                self.write(u + 0x1C, 4, u32::from(bytes[sent]))?;
                sent += 1;
            } else if self
                .step(start, &format!("LPUART{n}'s transmitter"))
                .is_err()
            {
                break;
            }
        }
        Ok(sent as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::Board;
    use crate::time::PS_PER_US;

    fn soc() -> Soc {
        Soc::new(&Board::rt1176(), false)
    }

    #[test]
    fn i2c_reads_the_barometers_id_in_39_scl_periods_and_a_missing_address_is_a_nack() {
        let mut soc = soc();
        let mut hw = Hw::new(&mut soc, 0, 0);
        // rt1176.md 6: BMP388 CHIP_ID 0x00 -> 0x50 at 0x77 on LPI2C3 (5.2).
        assert_eq!(hw.i2c_write_read(3, 0x77, &[0x00], 1), Ok(vec![0x50]));
        // START, address, register, repeated START, address, byte, STOP: 39 periods of 2.5 us.
        assert_eq!(hw.now, 39 * 5 * PS_PER_US / 2);
        assert_eq!(hw.i2c_write_read(3, 0x12, &[0x00], 1), Err(HwError::Nack));
        // The bus is usable after the NACK.
        assert_eq!(hw.i2c_write_read(3, 0x10, &[0x4B, 0x01], 0), Ok(vec![]));
        assert_eq!(hw.i2c_write_read(3, 0x10, &[0x40], 1), Ok(vec![0x32]));
        assert!(matches!(
            hw.i2c_write_read(9, 0x77, &[0], 1),
            Err(HwError::NoSuchBus(_))
        ));
    }

    #[test]
    fn spi_reads_who_am_i_through_the_gpio_chip_select() {
        let mut soc = soc();
        let mut hw = Hw::new(&mut soc, 0, 0);
        // rt1176.md 5.1 and 6: the ICM-42688-P on LPSPI2, CS GPIO3 pin 24, WHO_AM_I 0x75 -> 0x47.
        assert_eq!(
            hw.spi_transfer(2, (3, 24), &[0x80 | 0x75, 0]),
            Ok(vec![0, 0x47])
        );
        // Two 8-bit frames at 12 MHz: 1.33 us.
        assert!((1_333_000..1_400_000).contains(&hw.now), "{}", hw.now);
        // Another chip select reaches nobody: the line floats high.
        assert_eq!(
            hw.spi_transfer(2, (3, 25), &[0xF5, 0]),
            Ok(vec![0xFF, 0xFF])
        );
        assert!(hw.gpio_get(3, 24).unwrap(), "deselected after the transfer");
    }

    #[test]
    fn pwm_uart_and_gpio() {
        let mut soc = soc();
        let mut hw = Hw::new(&mut soc, 0, 0);
        // 400 Hz with a 1500 us pulse from the 16 MHz PWM clock (rt1176.md 3.9).
        hw.pwm_set(1, 0, 2_500_000, 1_500_000).unwrap();
        let t = hw.now;
        assert_eq!(hw.uart_write(1, b"hw\n"), Ok(3));
        hw.gpio_set(5, 1, false).unwrap();
        assert!(!hw.gpio_get(5, 1).unwrap());
        hw.gpio_set(5, 1, true).unwrap();
        assert!(hw.gpio_get(5, 1).unwrap());
        let (period, high) = soc.pwm_output("FlexPWM1", 0, t + PS_PER_S / 100).unwrap();
        assert!(
            (period - 0.0025).abs() < 1e-12 && (high - 0.0015).abs() < 1e-12,
            "{period} {high}"
        );
    }
}
