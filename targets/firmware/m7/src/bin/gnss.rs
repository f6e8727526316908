//! A u-blox GNSS on LPUART3 (rt1176.md 5.3: the GPS port), 115 200 baud as uart.rs sets it: the
//! firmware receives UBX frames from the FIFO, checks the Fletcher checksum, and prints the
//! NAV-PVT fields it decodes (lat/lon 1e-7 deg, hMSL mm, velN/E/D mm/s, fixType, numSV) and
//! the virtual time the frame took: 100 bytes of 10-bit frames at 115 384.6 baud = 8.667 ms.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{dwt, exit, hprintln, read, write};

const UART: u32 = 0x4008_4000;
const BAUD: u32 = UART + 0x10;
const CTRL: u32 = UART + 0x18;
const DATA: u32 = UART + 0x1C;
const FIFO: u32 = UART + 0x28;
const RE: u32 = 1 << 18;

fn byte() -> u8 {
    loop {
        let d = read(DATA);
        if d & (1 << 12) == 0 {
            return d as u8;
        }
    }
}

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    write(BAUD, (15 << 24) | 13);
    write(FIFO, 1 << 3); // RXFE
    write(CTRL, RE);
    loop {
        // Sync on 0xB5 0x62.
        if byte() != 0xB5 {
            continue;
        }
        let c0 = dwt::cycles();
        if byte() != 0x62 {
            continue;
        }
        let head = [byte(), byte(), byte(), byte()];
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let mut payload = [0u8; 92];
        let (mut a, mut b) = (0u8, 0u8);
        for &x in &head {
            a = a.wrapping_add(x);
            b = b.wrapping_add(a);
        }
        for k in 0..len {
            let x = byte();
            if k < payload.len() {
                payload[k] = x;
            }
            a = a.wrapping_add(x);
            b = b.wrapping_add(a);
        }
        let ok = byte() == a && byte() == b;
        let cycles = dwt::cycles().wrapping_sub(c0);
        if !(ok && head[0] == 1 && head[1] == 7 && len == 92) {
            hprintln!(
                "gnss bad frame class={} id={} len={} ok={}",
                head[0],
                head[1],
                len,
                ok
            );
            exit(false);
        }
        let i = |k: usize| {
            i32::from_le_bytes([payload[k], payload[k + 1], payload[k + 2], payload[k + 3]])
        };
        hprintln!(
            "gnss lat={} lon={} hmsl={} vel=[{}, {}, {}] fix={} sv={} cycles={}",
            i(28),
            i(24),
            i(36),
            i(48),
            i(52),
            i(56),
            payload[20],
            payload[23],
            cycles
        );
        exit(true)
    }
}
