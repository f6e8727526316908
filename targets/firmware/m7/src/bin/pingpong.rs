//! The dual-core demo, CM7 side: releases the held CM4 through SRC with the SDK's boot address
//! 0x2020_0000 (the CM7 view of the CM4 code TCM) in IOMUXC_LPSR_GPR0/1, then
//! SCR.BT_RELEASE_M4 (rt1176.md 1.3), and plays the MU ping-pong (see ../pingpong.rs).
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{modify, write};

#[path = "../pingpong.rs"]
mod pingpong;

#[entry]
fn main() -> ! {
    let boot = 0x2020_0000u32;
    write(0x40C0_C000, boot & 0xFFF8); // IOMUXC_LPSR_GPR0
    write(0x40C0_C004, boot >> 16); // IOMUXC_LPSR_GPR1
    modify(0x40C0_4000, |v| v | 1); // SRC_SCR.BT_RELEASE_M4
    pingpong::play()
}
