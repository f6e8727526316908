//! Faults the firmware sees, with the status bits of the ARMv7-M ARM (B3.2.15, B3.2.16):
//! 1. a load from reserved address space 0x5000_0000 with BusFault enabled -> BusFault,
//!    CFSR = PRECISERR | BFARVALID (0x8200), BFAR = 0x5000_0000;
//! 2. UDF with UsageFault enabled -> UsageFault, CFSR = UNDEFINSTR (0x1_0000);
//! 3. the same kind of load with BusFault disabled -> HardFault, HFSR = FORCED (0x4000_0000).
//! Fault handlers 1-2 step over the faulting instruction and return.
#![no_std]
#![no_main]
use cortex_m_rt::{entry, exception, ExceptionFrame};
use fw_common::{exit, hprintln, modify, read, write};

core::arch::global_asm!(
    ".section .text.fault_entry,\"ax\",%progbits",
    ".global BusFault",
    ".global UsageFault",
    ".type BusFault,%function",
    ".type UsageFault,%function",
    ".thumb_func",
    "BusFault:",
    ".thumb_func",
    "UsageFault:",
    "  tst lr, #4",
    "  ite eq",
    "  mrseq r0, msp",
    "  mrsne r0, psp",
    "  mrs r1, ipsr",
    "  push {{r3, lr}}",
    "  bl fault_record",
    "  pop {{r3, lr}}",
    "  bx lr",
);

#[no_mangle]
extern "C" fn fault_record(frame: *mut u32, ipsr: u32) {
    let cfsr = read(0xE000_ED28);
    let bfar = read(0xE000_ED38);
    write(0xE000_ED28, cfsr); // write-one-to-clear
    unsafe {
        let pc = core::ptr::read_volatile(frame.add(6));
        let hw = core::ptr::read_volatile(pc as *const u16);
        let len = if hw >> 11 >= 0x1D { 4 } else { 2 };
        core::ptr::write_volatile(frame.add(6), pc + len);
    }
    match ipsr & 0x1FF {
        5 => hprintln!("busfault ipsr=5 cfsr={:#010x} bfar={:#010x}", cfsr, bfar),
        n => hprintln!("usagefault ipsr={} cfsr={:#010x}", n, cfsr),
    }
}

#[exception]
unsafe fn HardFault(_ef: &ExceptionFrame) -> ! {
    hprintln!(
        "hardfault hfsr={:#010x} cfsr={:#010x} bfar={:#010x}",
        read(0xE000_ED2C),
        read(0xE000_ED28),
        read(0xE000_ED38)
    );
    exit(true)
}

#[entry]
fn main() -> ! {
    modify(0xE000_ED24, |v| v | (1 << 17) | (1 << 18)); // SHCSR: BUSFAULTENA, USGFAULTENA
    let _ = unsafe { core::ptr::read_volatile(0x5000_0000 as *const u32) };
    unsafe { core::arch::asm!("udf #7") };
    modify(0xE000_ED24, |v| v & !(1 << 17));
    let _ = unsafe { core::ptr::read_volatile(0x5000_0004 as *const u32) };
    hprintln!("no HardFault");
    exit(false)
}
