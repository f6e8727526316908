//! The dual-core demo, CM7 side. Releases the CM4 through SRC (boot address 0x2020_0000 in
//! IOMUXC_LPSR_GPR0/1, then SCR.BT_RELEASE_M4), waits for its ready word in OCRAM1, then plays
//! 1000 rounds of MU ping-pong on channel 0 with receive interrupts on both sides: it sends x,
//! the CM4 answers 3x+1, the CM7 folds the answer into a checksum and sends answer + round.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use cortex_m_rt::entry;
use fw_common::{exit, hprintln, modify, nvic, read, set_handler, write};

const MUA: u32 = 0x40C4_8000;
const SHARED: u32 = 0x2024_0000; // OCRAM1: [0] CM4 ready word, [1] CM4 reply count
const READY: u32 = 0xB007_4D34;
const ROUNDS: u32 = 1000;

static ROUND: AtomicU32 = AtomicU32::new(0);
static CHECKSUM: AtomicU32 = AtomicU32::new(0);
static DONE: AtomicBool = AtomicBool::new(false);

fn send(v: u32) {
    while read(MUA + 0x20) & (1 << 23) == 0 {} // SR.TE0
    write(MUA, v); // TR0
}

fn on_mu() {
    if read(MUA + 0x20) & (1 << 27) != 0 {
        let answer = read(MUA + 0x10); // RR0
        let sum = CHECKSUM.load(Relaxed).rotate_left(5) ^ answer;
        CHECKSUM.store(sum, Relaxed);
        let round = ROUND.fetch_add(1, Relaxed) + 1;
        if round < ROUNDS {
            send(answer.wrapping_add(round));
        } else {
            DONE.store(true, Relaxed);
        }
    }
}

#[entry]
fn main() -> ! {
    set_handler(118, on_mu);
    nvic::enable(118);
    write(MUA + 0x24, 1 << 27); // CR.RIE0
    let boot = 0x2020_0000u32;
    write(0x40C0_C000, boot & 0xFFF8); // IOMUXC_LPSR_GPR0
    write(0x40C0_C004, boot >> 16); // IOMUXC_LPSR_GPR1
    modify(0x40C0_4000, |v| v | 1); // SRC_SCR.BT_RELEASE_M4
    while read(SHARED) != READY {}
    send(1);
    while !DONE.load(Relaxed) {
        cortex_m::asm::wfi();
    }
    let replies = read(SHARED + 4);
    hprintln!(
        "pingpong rounds={} checksum={:#010x} m4_replies={}",
        ROUND.load(Relaxed),
        CHECKSUM.load(Relaxed),
        replies
    );
    exit(replies == ROUNDS)
}
