//! Devices on the SoC's buses (sensors, companion chips): one file each, with the registers it
//! implements and where the semantics come from (rt1176.md section 6, the parts' datasheets).

use crate::periph::lpi2c::I2cDevice;

pub mod bmm150;
pub mod bmp388;
pub mod icm42688;
pub mod px4io;
pub mod ublox;

/// The register protocol most I2C sensors speak (the BMP388's and BMM150's datasheets): a
/// write transfer's first byte sets the register pointer and the bytes after it write registers
/// from there; a read transfer returns registers from the pointer; both advance it.
pub trait RegisterMap: std::fmt::Debug + 'static {
    /// Its 7-bit address.
    fn address(&self) -> u8;
    fn pointer(&mut self) -> &mut RegPointer;
    /// Read register `reg` (reading may have side effects: flags released).
    fn get(&mut self, reg: u8) -> u8;
    fn set(&mut self, reg: u8, v: u8);
}

/// A [`RegisterMap`]'s pointer and where its transfer is.
#[derive(Debug, Clone, Default)]
pub struct RegPointer {
    reg: u8,
    /// A write transfer's first byte (the register address) has been taken.
    addressed: bool,
}

impl<T: RegisterMap> I2cDevice for T {
    fn address(&self) -> u8 {
        RegisterMap::address(self)
    }

    fn start(&mut self, read: bool) -> bool {
        self.pointer().addressed = read;
        true
    }

    fn write(&mut self, byte: u8) -> bool {
        let p = self.pointer();
        if !p.addressed {
            p.reg = byte;
            p.addressed = true;
        } else {
            let reg = p.reg;
            p.reg = reg.wrapping_add(1);
            self.set(reg, byte);
        }
        true
    }

    fn read(&mut self) -> u8 {
        let p = self.pointer();
        let reg = p.reg;
        p.reg = reg.wrapping_add(1);
        self.get(reg)
    }

    fn stop(&mut self) {}

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// One moment's measurements for the sensor parts on a board (the vehicle's truth plus the
/// scenario's noise): each is given to every part of its kind the board wires
/// (`Machine::sense`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurements {
    pub imu: Option<icm42688::ImuSample>,
    /// Barometer: die temperature (degC) and static pressure (Pa).
    pub baro: Option<(f64, f64)>,
    /// Magnetometer: the field in microtesla, the part's axes.
    pub mag_ut: Option<[f64; 3]>,
    /// A GNSS solution: its NAV-PVT frame starts on the board's GNSS UART.
    pub gnss: Option<ublox::NavPvt>,
}
