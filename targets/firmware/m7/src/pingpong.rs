//! The CM7 side of the MU ping-pong, shared by the two release variants (`pingpong`,
//! `pingpong_swreset`): after the CM4 is up, 1000 rounds on MU channel 0 with receive interrupts
//! on both sides: the CM7 sends x, the CM4 answers 3x+1, the CM7 folds the answer into a
//! checksum and sends answer + round.
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use fw_common::{exit, hprintln, nvic, read, set_handler, write};

const MUA: u32 = 0x40C4_8000;
/// OCRAM1: [0] CM4 ready word, [1] CM4 reply count, [2] CM4 boot count.
pub const SHARED: u32 = 0x2024_0000;
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

/// Arm the MU receive interrupt, wait for the CM4's ready word, play the rounds, report, exit.
pub fn play() -> ! {
    set_handler(118, on_mu);
    nvic::enable(118);
    write(MUA + 0x24, 1 << 27); // CR.RIE0
    while read(SHARED) != READY {}
    send(1);
    while !DONE.load(Relaxed) {
        cortex_m::asm::wfi();
    }
    let replies = read(SHARED + 4);
    hprintln!(
        "pingpong rounds={} checksum={:#010x} m4_replies={} m4_boots={}",
        ROUND.load(Relaxed),
        CHECKSUM.load(Relaxed),
        replies,
        read(SHARED + 8)
    );
    exit(replies == ROUNDS)
}
