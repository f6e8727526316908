//! The Pixhawk's IO MCU (an STM32F100 running PX4IO firmware) at the far end of a UART (LPUART6
//! on the 6X-RT, 1.5 Mbit/s 8N1, rt1176.md 5.5): motor outputs and the link's heartbeat.
//!
//! Source: rt1176.md 5.5 for the packet (count_code: count in bits 5:0, code in 7:6, FMU->IO
//! READ 0x00 / WRITE 0x40, IO->FMU SUCCESS 0x00 / CORRUPT 0x40 / ERROR 0x80; CRC-8 polynomial
//! 0x07, initial 0, over the whole packet with the CRC byte as 0; page; offset; count
//! little-endian 16-bit registers; length 4 + 2 x count) and the key pages. From PX4's
//! px4iofirmware/protocol.h and the FMU side's px4io_serial.cpp (read, not in rt1176.md): the
//! FMU sends a full 4 + 2 x count packet for a READ too (the registers' contents ignored), the
//! IO answers each packet with one packet (a WRITE's answer has count 0, a READ's the registers
//! asked for); the register numbers below; the IO drops the outputs to failsafe when the FMU
//! has been silent for 500 ms (px4iofirmware's FMU_INPUT_DROP_LIMIT_US).
//!
//! | Page | Registers implemented |
//! |------|-----------------------|
//! | 0 CONFIG | 0 PROTOCOL_VERSION = 4, 3 MAX_TRANSFER = 64, 5 ACTUATOR_COUNT = 8; the rest 0; read-only |
//! | 1 STATUS | 2 FLAGS: OUTPUTS_ARMED (bit 0), FMU_OK (6), RAW_PWM (7), INIT_OK (10), FAILSAFE (11), SAFETY_OFF (12); 3 ALARMS: FMU_LOST (bit 4), latched, write 1 to clear; the rest 0 |
//! | 3 SERVOS | the pulse width (us) on each of the 8 outputs now (0: no pulses); read-only |
//! | 50 SETUP | 1 ARMING (IO_ARM_OK bit 0, FMU_ARMED bit 1, FORCE_FAILSAFE bit 8 act; the rest stored); 12 FORCE_SAFETY_OFF and 14 FORCE_SAFETY_ON with the magic 22027; the rest stored |
//! | 54 DIRECT_PWM | 8 pulse widths (us), stored; drive the outputs while armed |
//! | 55 FAILSAFE_PWM | 8 pulse widths (us), stored (0 = output off); drive the outputs in failsafe |
//! | other | READ answers ERROR; WRITE is ignored (protocol.h: writes to unimplemented registers are ignored) |
//!
//! The outputs: armed (ARMING's IO_ARM_OK and FMU_ARMED, and the safety off) with the FMU heard
//! within 500 ms: DIRECT_PWM; armed with the FMU lost, or FORCE_FAILSAFE: FAILSAFE_PWM;
//! disarmed: no pulses. The safety starts on (the outputs are locked until FORCE_SAFETY_OFF).
//!
//! The project's choices (no source): the IO sees a packet end when its last byte has been
//! followed by one idle frame (PX4IO's UART idle interrupt) and answers 10 us later; a byte
//! more than two frames after the previous one starts a new packet; a CRC mismatch answers
//! CORRUPT, a count over 32 ERROR, both with count 0. The link is 1.5 Mbit/s: bytes the FMU
//! sends at a baud more than 3 % off are not understood (the IO would see framing errors).
//! Not modelled: the mixer pages (CONTROLS, MIXERLOAD), RC input, ADC, the PWM rate and
//! disarmed-PWM pages, in-air restart, the IO's own firmware timing.

use crate::time::{Ps, PS_PER_MS, PS_PER_US};

/// The IO's UART baud (rt1176.md 5.5).
pub const BAUD: u64 = 1_500_000;
/// The FMU is lost after this long without a valid packet (px4iofirmware mixer.cpp).
pub const FMU_LOST: Ps = 500 * PS_PER_MS;
/// The IO's processing time before it answers (the project's choice).
pub const TURNAROUND: Ps = 10 * PS_PER_US;
/// PX4IO_FORCE_SAFETY_MAGIC.
pub const SAFETY_MAGIC: u16 = 22027;
pub const OUTPUTS: usize = 8;

pub const CODE_WRITE: u8 = 0x40;
pub const CODE_CORRUPT: u8 = 0x40;
pub const CODE_ERROR: u8 = 0x80;

const PAGE_CONFIG: u8 = 0;
const PAGE_STATUS: u8 = 1;
const PAGE_SERVOS: u8 = 3;
const PAGE_SETUP: u8 = 50;
const PAGE_DIRECT_PWM: u8 = 54;
const PAGE_FAILSAFE_PWM: u8 = 55;

const ARMING_IO_ARM_OK: u16 = 1 << 0;
const ARMING_FMU_ARMED: u16 = 1 << 1;
const ARMING_FORCE_FAILSAFE: u16 = 1 << 8;
const ALARM_FMU_LOST: u16 = 1 << 4;

/// CRC-8, polynomial 0x07, initial value 0, MSB first (rt1176.md 5.5).
pub fn crc8(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |mut c, &b| {
        c ^= b;
        for _ in 0..8 {
            c = if c & 0x80 != 0 {
                (c << 1) ^ 0x07
            } else {
                c << 1
            };
        }
        c
    })
}

/// A packet with its CRC filled in.
pub fn packet(count_code: u8, page: u8, offset: u8, regs: &[u16]) -> Vec<u8> {
    let mut p = vec![count_code, 0, page, offset];
    for r in regs {
        p.extend_from_slice(&r.to_le_bytes());
    }
    p[1] = crc8(&p);
    p
}

/// What the IO drives on its outputs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoOutputs {
    pub armed: bool,
    pub failsafe: bool,
    /// Pulse width per output (us); 0 = no pulses.
    pub pwm_us: [u16; OUTPUTS],
    /// When the FMU last wrote DIRECT_PWM (the end of that packet's last byte).
    pub commanded_at: Option<Ps>,
}

#[derive(Debug, Clone)]
pub struct Px4Io {
    /// The packet being received and when its last byte ended.
    rx: Vec<u8>,
    last_byte: Option<Ps>,
    /// When the FMU last sent a valid packet.
    heard: Option<Ps>,
    setup: [u16; 19],
    direct: [u16; OUTPUTS],
    failsafe: [u16; OUTPUTS],
    safety_off: bool,
    raw_pwm: bool,
    commanded_at: Option<Ps>,
    alarms: u16,
    /// Packets with a good CRC, and packets answered CORRUPT or ERROR.
    pub packets: u64,
    pub errors: u64,
}

impl Default for Px4Io {
    fn default() -> Self {
        Px4Io::new()
    }
}

impl Px4Io {
    pub fn new() -> Px4Io {
        Px4Io {
            rx: Vec::new(),
            last_byte: None,
            heard: None,
            setup: [0; 19],
            direct: [0; OUTPUTS],
            failsafe: [0; OUTPUTS],
            safety_off: false,
            raw_pwm: false,
            commanded_at: None,
            alarms: 0,
            packets: 0,
            errors: 0,
        }
    }

    fn fmu_ok(&self, now: Ps) -> bool {
        self.heard.is_some_and(|h| now < h + FMU_LOST)
    }

    fn armed(&self) -> bool {
        let a = self.setup[1];
        a & ARMING_IO_ARM_OK != 0 && a & ARMING_FMU_ARMED != 0 && self.safety_off
    }

    /// The outputs at `now`.
    pub fn outputs(&mut self, now: Ps) -> IoOutputs {
        let armed = self.armed();
        let lost = !self.fmu_ok(now);
        if armed && lost && self.heard.is_some() {
            self.alarms |= ALARM_FMU_LOST;
        }
        let failsafe = armed && (lost || self.setup[1] & ARMING_FORCE_FAILSAFE != 0);
        let pwm_us = if !armed {
            [0; OUTPUTS]
        } else if failsafe {
            self.failsafe
        } else {
            self.direct
        };
        IoOutputs {
            armed,
            failsafe,
            pwm_us,
            commanded_at: self.commanded_at,
        }
    }

    /// One byte from the FMU whose stop bit ended at `at`, sent `frame` apart (one frame's
    /// time at the FMU's baud); an answer (its first byte's start time, the bytes) when it
    /// completes a packet.
    pub fn byte(&mut self, at: Ps, frame: Ps, b: u8) -> Option<(Ps, Vec<u8>)> {
        if self.last_byte.is_some_and(|l| at > l + 2 * frame) {
            self.rx.clear();
        }
        self.last_byte = Some(at);
        self.rx.push(b);
        let count = usize::from(self.rx[0] & 0x3F);
        if self.rx.len() < 4 + 2 * count.min(32) {
            return None;
        }
        let p = std::mem::take(&mut self.rx);
        let answer = self.handle(&p, at);
        Some((at + frame + TURNAROUND, answer))
    }

    fn handle(&mut self, p: &[u8], now: Ps) -> Vec<u8> {
        let mut zeroed = p.to_vec();
        zeroed[1] = 0;
        if crc8(&zeroed) != p[1] {
            self.errors += 1;
            return packet(CODE_CORRUPT, p[2], p[3], &[]);
        }
        let count = usize::from(p[0] & 0x3F);
        if count > 32 {
            self.errors += 1;
            return packet(CODE_ERROR, p[2], p[3], &[]);
        }
        self.packets += 1;
        self.heard = Some(now);
        let (page, offset) = (p[2], usize::from(p[3]));
        if p[0] & 0xC0 == CODE_WRITE {
            let regs: Vec<u16> = p[4..]
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            for (k, v) in regs.into_iter().enumerate() {
                self.set(page, offset + k, v);
            }
            if page == PAGE_DIRECT_PWM {
                self.commanded_at = Some(now);
            }
            return packet(0, page, p[3], &[]);
        }
        let mut regs = Vec::with_capacity(count);
        for k in 0..count {
            match self.get(page, offset + k, now) {
                Some(v) => regs.push(v),
                None => {
                    self.errors += 1;
                    return packet(CODE_ERROR, page, p[3], &[]);
                }
            }
        }
        packet(regs.len() as u8, page, p[3], &regs)
    }

    fn set(&mut self, page: u8, reg: usize, v: u16) {
        match (page, reg) {
            (PAGE_STATUS, 3) => self.alarms &= !v,
            (PAGE_SETUP, 12) if v == SAFETY_MAGIC => self.safety_off = true,
            (PAGE_SETUP, 14) if v == SAFETY_MAGIC => self.safety_off = false,
            (PAGE_SETUP, r) if r < self.setup.len() => self.setup[r] = v,
            (PAGE_DIRECT_PWM, r) if r < OUTPUTS => {
                self.direct[r] = v;
                self.raw_pwm = true;
            }
            (PAGE_FAILSAFE_PWM, r) if r < OUTPUTS => self.failsafe[r] = v,
            _ => {}
        }
    }

    fn get(&mut self, page: u8, reg: usize, now: Ps) -> Option<u16> {
        Some(match page {
            PAGE_CONFIG => match reg {
                0 => 4,
                3 => 64,
                5 => OUTPUTS as u16,
                _ => 0,
            },
            PAGE_STATUS => {
                let o = self.outputs(now);
                match reg {
                    2 => {
                        u16::from(o.armed)
                            | u16::from(self.fmu_ok(now)) << 6
                            | u16::from(self.raw_pwm) << 7
                            | 1 << 10
                            | u16::from(o.failsafe) << 11
                            | u16::from(self.safety_off) << 12
                    }
                    3 => self.alarms,
                    _ => 0,
                }
            }
            PAGE_SERVOS => *self.outputs(now).pwm_us.get(reg)?,
            PAGE_SETUP => *self.setup.get(reg)?,
            PAGE_DIRECT_PWM => *self.direct.get(reg)?,
            PAGE_FAILSAFE_PWM => *self.failsafe.get(reg)?,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Ps = 6_667_000; // ten bits at 1.5 Mbit/s, rounded up

    fn exchange(io: &mut Px4Io, at: Ps, p: &[u8]) -> Vec<u8> {
        let mut answer = None;
        for (k, &b) in p.iter().enumerate() {
            answer = io.byte(at + k as Ps * FRAME, FRAME, b);
        }
        answer.expect("an answer").1
    }

    #[test]
    fn crc8_known_answers() {
        // CRC-8 (poly 0x07, init 0, no reflection): the catalogue's check value for
        // "123456789" is 0xF4.
        assert_eq!(crc8(b"123456789"), 0xF4);
        assert_eq!(crc8(&[]), 0);
    }

    #[test]
    fn arming_direct_pwm_and_failsafe_after_the_fmu_falls_silent() {
        let mut io = Px4Io::new();
        let version = exchange(&mut io, 0, &packet(1, 0, 0, &[0]));
        assert_eq!(version, packet(1, 0, 0, &[4]), "protocol version 4");
        let ok = exchange(
            &mut io,
            PS_PER_MS,
            &packet(CODE_WRITE | 4, 54, 0, &[1100, 1200, 1300, 1400]),
        );
        assert_eq!(ok, packet(0, 54, 0, &[]), "a write's answer has count 0");
        assert_eq!(io.outputs(PS_PER_MS).pwm_us, [0; 8], "disarmed");
        exchange(&mut io, 2 * PS_PER_MS, &packet(CODE_WRITE | 1, 50, 1, &[3]));
        assert!(!io.outputs(2 * PS_PER_MS).armed, "the safety is on");
        exchange(
            &mut io,
            3 * PS_PER_MS,
            &packet(CODE_WRITE | 1, 50, 12, &[SAFETY_MAGIC]),
        );
        let o = io.outputs(3 * PS_PER_MS);
        assert!(o.armed && !o.failsafe);
        assert_eq!(&o.pwm_us[..5], &[1100, 1200, 1300, 1400, 0]);
        let servos = exchange(&mut io, 4 * PS_PER_MS, &packet(2, 3, 2, &[0, 0]));
        assert_eq!(servos, packet(2, 3, 2, &[1300, 1400]));
        // Silent for 500 ms: failsafe values (0: off), the alarm latched.
        let t = 5 * PS_PER_MS + FMU_LOST;
        let o = io.outputs(t);
        assert!(o.failsafe && o.pwm_us == [0; 8]);
        let status = exchange(&mut io, t, &packet(2, 1, 2, &[0, 0]));
        let flags = u16::from_le_bytes([status[4], status[5]]);
        let alarms = u16::from_le_bytes([status[6], status[7]]);
        // The READ itself is a valid packet: the FMU is heard again.
        assert_eq!(flags & (1 | 1 << 6 | 1 << 12), 1 | 1 << 6 | 1 << 12);
        assert_eq!(alarms, ALARM_FMU_LOST);
    }

    #[test]
    fn corrupt_and_bad_packets_are_answered_and_resync_on_idle() {
        let mut io = Px4Io::new();
        let mut p = packet(CODE_WRITE | 1, 54, 0, &[1500]);
        p[4] ^= 1;
        assert_eq!(exchange(&mut io, 0, &p)[0], CODE_CORRUPT);
        assert_eq!(
            exchange(&mut io, PS_PER_MS, &packet(1, 99, 0, &[0]))[0],
            CODE_ERROR
        );
        // Half a packet, then silence, then a whole one: the half is dropped.
        let half = packet(CODE_WRITE | 2, 54, 0, &[1, 2]);
        for (k, &b) in half[..5].iter().enumerate() {
            assert!(io.byte(2 * PS_PER_MS + k as Ps * FRAME, FRAME, b).is_none());
        }
        let version = exchange(&mut io, 3 * PS_PER_MS, &packet(1, 0, 0, &[0]));
        assert_eq!(version, packet(1, 0, 0, &[4]));
        // Valid: the ERROR one (a good CRC) and the version read; answered in error: two.
        assert_eq!((io.packets, io.errors), (2, 2));
    }
}
