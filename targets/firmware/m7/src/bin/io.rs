//! The IO MCU on LPUART6 (rt1176.md 5.3, 5.5): PX4IO packets at 1.5 Mbit/s. From the 24 MHz
//! LPUART root, BAUD OSR 15 (x16) and SBR 1 give exactly 1.5 Mbit/s: a 10-bit frame is 160
//! root clocks = 6666.67 ns.
//! Known answers:
//! 1. READ of CONFIG register 0 (PROTOCOL_VERSION): the answer is SUCCESS, count 1, the value
//!    4, with a good CRC-8 (polynomial 0x07, initial 0, over the packet with the CRC byte 0;
//!    computed here bit by bit).
//! 2. A packet with a bad CRC is answered CORRUPT (code 0x40).
//! 3. Arming: FORCE_SAFETY_OFF (SETUP 12) with the magic 22027, ARMING (SETUP 1) = IO_ARM_OK |
//!    FMU_ARMED, DIRECT_PWM (page 54) = 1000, 1250, 1500, 1750 us; SERVOS (page 3) reads them
//!    back and STATUS FLAGS (page 1, register 2) has OUTPUTS_ARMED, FMU_OK, RAW_PWM, INIT_OK
//!    and SAFETY_OFF.
//! The test times exchange 1 and checks the outputs from the host and the failsafe after the
//! firmware falls silent.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{dwt, exit, hprintln, read, write};

const UART: u32 = 0x4009_0000;
const BAUD: u32 = UART + 0x10;
const STAT: u32 = UART + 0x14;
const CTRL: u32 = UART + 0x18;
const DATA: u32 = UART + 0x1C;
const FIFO: u32 = UART + 0x28;
const TDRE: u32 = 1 << 23;
const RE: u32 = 1 << 18;
const TE: u32 = 1 << 19;
const RXEMPT: u32 = 1 << 12;

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

/// Send a packet (count_code, page, offset, registers) with its CRC, or with it inverted.
fn send(count_code: u8, page: u8, offset: u8, regs: &[u16], good_crc: bool) {
    let mut p = [0u8; 68];
    let n = 4 + 2 * regs.len();
    p[0] = count_code;
    p[2] = page;
    p[3] = offset;
    for (k, r) in regs.iter().enumerate() {
        p[4 + 2 * k..6 + 2 * k].copy_from_slice(&r.to_le_bytes());
    }
    let crc = crc8(&p[..n]);
    p[1] = if good_crc { crc } else { !crc };
    for &b in &p[..n] {
        while read(STAT) & TDRE == 0 {}
        write(DATA, u32::from(b));
    }
}

/// Receive an answer: (code, page, registers read), checking its CRC.
fn receive(regs: &mut [u16]) -> (u8, u8, usize) {
    let mut p = [0u8; 68];
    let mut n = 0;
    let mut want = 4;
    while n < want {
        let w = read(DATA);
        if w & RXEMPT == 0 {
            p[n] = w as u8;
            n += 1;
            if n == 1 {
                want = 4 + 2 * usize::from(p[0] & 0x3F);
            }
        }
    }
    let crc = p[1];
    p[1] = 0;
    if crc8(&p[..n]) != crc {
        hprintln!("io: bad CRC in the answer");
        exit(false)
    }
    let count = usize::from(p[0] & 0x3F);
    for k in 0..count.min(regs.len()) {
        regs[k] = u16::from_le_bytes([p[4 + 2 * k], p[5 + 2 * k]]);
    }
    (p[0] & 0xC0, p[2], count)
}

fn exchange(count_code: u8, page: u8, offset: u8, regs: &mut [u16]) -> (u8, u8, usize) {
    let out: [u16; 8] = core::array::from_fn(|k| regs.get(k).copied().unwrap_or(0));
    send(count_code, page, offset, &out[..regs.len()], true);
    receive(regs)
}

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    write(BAUD, (15 << 24) | 1);
    write(FIFO, (1 << 3) | (1 << 7)); // RXFE, TXFE
    write(CTRL, RE | TE);

    let mut version = [0u16; 1];
    let c0 = dwt::cycles();
    let (code, _, count) = exchange(0x01, 0, 0, &mut version);
    let cycles = dwt::cycles().wrapping_sub(c0);

    send(0x41, 54, 0, &[1500], false);
    let (corrupt, _, _) = receive(&mut []);

    exchange(0x41, 50, 12, &mut [22027]);
    exchange(0x41, 50, 1, &mut [3]);
    exchange(0x44, 54, 0, &mut [1000, 1250, 1500, 1750]);
    let mut servos = [0u16; 4];
    exchange(0x04, 3, 0, &mut servos);
    let mut flags = [0u16; 1];
    exchange(0x01, 1, 2, &mut flags);
    hprintln!(
        "io code={:#x} count={} version={} cycles={} corrupt={:#x} servos={},{},{},{} flags={:#x}",
        code,
        count,
        version[0],
        cycles,
        corrupt,
        servos[0],
        servos[1],
        servos[2],
        servos[3],
        flags[0]
    );
    // Silent from here: the IO falls back to failsafe after 500 ms.
    loop {
        cortex_m::asm::wfi();
    }
}
