//! An ICM-42688-P driver as a wasm component's core module (world `rt-twin:hw/imu-driver`): it
//! reaches the part only through the hardware capabilities (`spi#transfer` on LPSPI2 with the
//! chip select GPIO3 pin 24, rt1176.md 5.1), so the same driver runs wherever those imports
//! are served. Register facts: rt1176.md section 6 (WHO_AM_I 0x75 -> 0x47, DEVICE_CONFIG 0x11
//! soft reset, PWR_MGMT0 0x4E, GYRO_CONFIG0 0x4F, ACCEL_CONFIG0 0x50, reads with bit 7 set,
//! temperature 132.48 LSB/degC + 25) and the datasheet's data registers 0x1D-0x2A.
#![no_std]

extern crate alloc;

wit_bindgen::generate!({ path: "../../wit/hw", world: "imu-driver", generate_all });

use exports::imu::{Guest, Sample};
use rt_twin::hw::spi;
use rt_twin::hw::types::Pin;

#[global_allocator]
static ALLOC: bump::Bump<1024> = bump::Bump::new();

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

const BUS: u8 = 2;
const CS: Pin = Pin { port: 3, index: 24 };

/// One transaction; the bytes back (empty on a bus error).
fn xfer(tx: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(b) = spi::transfer(BUS, CS, tx) {
        for (k, w) in [b.w0, b.w1, b.w2, b.w3].iter().enumerate() {
            out[8 * k..8 * k + 8].copy_from_slice(&w.to_le_bytes());
        }
    }
    out
}

fn write(reg: u8, v: u8) {
    xfer(&[reg, v]);
}

fn read(reg: u8) -> u8 {
    xfer(&[0x80 | reg, 0])[1]
}

struct Driver;

impl Guest for Driver {
    fn init() -> bool {
        write(0x76, 0); // bank 0
        write(0x11, 1); // soft reset
        if read(0x75) != 0x47 {
            return false;
        }
        write(0x4F, 0x06); // GYRO_CONFIG0: +-2000 dps
        write(0x50, 0x06); // ACCEL_CONFIG0: +-16 g
        write(0x4E, 0x0F); // PWR_MGMT0: both sensors low-noise
        true
    }

    fn read() -> Sample {
        let mut tx = [0u8; 15];
        tx[0] = 0x80 | 0x1D;
        let rx = xfer(&tx);
        let w = |i: usize| f32::from(i16::from_be_bytes([rx[1 + 2 * i], rx[2 + 2 * i]]));
        let g = 16.0 / 32768.0 * 9.806_65;
        let r = 2000.0 / 32768.0 * core::f32::consts::PI / 180.0;
        Sample {
            accel: (w(1) * g, w(2) * g, w(3) * g),
            gyro: (w(4) * r, w(5) * r, w(6) * r),
            temp: w(0) / 132.48 + 25.0,
        }
    }
}

export!(Driver);
