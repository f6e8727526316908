//! The full-system build's drivers (feature `devices`): the Pixhawk 6X-RT's sensors and IO MCU
//! as the board wires them (rt1176.md 5), each read into the `aiding-frame` record.
//!
//! - IMU: the ICM-42688-P on LPSPI2 (CS GPIO3_IO24, data-ready GPIO2_IO07, rt1176.md 5.1):
//!   soft reset, WHO_AM_I 0x47, both sensors on at +-16 g / +-2000 dps. Its data-ready edge
//!   (GPIO2 pins 0-15, IRQ 102) starts each control tick; the core sleeps through each transfer
//!   until LPSPI2's transfer-complete interrupt (IRQ 39); one 18-byte burst reads
//!   TEMP_DATA1 .. INT_STATUS (0x1D-0x2D), which also releases the line (rt1176.md 6).
//! - Barometer and magnetometer: the BMP388 at 0x77 and the BMM150 at 0x10 on LPI2C3 at 400
//!   kHz (rt1176.md 3.8, 5.2, 6), interrupt-driven (IRQ 34): each tick a status read, then the
//!   data when the part has a new measurement; the BMP388 through the datasheet's float
//!   compensation to pressure, then the standard atmosphere to altitude; the BMM150 through
//!   Bosch's float compensation to microtesla, then gauss.
//! - GNSS: a u-blox on LPUART3 at 921 600 baud (rt1176.md 5.3), received by interrupt (IRQ 22)
//!   into a ring; each tick the UBX parser takes the NAV-PVT frames that completed (checksum
//!   checked, 3-D fix) and turns the last into local NED position and velocity.
//! - IO MCU: LPUART6 at 1.5 Mbit/s (rt1176.md 5.5), PX4IO packets sent and answered by
//!   interrupt (IRQ 25): at start the safety off and the outputs armed, each tick the four
//!   motors' pulse widths (DIRECT_PWM), at stop idle pulses and disarmed.
//! - FMU auxiliary outputs CH1-4 (PWM1 SM0-2, PWM2 SM0, PWM_A; rt1176.md 3.9): the same four
//!   pulses at 400 Hz (the 16 MHz PWM clock / 16 = 1 us a count, period 2500), latched with
//!   LDOK each tick; no pulses before arming and after stop.
//!
//! Every wait sleeps (WFI) until the bus's interrupt: the core is busy only for what the
//! drivers compute and the handlers do.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use hil_common::{read, write, Flags};
use hil_proto::devices::{self, Device};

/// Set by the handlers below, waited on by the drivers.
pub static BUS: Flags = Flags::new();
const I2C_DONE: u32 = 1;
const I2C_ROOM: u32 = 2;
const IO_ANSWER: u32 = 4;
const SPI_DONE: u32 = 8;

/// A handler's and a driver's shared buffer: the driver writes it only while the handler
/// cannot run (before it starts the transfer, after the transfer's flag).
struct Shared<T>(UnsafeCell<T>);
// SAFETY: single core; accesses are sequenced by the transfer protocol described above.
unsafe impl<T> Sync for Shared<T> {}
impl<T> Shared<T> {
    #[allow(clippy::mut_from_ref)]
    fn get(&self) -> &mut T {
        // SAFETY: see the type's comment: one side at a time.
        unsafe { &mut *self.0.get() }
    }
}

// ---------------------------------------------------------------------------------------
// IMU: ICM-42688-P on LPSPI2.

const SPI: u32 = 0x4011_8000;
const SPI_CR: u32 = SPI + 0x10;
const SPI_IER: u32 = SPI + 0x18;
const SPI_TCF: u32 = 1 << 10;
pub const SPI_IRQ: u16 = 39;
const SPI_CFGR1: u32 = SPI + 0x24;
const SPI_CCR: u32 = SPI + 0x40;
const SPI_FSR: u32 = SPI + 0x5C;
const SPI_TCR: u32 = SPI + 0x60;
const SPI_TDR: u32 = SPI + 0x64;
const SPI_RDR: u32 = SPI + 0x74;
const GPIO2: u32 = 0x4013_0000;
const GPIO3: u32 = 0x4013_4000;
/// GPIO DR_SET / DR_CLEAR / GDIR / ICR1 / IMR / ISR [3.5].
const GPIO_GDIR: u32 = 0x04;
const GPIO_ICR1: u32 = 0x0C;
const GPIO_IMR: u32 = 0x14;
const GPIO_ISR: u32 = 0x18;
const GPIO_DR_SET: u32 = 0x84;
const GPIO_DR_CLEAR: u32 = 0x88;
const IMU_CS: u32 = 1 << 24;
const IMU_DRDY: u32 = 1 << 7;
pub const DRDY_IRQ: u16 = 102;

/// One SPI transaction: `tx` out (8-bit frames), what came back into `rx`. Up to 16 bytes at a
/// time go into the FIFO; the core sleeps until the transfer-complete interrupt (SR.TCF, set
/// when the FIFO has emptied and the last frame is out), then drains the receive FIFO.
fn spi(tx: &[u8], rx: &mut [u8]) {
    write(GPIO3 + GPIO_DR_CLEAR, IMU_CS);
    let mut got = 0;
    for chunk in tx.chunks(16) {
        BUS.take(SPI_DONE);
        for &b in chunk {
            write(SPI_TDR, u32::from(b)); // clears TCF
        }
        write(SPI_IER, SPI_TCF);
        BUS.wait(SPI_DONE);
        while (read(SPI_FSR) >> 16) & 0x1F > 0 {
            rx[got] = read(SPI_RDR) as u8;
            got += 1;
        }
    }
    write(GPIO3 + GPIO_DR_SET, IMU_CS);
}

/// LPSPI2's interrupt: the transfer is complete.
pub fn spi_irq() {
    write(SPI_IER, 0);
    BUS.raise(SPI_DONE);
}

fn imu_write(reg: u8, v: u8) {
    spi(&[reg, v], &mut [0; 2]);
}

fn imu_read(reg: u8) -> u8 {
    let mut rx = [0; 2];
    spi(&[0x80 | reg, 0], &mut rx);
    rx[1]
}

/// Bring the IMU up; false when it does not identify.
pub fn imu_init() -> bool {
    write(GPIO3 + GPIO_DR_SET, IMU_CS);
    write(GPIO3 + GPIO_GDIR, read(GPIO3 + GPIO_GDIR) | IMU_CS);
    write(SPI_CFGR1, 1); // MASTER
    write(SPI_CCR, 0); // SCKDIV 0: 24 MHz / 2 = 12 MHz
    write(SPI_CR, 1); // MEN
    write(SPI_TCR, 7); // 8-bit frames
    hil_common::nvic_enable(SPI_IRQ);
    imu_write(0x76, 0); // bank 0
    imu_write(0x11, 1); // DEVICE_CONFIG: soft reset
    if imu_read(0x75) != 0x47 {
        return false;
    }
    imu_write(0x4F, 0x06); // GYRO_CONFIG0: +-2000 dps, 1 kHz
    imu_write(0x50, 0x06); // ACCEL_CONFIG0: +-16 g, 1 kHz
    imu_write(0x4E, 0x0F); // PWR_MGMT0: gyro and accel low-noise
    let _ = imu_read(0x2D); // INT_STATUS: clear RESET_DONE
                            // Data-ready: rising edge on GPIO2_IO07 (ICR1 pin 7 = 0b10).
    write(
        GPIO2 + GPIO_ICR1,
        (read(GPIO2 + GPIO_ICR1) & !(3 << 14)) | (0b10 << 14),
    );
    write(GPIO2 + GPIO_ISR, IMU_DRDY);
    write(GPIO2 + GPIO_IMR, read(GPIO2 + GPIO_IMR) | IMU_DRDY);
    true
}

/// The data-ready handler's part: acknowledge the edge; true when it was the IMU's.
pub fn imu_irq() -> bool {
    let isr = read(GPIO2 + GPIO_ISR);
    write(GPIO2 + GPIO_ISR, isr);
    isr & IMU_DRDY != 0
}

/// The latest sample: specific force (m/s^2) and rate (rad/s), body axes.
pub fn imu_read_sample() -> [f32; 6] {
    let mut tx = [0u8; 18];
    tx[0] = 0x80 | 0x1D;
    let mut rx = [0u8; 18];
    spi(&tx, &mut rx);
    let w = |i: usize| f32::from(i16::from_be_bytes([rx[1 + 2 * i], rx[2 + 2 * i]]));
    let g = 16.0 / 32768.0 * 9.806_65;
    let r = 2000.0 / 32768.0 * core::f32::consts::PI / 180.0;
    [w(1) * g, w(2) * g, w(3) * g, w(4) * r, w(5) * r, w(6) * r]
}

// ---------------------------------------------------------------------------------------
// LPI2C3, interrupt-driven.

const I2C: u32 = 0x4010_C000;
const I2C_MCR: u32 = I2C + 0x10;
const I2C_MSR: u32 = I2C + 0x14;
const I2C_MIER: u32 = I2C + 0x18;
const I2C_MCFGR1: u32 = I2C + 0x24;
const I2C_MCCR0: u32 = I2C + 0x48;
const I2C_MFCR: u32 = I2C + 0x58;
const I2C_MFSR: u32 = I2C + 0x5C;
const I2C_MTDR: u32 = I2C + 0x60;
const I2C_MRDR: u32 = I2C + 0x70;
const TDF: u32 = 1;
const RDF: u32 = 1 << 1;
const SDF: u32 = 1 << 9;
const NDF: u32 = 1 << 10;
pub const I2C_IRQ: u16 = 34;

struct Transfer {
    cmds: [u16; 8],
    ncmds: usize,
    sent: usize,
    rx: [u8; 32],
    got: usize,
    nack: bool,
}

static XFER: Shared<Transfer> = Shared(UnsafeCell::new(Transfer {
    cmds: [0; 8],
    ncmds: 0,
    sent: 0,
    rx: [0; 32],
    got: 0,
    nack: false,
}));

fn i2c_init() {
    write(I2C_MCCR0, 29 | (29 << 8)); // (29 + 29 + 2) x 24 MHz^-1 = 2.5 us: 400 kHz
    write(I2C_MCFGR1, 0); // PRESCALE 1
    write(I2C_MFCR, 3); // TXWATER 3: TDF while there is room; RXWATER 0
    write(I2C_MCR, 1); // MEN
    hil_common::nvic_enable(I2C_IRQ);
}

/// Feed the command FIFO from the transfer while it has room.
fn i2c_feed(t: &mut Transfer) {
    while t.sent < t.ncmds && read(I2C_MFSR) & 7 < 4 {
        write(I2C_MTDR, u32::from(t.cmds[t.sent]));
        t.sent += 1;
    }
}

pub fn i2c_irq() {
    let t = XFER.get();
    let sr = read(I2C_MSR);
    loop {
        let v = read(I2C_MRDR);
        if v & (1 << 14) != 0 {
            break;
        }
        if t.got < t.rx.len() {
            t.rx[t.got] = v as u8;
            t.got += 1;
        }
    }
    if sr & TDF != 0 {
        i2c_feed(t);
        if t.sent == t.ncmds {
            write(I2C_MIER, read(I2C_MIER) & !TDF);
        }
    }
    if sr & NDF != 0 {
        // Not acknowledged: drop the commands left and end the transfer with a STOP.
        t.nack = true;
        t.sent = t.ncmds;
        write(I2C_MCR, 1 | (1 << 8)); // RTF
        write(I2C_MSR, NDF);
        write(I2C_MTDR, 2 << 8);
    }
    if sr & SDF != 0 {
        write(I2C_MSR, SDF);
        write(I2C_MIER, 0);
        BUS.raise(I2C_DONE);
    }
}

/// Run one transfer (its commands) and sleep until its STOP; the bytes received, or None on
/// a NACK.
fn i2c_transfer(cmds: &[u16]) -> Option<&'static [u8]> {
    let t = XFER.get();
    t.cmds[..cmds.len()].copy_from_slice(cmds);
    t.ncmds = cmds.len();
    t.sent = 0;
    t.got = 0;
    t.nack = false;
    BUS.take(I2C_DONE | I2C_ROOM);
    cortex_m::interrupt::free(|_| {
        i2c_feed(t);
        write(
            I2C_MIER,
            RDF | SDF | NDF | if t.sent < t.ncmds { TDF } else { 0 },
        );
    });
    BUS.wait(I2C_DONE);
    let t = XFER.get();
    (!t.nack).then_some(&t.rx[..t.got])
}

/// Read `n` registers from `reg` of the device at `addr`.
fn i2c_read(addr: u8, reg: u8, n: usize) -> Option<&'static [u8]> {
    let a = u16::from(addr) << 1;
    i2c_transfer(&[
        (4 << 8) | a,
        u16::from(reg),
        (4 << 8) | a | 1,
        (1 << 8) | (n as u16 - 1),
        2 << 8,
    ])
    .filter(|b| b.len() == n)
}

fn i2c_write(addr: u8, reg: u8, v: u8) -> bool {
    let a = u16::from(addr) << 1;
    i2c_transfer(&[(4 << 8) | a, u16::from(reg), u16::from(v), 2 << 8]).is_some()
}

// ---------------------------------------------------------------------------------------
// BMP388 (0x77) and BMM150 (0x10).

const BARO: u8 = 0x77;
const MAG: u8 = 0x10;

fn le(b: &[u8]) -> f64 {
    b.iter().rev().fold(0u32, |a, &x| (a << 8) | u32::from(x)) as f64
}

fn sle(b: &[u8]) -> f64 {
    let bits = 8 * b.len() as u32;
    let v = b.iter().rev().fold(0u32, |a, &x| (a << 8) | u32::from(x));
    (((v << (32 - bits)) as i32) >> (32 - bits)) as f64
}

/// The BMP388's datasheet coefficients (section 9), from its calibration at 0x31.
pub struct Baro {
    c: [f64; 14],
}

impl Baro {
    pub fn init() -> Option<Baro> {
        if i2c_read(BARO, 0x00, 1)? != [0x50] {
            return None;
        }
        i2c_write(BARO, 0x1B, 0x33); // PWR_CTRL: pressure and temperature, normal mode
        let n = i2c_read(BARO, 0x31, 21)?;
        let p2 = |e: i32| libm::pow(2.0, f64::from(e));
        Some(Baro {
            c: [
                le(&n[0..2]) / p2(-8),
                le(&n[2..4]) / p2(30),
                sle(&n[4..5]) / p2(48),
                (sle(&n[5..7]) - p2(14)) / p2(20),
                (sle(&n[7..9]) - p2(14)) / p2(29),
                sle(&n[9..10]) / p2(32),
                sle(&n[10..11]) / p2(37),
                le(&n[11..13]) / p2(-3),
                le(&n[13..15]) / p2(6),
                sle(&n[15..16]) / p2(8),
                sle(&n[16..17]) / p2(15),
                sle(&n[17..19]) / p2(48),
                sle(&n[19..20]) / p2(48),
                sle(&n[20..21]) / p2(65),
            ],
        })
    }

    /// A new altitude (m above home) when the part has a new measurement.
    pub fn poll(&self) -> Option<f32> {
        let status = i2c_read(BARO, 0x03, 1)?[0];
        if status & 0x60 != 0x60 {
            return None;
        }
        let d = i2c_read(BARO, 0x04, 6)?;
        let (up, ut) = (le(&d[0..3]), le(&d[3..6]));
        let c = &self.c;
        let pd1 = ut - c[0];
        let t = pd1 * c[1] + pd1 * pd1 * c[2];
        let out1 = c[7] + c[8] * t + c[9] * t * t + c[10] * t * t * t;
        let out2 = up * (c[3] + c[4] * t + c[5] * t * t + c[6] * t * t * t);
        let out3 = up * up * (c[11] + c[12] * t) + up * up * up * c[13];
        Some(devices::altitude(out1 + out2 + out3) as f32)
    }
}

/// The BMM150's trim (Bosch's sensor API names).
pub struct Mag {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
    z1: f32,
    z2: f32,
    z3: f32,
    z4: f32,
    xy1: f32,
    xy2: f32,
    xyz1: f32,
}

fn i16le(b: &[u8]) -> i16 {
    i16::from_le_bytes([b[0], b[1]])
}

impl Mag {
    pub fn init() -> Option<Mag> {
        i2c_write(MAG, 0x4B, 0x01); // POWER_CONTROL: out of suspend
        if i2c_read(MAG, 0x40, 1)? != [0x32] {
            return None;
        }
        let t = i2c_read(MAG, 0x5D, 21)?;
        let at = |r: usize| r - 0x5D;
        let mag = Mag {
            x1: f32::from(t[at(0x5D)] as i8),
            y1: f32::from(t[at(0x5E)] as i8),
            z4: f32::from(i16le(&t[at(0x62)..])),
            x2: f32::from(t[at(0x64)] as i8),
            y2: f32::from(t[at(0x65)] as i8),
            z2: f32::from(i16le(&t[at(0x68)..])),
            z1: f32::from(u16::from_le_bytes([t[at(0x6A)], t[at(0x6B)]])),
            xyz1: f32::from(u16::from_le_bytes([t[at(0x6C)], t[at(0x6D)] & 0x7F])),
            z3: f32::from(i16le(&t[at(0x6E)..])),
            xy2: f32::from(t[at(0x70)] as i8),
            xy1: f32::from(t[at(0x71)]),
        };
        i2c_write(MAG, 0x4C, 0x00); // OP_MODE: normal
        Some(mag)
    }

    /// A new field (gauss, body axes) when the part has a new measurement.
    pub fn poll(&self) -> Option<[f32; 3]> {
        if i2c_read(MAG, 0x48, 1)?[0] & 1 == 0 {
            return None;
        }
        let d = i2c_read(MAG, 0x42, 8)?;
        let raw_x = f32::from(i16le(&d[0..]) >> 3);
        let raw_y = f32::from(i16le(&d[2..]) >> 3);
        let raw_z = f32::from(i16le(&d[4..]) >> 1);
        let rhall = f32::from(u16::from_le_bytes([d[6], d[7]]) >> 2);
        if rhall == 0.0 {
            return None;
        }
        // Bosch's floating-point compensation (sensor API), microtesla.
        let r = self.xyz1 * 16384.0 / rhall - 16384.0;
        let c2 = self.xy2 * (r * r / 268_435_456.0) + r * self.xy1 / 16384.0;
        let axis = |raw: f32, d1: f32, d2: f32| {
            ((raw * ((c2 + 256.0) * (d2 + 160.0))) / 8192.0 + d1 * 8.0) / 16.0
        };
        let z5 = (raw_z - self.z4) * 131_072.0 - self.z3 * (rhall - self.xyz1);
        let bz = (z5 / ((self.z2 + self.z1 * rhall / 32768.0) * 4.0)) / 16.0;
        let ut = [
            axis(raw_x, self.x1, self.x2),
            axis(raw_y, self.y1, self.y2),
            bz,
        ];
        Some(ut.map(|b| b / 100.0))
    }
}

// ---------------------------------------------------------------------------------------
// UARTs: LPUART3 (GNSS in) and LPUART6 (IO MCU).

const GNSS: u32 = 0x4008_4000;
const IO: u32 = 0x4009_0000;
const BAUD: u32 = 0x10;
const STAT: u32 = 0x14;
const CTRL: u32 = 0x18;
const DATA: u32 = 0x1C;
const FIFO: u32 = 0x28;
const TDRE: u32 = 1 << 23;
const RE: u32 = 1 << 18;
const TE: u32 = 1 << 19;
const RIE: u32 = 1 << 21;
const TIE: u32 = 1 << 23;
const RXEMPT: u32 = 1 << 12;
pub const GNSS_IRQ: u16 = 22;
pub const IO_IRQ: u16 = 25;

/// Received GNSS bytes: a ring the handler fills and the parser drains.
struct Ring {
    buf: [u8; 512],
}
static GNSS_RING: Shared<Ring> = Shared(UnsafeCell::new(Ring { buf: [0; 512] }));
static GNSS_HEAD: AtomicU32 = AtomicU32::new(0);
static GNSS_TAIL: AtomicU32 = AtomicU32::new(0);

/// Clocks per bit from the 24 MHz LPUART root: (OSR + 1) x SBR.
fn uart_init(base: u32, osr: u32, sbr: u32, ctrl: u32) {
    write(base + BAUD, (osr << 24) | sbr);
    write(base + FIFO, (1 << 3) | (1 << 7)); // RXFE, TXFE
    write(base + CTRL, ctrl);
}

fn gnss_init() {
    // devices::GNSS_BAUD: 24 MHz / (26 x 1) = 923 077 baud, 0.16 % from 921 600.
    uart_init(GNSS, 25, 1, RE | RIE);
    hil_common::nvic_enable(GNSS_IRQ);
}

pub fn gnss_irq() {
    let ring = GNSS_RING.get();
    loop {
        let v = read(GNSS + DATA);
        if v & RXEMPT != 0 {
            break;
        }
        let head = GNSS_HEAD.load(Relaxed);
        ring.buf[head as usize % ring.buf.len()] = v as u8;
        GNSS_HEAD.store(head.wrapping_add(1), Relaxed);
    }
}

/// The UBX parser's state: the frame being assembled.
pub struct Ubx {
    frame: [u8; 100],
    len: usize,
}

impl Ubx {
    pub const fn new() -> Ubx {
        Ubx {
            frame: [0; 100],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) -> Option<([f32; 3], [f32; 3])> {
        const SYNC: [u8; 2] = [0xB5, 0x62];
        if self.len < 2 && b != SYNC[self.len] {
            self.len = usize::from(b == SYNC[0]);
            return None;
        }
        self.frame[self.len] = b;
        self.len += 1;
        // Class 0x01, id 0x07, 92-byte payload: 100 bytes with the checksum.
        if self.len == 6 && self.frame[2..6] != [0x01, 0x07, 92, 0] {
            self.len = 0;
            return None;
        }
        if self.len < 100 {
            return None;
        }
        self.len = 0;
        let (mut a, mut k) = (0u8, 0u8);
        for &x in &self.frame[2..98] {
            a = a.wrapping_add(x);
            k = k.wrapping_add(a);
        }
        if [a, k] != self.frame[98..100] {
            return None;
        }
        let p = &self.frame[6..98];
        let i32at = |at: usize| i32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
        if p[20] < 3 || p[21] & 1 == 0 {
            return None;
        }
        let lon = f64::from(i32at(24)) * 1e-7;
        let lat = f64::from(i32at(28)) * 1e-7;
        let alt = f64::from(i32at(36)) * 1e-3;
        let pos = devices::ned(lat, lon, alt);
        let vel = [48, 52, 56].map(|at| i32at(at) as f32 * 1e-3);
        Some((pos.map(|x| x as f32), vel))
    }

    /// The last complete fix received since the previous call.
    pub fn poll(&mut self) -> Option<([f32; 3], [f32; 3])> {
        let ring = GNSS_RING.get();
        let head = GNSS_HEAD.load(Relaxed);
        let mut tail = GNSS_TAIL.load(Relaxed);
        let mut fix = None;
        while tail != head {
            let b = ring.buf[tail as usize % ring.buf.len()];
            tail = tail.wrapping_add(1);
            if let Some(f) = self.push(b) {
                fix = Some(f);
            }
        }
        GNSS_TAIL.store(tail, Relaxed);
        fix
    }
}

/// The IO link's packet out and answer in.
struct IoLink {
    tx: [u8; 68],
    tx_len: usize,
    sent: usize,
    rx: [u8; 68],
    got: usize,
}
static IO_LINK: Shared<IoLink> = Shared(UnsafeCell::new(IoLink {
    tx: [0; 68],
    tx_len: 0,
    sent: 0,
    rx: [0; 68],
    got: 0,
}));
/// Answers that were not SUCCESS (or failed their CRC), since boot.
pub static IO_ERRORS: AtomicU32 = AtomicU32::new(0);

fn io_init() {
    // 24 MHz / (16 x 1) = 1.5 Mbit/s exactly.
    uart_init(IO, 15, 1, RE | TE | RIE);
    hil_common::nvic_enable(IO_IRQ);
}

pub fn io_irq() {
    let l = IO_LINK.get();
    loop {
        let v = read(IO + DATA);
        if v & RXEMPT != 0 {
            break;
        }
        if l.got < l.rx.len() {
            l.rx[l.got] = v as u8;
            l.got += 1;
        }
    }
    while l.sent < l.tx_len && read(IO + STAT) & TDRE != 0 {
        write(IO + DATA, u32::from(l.tx[l.sent]));
        l.sent += 1;
    }
    if l.sent == l.tx_len {
        write(IO + CTRL, read(IO + CTRL) & !TIE);
    }
    if l.got >= 4 && l.got >= 4 + 2 * usize::from(l.rx[0] & 0x3F) {
        BUS.raise(IO_ANSWER);
    }
}

/// CRC-8, polynomial 0x07, initial 0 (rt1176.md 5.5).
fn crc8(bytes: &[u8]) -> u8 {
    let mut c = 0u8;
    for &b in bytes {
        c ^= b;
        for _ in 0..8 {
            c = if c & 0x80 != 0 {
                (c << 1) ^ 0x07
            } else {
                c << 1
            };
        }
    }
    c
}

/// Write `regs` at `page`/`offset` and sleep until the IO answers (or a period's worth of
/// line time passes); false when the answer is not SUCCESS.
fn io_write(page: u8, offset: u8, regs: &[u16]) -> bool {
    let l = IO_LINK.get();
    let n = 4 + 2 * regs.len();
    l.tx[0] = 0x40 | regs.len() as u8;
    l.tx[1] = 0;
    l.tx[2] = page;
    l.tx[3] = offset;
    for (k, r) in regs.iter().enumerate() {
        l.tx[4 + 2 * k..6 + 2 * k].copy_from_slice(&r.to_le_bytes());
    }
    l.tx[1] = crc8(&l.tx[..n]);
    l.tx_len = n;
    l.sent = 0;
    l.got = 0;
    BUS.take(IO_ANSWER);
    write(IO + CTRL, read(IO + CTRL) | TIE);
    BUS.wait(IO_ANSWER);
    let l = IO_LINK.get();
    let len = 4 + 2 * usize::from(l.rx[0] & 0x3F);
    let crc = l.rx[1];
    l.rx[1] = 0;
    let ok = crc8(&l.rx[..len]) == crc && l.rx[0] & 0xC0 == 0;
    if !ok {
        IO_ERRORS.fetch_add(1, Relaxed);
    }
    ok
}

/// The four motors' commands (0..1) as pulse widths on the IO MCU's outputs 1-4, mirrored on
/// the FMU's auxiliary outputs CH1-4.
pub fn io_motors(motors: &[f32; 4]) -> bool {
    let pulses = motors.map(devices::pwm_us);
    aux_set(pulses);
    io_write(54, 0, &pulses)
}

/// Arm: the safety off (PX4IO_FORCE_SAFETY_MAGIC), failsafe pulses off, IO_ARM_OK | FMU_ARMED.
pub fn io_arm() -> bool {
    io_write(55, 0, &[0; 4]) && io_write(50, 12, &[22027]) && io_write(50, 1, &[3])
}

/// Idle pulses, then disarmed (the auxiliary outputs without pulses).
pub fn io_disarm() {
    io_motors(&[0.0; 4]);
    io_write(50, 1, &[0]);
    aux_set([0; 4]);
}

// ---------------------------------------------------------------------------------------
// FlexPWM auxiliary outputs.

const PWM1: u32 = 0x4018_C000;
const PWM2: u32 = 0x4019_0000;
/// FMU CH1-4: (FlexPWM base, submodule).
const AUX: [(u32, u32); 4] = [(PWM1, 0), (PWM1, 1), (PWM1, 2), (PWM2, 0)];

fn w16(addr: u32, v: u16) {
    // SAFETY: a 16-bit FlexPWM register (rt1176.md 3.9).
    unsafe { core::ptr::write_volatile(addr as *mut u16, v) }
}

fn r16(addr: u32) -> u16 {
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile(addr as *const u16) }
}

/// The auxiliary outputs running at 400 Hz with no pulse.
fn aux_init() {
    for (base, sm) in AUX {
        let at = base + 0x60 * sm;
        w16(at + 0x06, 4 << 4); // CTRL.PRSC: /16, 1 MHz
        w16(at + 0x02, 0); // INIT
        w16(at + 0x0E, 2499); // VAL1: 2.5 ms
        w16(at + 0x12, 0); // VAL2
        w16(at + 0x16, 0); // VAL3: no pulse
        w16(base + 0x180, r16(base + 0x180) | (1 << (8 + sm))); // OUTEN.PWMA_EN
        w16(
            base + 0x188,
            r16(base + 0x188) | (1 << (8 + sm)) | (1 << sm),
        ); // RUN, LDOK
    }
}

/// Pulse widths on CH1-4 (us), latched at the next reload.
pub fn aux_set(pulses: [u16; 4]) {
    for ((base, sm), us) in AUX.into_iter().zip(pulses) {
        w16(base + 0x60 * sm + 0x16, us); // VAL3
        w16(base + 0x188, r16(base + 0x188) | (1 << sm)); // LDOK
    }
}

/// Everything but the IMU's tick interrupt: the buses, the barometer, the magnetometer, the
/// GNSS receiver and the IO link. The first device that does not answer as its part should.
pub fn init() -> Result<(Baro, Mag), Device> {
    i2c_init();
    gnss_init();
    io_init();
    aux_init();
    let baro = Baro::init().ok_or(Device::Baro)?;
    let mag = Mag::init().ok_or(Device::Mag)?;
    Ok((baro, mag))
}
