//! Devices on the SoC's buses (sensors, companion chips): one file each, with the registers it
//! implements and where the semantics come from (rt1176.md section 6, the parts' datasheets).

pub mod bmm150;
pub mod bmp388;
pub mod icm42688;
pub mod px4io;
pub mod ublox;

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
