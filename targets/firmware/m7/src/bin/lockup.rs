//! A bus fault inside the HardFault handler: the core locks up (ARMv7-M B1.5.15). The twin must
//! report the lockup with core, PC and symbol, and exit with its lockup code.
#![no_std]
#![no_main]
use cortex_m_rt::{entry, exception, ExceptionFrame};
use fw_common::{exit, hprintln};

#[exception]
unsafe fn HardFault(_ef: &ExceptionFrame) -> ! {
    let _ = core::ptr::read_volatile(0x5000_0008 as *const u32);
    hprintln!("survived a fault in HardFault");
    exit(false)
}

#[entry]
fn main() -> ! {
    let _ = unsafe { core::ptr::read_volatile(0x5000_0000 as *const u32) };
    hprintln!("no fault");
    exit(false)
}
