//! An interrupt whose handler overwrites s0-s15 must not disturb the interrupted code's floats:
//! the thread loads s0-s15 (making the FP context active), pends IRQ 10, and reads them back.
//! Prints the EXC_RETURN the handler saw (0xFFFF_FFE9: thread, MSP, extended frame) and whether
//! all sixteen registers survived.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m_rt::entry;
use fw_common::{exit, hprintln, nvic, set_handler, LAST_EXC_RETURN};

static MINE: [f32; 16] = [
    1.5, -2.25, 3.0, 4.125, 5.0, -6.5, 7.75, 8.0, 9.5, 10.0, -11.25, 12.0, 13.5, 14.0, 15.75, 16.0,
];
static CLOBBER: [f32; 16] = [99.0; 16];
static HANDLED: AtomicU32 = AtomicU32::new(0);

fn handler() {
    unsafe {
        core::arch::asm!(
            "vldm {0}, {{s0-s15}}",
            in(reg) CLOBBER.as_ptr(),
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
        );
    }
    HANDLED.fetch_add(1, Relaxed);
}

#[entry]
fn main() -> ! {
    set_handler(10, handler);
    nvic::enable(10);
    let mut back = [0f32; 16];
    unsafe {
        core::arch::asm!(
            "vldm {src}, {{s0-s15}}",
            "str {irq}, [{stir}]",
            "dsb",
            "isb",
            "nop",
            "vstm {dst}, {{s0-s15}}",
            src = in(reg) MINE.as_ptr(),
            dst = in(reg) back.as_mut_ptr(),
            irq = in(reg) 10u32,
            stir = in(reg) 0xE000_EF00u32,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
        );
    }
    let preserved = back
        .iter()
        .zip(MINE.iter())
        .filter(|(a, b)| a.to_bits() == b.to_bits())
        .count();
    let exc_return = LAST_EXC_RETURN.load(Relaxed);
    hprintln!(
        "fp_irq handled={} exc_return={:#010x} preserved={}/16",
        HANDLED.load(Relaxed),
        exc_return,
        preserved
    );
    exit(preserved == 16 && exc_return == 0xFFFF_FFE9)
}
