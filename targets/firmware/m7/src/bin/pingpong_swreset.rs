//! The other CM4 release path of rt1176.md 1.3: the CM4 is already running (`--m4-running`), so
//! the CM7 waits for its first boot, points GPR0/GPR1 at the local address 0x1FFE_0000, pulses
//! SRC_CTRL_M4CORE.SW_RESET, waits for STAT_M4CORE.UNDER_RST = 0, sets SCR.BT_RELEASE_M4, and
//! plays the MU ping-pong with the rebooted CM4 (which must report two boots).
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{modify, read, write};

#[path = "../pingpong.rs"]
mod pingpong;

const SRC: u32 = 0x40C0_4000;

#[entry]
fn main() -> ! {
    while read(pingpong::SHARED + 8) == 0 {} // the CM4 has booted once
    write(pingpong::SHARED, 0); // forget its first ready word
    write(0x40C0_C000, 0); // GPR0
    write(0x40C0_C004, 0x1FFE); // GPR1: boot from 0x1FFE_0000
    if read(SRC) & 1 != 0 {
        write(SRC + 0x284, 1); // CTRL_M4CORE.SW_RESET
        while read(SRC + 0x290) & 1 != 0 {} // STAT_M4CORE.UNDER_RST
    }
    modify(SRC, |v| v | 1);
    pingpong::play()
}
