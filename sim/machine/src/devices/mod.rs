//! Devices on the SoC's buses (sensors, companion chips): one file each, with the registers it
//! implements and where the semantics come from (rt1176.md section 6, the parts' datasheets).

pub mod bmm150;
pub mod bmp388;
pub mod icm42688;
pub mod px4io;
pub mod ublox;
