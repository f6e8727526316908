//! General-purpose I/O (GPIO1-13, CM7_GPIO2/3: the same block): 32 pins, directions, pad state,
//! level and edge interrupts.
//!
//! Source: rt1176.md section 3.5 (PERI_GPIO.h) for the registers, section 3.1 for the bases and
//! interrupt lines (GPIO1-5: pins 0-15 on one line, 16-31 on the next).
//!
//! | Off  | Reg       | Implemented                                                           |
//! |------|-----------|-----------------------------------------------------------------------|
//! | 0x00 | DR        | output latch; reads the latch                                         |
//! | 0x04 | GDIR      | 1 = output                                                            |
//! | 0x08 | PSR       | pad state: DR for outputs, the level driven from outside for inputs   |
//! | 0x0C | ICR1      | pins 0-15, 2 bits each: 00 low level, 01 high level, 10 rising, 11 falling |
//! | 0x10 | ICR2      | pins 16-31                                                            |
//! | 0x14 | IMR       | interrupt mask                                                        |
//! | 0x18 | ISR       | set by the condition ICR (or EDGE_SEL) selects on the pad state; write-1-to-clear (a level condition that still holds sets it again) |
//! | 0x1C | EDGE_SEL  | 1 = both edges, overrides ICR                                          |
//! | 0x84 / 0x88 / 0x8C | DR_SET / DR_CLEAR / DR_TOGGLE | write-only; read 0                      |
//!
//! The interrupt lines: (ISR & IMR) of pins 0-15 and of pins 16-31 (GPIO1-5 have one line each
//! half; the board file gives the second as `irqs_high`; where there is one line for all 32
//! pins, it is the OR of both). Inputs change when a device or the host drives them
//! ([`Gpio::drive`]); an output's pad follows its latch, and its edges interrupt as an input's
//! would (the pad's input path sees it). Not modelled: pad electrical settings, glitch filters.

use super::{merge, RegError};

#[derive(Debug, Clone, Default)]
pub struct Gpio {
    dr: u32,
    gdir: u32,
    icr: [u32; 2],
    imr: u32,
    isr: u32,
    edge_sel: u32,
    /// The level driven into each pin from outside (inputs).
    driven: u32,
    /// The pad state at the last evaluation (for edges).
    last: u32,
}

impl Gpio {
    pub fn new() -> Gpio {
        Gpio::default()
    }

    fn pads(&self) -> u32 {
        (self.dr & self.gdir) | (self.driven & !self.gdir)
    }

    /// The condition ICR/EDGE_SEL selects for `pin`, given the pad before and after.
    fn fires(&self, pin: u32, before: bool, after: bool) -> bool {
        if self.edge_sel >> pin & 1 != 0 {
            return before != after;
        }
        match self.icr[(pin / 16) as usize] >> (2 * (pin % 16)) & 3 {
            0 => !after,
            1 => after,
            2 => !before && after,
            _ => before && !after,
        }
    }

    /// Re-evaluate every pin after a change of pads or configuration.
    fn update(&mut self) {
        let now = self.pads();
        for pin in 0..32 {
            let (b, a) = (self.last >> pin & 1 != 0, now >> pin & 1 != 0);
            if self.fires(pin, b, a) {
                self.isr |= 1 << pin;
            }
        }
        self.last = now;
    }

    /// Drive input `pin` to `high` from outside (a device's data-ready line, the host).
    pub fn drive(&mut self, pin: u32, high: bool) {
        if high {
            self.driven |= 1 << pin;
        } else {
            self.driven &= !(1 << pin);
        }
        self.update();
    }

    /// The pad state (what PSR reads), for devices listening to outputs.
    pub fn pad_state(&self) -> u32 {
        self.pads()
    }

    /// The interrupt lines: pins 0-15, pins 16-31.
    pub fn irq_levels(&self) -> (bool, bool) {
        let active = self.isr & self.imr;
        (active & 0xFFFF != 0, active >> 16 != 0)
    }

    pub fn read(&mut self, off: u32) -> Result<u32, RegError> {
        Ok(match off {
            0x00 => self.dr,
            0x04 => self.gdir,
            0x08 => self.pads(),
            0x0C => self.icr[0],
            0x10 => self.icr[1],
            0x14 => self.imr,
            0x18 => self.isr,
            0x1C => self.edge_sel,
            0x84..=0x8C => 0,
            _ => return Err(RegError::unmodelled(off)),
        })
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32) -> Result<(), RegError> {
        let v = value & mask;
        match off {
            0x00 => self.dr = merge(self.dr, value, mask),
            0x04 => self.gdir = merge(self.gdir, value, mask),
            0x08 => {}
            0x0C => self.icr[0] = merge(self.icr[0], value, mask),
            0x10 => self.icr[1] = merge(self.icr[1], value, mask),
            0x14 => self.imr = merge(self.imr, value, mask),
            0x18 => self.isr &= !v,
            0x1C => self.edge_sel = merge(self.edge_sel, value, mask),
            0x84 => self.dr |= v,
            0x88 => self.dr &= !v,
            0x8C => self.dr ^= v,
            _ => return Err(RegError::unmodelled(off)),
        }
        // A level condition that still holds sets ISR again; a configuration change does not
        // invent an edge (`last` is the pad state before this write).
        self.update();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_read_back_through_psr_and_the_set_clear_toggle_aliases() {
        let mut g = Gpio::new();
        g.write(0x04, 0x0000_00F0, u32::MAX).unwrap();
        g.write(0x84, 0x0000_0030, u32::MAX).unwrap();
        g.write(0x8C, 0x0000_0050, u32::MAX).unwrap();
        assert_eq!(g.read(0x00).unwrap(), 0x60);
        g.drive(0, true);
        g.drive(4, true); // an output: the outside level is not seen
        assert_eq!(g.read(0x08).unwrap(), 0x61);
        g.write(0x88, 0x20, u32::MAX).unwrap();
        assert_eq!(g.read(0x08).unwrap(), 0x41);
    }

    #[test]
    fn each_icr_mode_fires_on_its_condition() {
        let mut g = Gpio::new();
        // ISR is status whatever IMR says; look at the pins under test only.
        const PINS: u32 = 0b1_1110 | (1 << 17);
        let isr = |g: &mut Gpio| g.read(0x18).unwrap() & PINS;
        // Pin 1 rising, pin 2 falling, pin 3 high level, pin 4 low level; pin 17 both edges.
        g.write(0x0C, (0b10 << 2) | (0b11 << 4) | (0b01 << 6), u32::MAX)
            .unwrap();
        g.write(0x1C, 1 << 17, u32::MAX).unwrap();
        g.write(0x14, PINS, u32::MAX).unwrap();
        // Until EDGE_SEL was set, pin 17 was at the reset mode (low level) and low.
        assert_eq!(
            isr(&mut g),
            (1 << 4) | (1 << 17),
            "low-level pins that are low"
        );
        g.write(0x18, u32::MAX, u32::MAX).unwrap();
        assert_eq!(
            isr(&mut g),
            1 << 4,
            "a level that holds fires again; edges do not"
        );
        g.write(0x0C, 0b01 << 8, 0b11 << 8).unwrap(); // pin 4 to high level
        g.write(0x18, u32::MAX, u32::MAX).unwrap();
        assert_eq!(isr(&mut g), 0);
        for p in [1, 2, 3, 17] {
            g.drive(p, true);
        }
        assert_eq!(isr(&mut g), (1 << 1) | (1 << 3) | (1 << 17));
        assert_eq!(g.irq_levels(), (true, true));
        g.write(0x18, u32::MAX, u32::MAX).unwrap();
        assert_eq!(isr(&mut g), 1 << 3, "pin 3 still high");
        g.write(0x0C, 0b11 << 6, 0b11 << 6).unwrap(); // pin 3 to falling (it stays high)
        g.write(0x18, u32::MAX, u32::MAX).unwrap();
        assert_eq!(isr(&mut g), 0);
        for p in [1, 2, 17] {
            g.drive(p, false);
        }
        assert_eq!(
            isr(&mut g),
            (1 << 2) | (1 << 17),
            "falling on 2, both edges on 17, not rising 1"
        );
        g.write(0x14, 0, u32::MAX).unwrap();
        assert_eq!(g.irq_levels(), (false, false), "masked");
    }
}
