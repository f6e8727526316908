//! Exception entry on a stack that is 4 mod 8: the frame is placed 8-byte aligned with the
//! padding flagged in the stacked xPSR bit 9, and the return restores the exact SP (ARMv7-M
//! B1.5.7, CCR.STKALIGN = 1). Then FAULTMASK: with it set even a priority-0 IRQ waits; clearing
//! it lets the IRQ in.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m_rt::entry;
use fw_common::{barrier, exit, hprintln, nvic, set_handler};

static STACKED_XPSR: AtomicU32 = AtomicU32::new(0);
static FRAME_AT: AtomicU32 = AtomicU32::new(0);
static HITS: AtomicU32 = AtomicU32::new(0);

fn handler() {
    // The hardware frame is where main computed it must be (FRAME_AT): read its xPSR word.
    HITS.fetch_add(1, Relaxed);
    let frame = FRAME_AT.load(Relaxed);
    if frame != 0 {
        let xpsr = unsafe { core::ptr::read_volatile((frame + 28) as *const u32) };
        STACKED_XPSR.store(xpsr, Relaxed);
    }
}

#[entry]
fn main() -> ! {
    set_handler(30, handler);
    nvic::set_priority(30, 0);
    nvic::enable(30);
    let (before, after): (u32, u32);
    unsafe {
        core::arch::asm!(
            "mov {keep}, sp",
            "sub sp, sp, #4",           // SP = 4 mod 8
            "mov {before}, sp",
            "sub {frame}, {before}, #36", // where the 8-aligned 32-byte frame must start
            "str {frame}, [{frame_at}]",
            "str {irq}, [{stir}]",
            "dsb",
            "isb",
            "nop",
            "mov {after}, sp",
            "mov sp, {keep}",
            keep = out(reg) _,
            before = out(reg) before,
            after = out(reg) after,
            frame = out(reg) _,
            frame_at = in(reg) FRAME_AT.as_ptr(),
            irq = in(reg) 30u32,
            stir = in(reg) 0xE000_EF00u32,
        );
    }
    let xpsr = STACKED_XPSR.load(Relaxed);
    hprintln!(
        "align sp_mod8={} restored={} stacked_xpsr_bit9={}",
        before % 8,
        before == after,
        (xpsr >> 9) & 1
    );
    // FAULTMASK raises the execution priority to -1: a priority-0 IRQ stays pending.
    FRAME_AT.store(0, Relaxed);
    unsafe { core::arch::asm!("cpsid f") };
    nvic::pend(30);
    barrier();
    let held = nvic::is_pending(30) && HITS.load(Relaxed) == 1;
    unsafe { core::arch::asm!("cpsie f") };
    barrier();
    let taken = HITS.load(Relaxed) == 2;
    hprintln!("faultmask held={} taken_after={}", held, taken);
    exit(before % 8 == 4 && before == after && (xpsr >> 9) & 1 == 1 && held && taken)
}
