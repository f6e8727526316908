//! An SVCall handler returns with the invalid EXC_RETURN 0xFFFF_FFF5: with UsageFault enabled
//! (and SVCall below it in priority) the core takes UsageFault with CFSR.INVPC (0x4_0000).
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{exit, hprintln, modify, read};

core::arch::global_asm!(
    ".section .text.SVCall,\"ax\",%progbits",
    ".global SVCall",
    ".type SVCall,%function",
    ".thumb_func",
    "SVCall:",
    "  ldr r0, =0xFFFFFFF5",
    "  bx r0",
    ".section .text.UsageFault,\"ax\",%progbits",
    ".global UsageFault",
    ".type UsageFault,%function",
    ".thumb_func",
    "UsageFault:",
    "  bl usage_fault_report",
);

#[no_mangle]
extern "C" fn usage_fault_report() -> ! {
    hprintln!("usagefault cfsr={:#010x}", read(0xE000_ED28));
    exit(true)
}

#[entry]
fn main() -> ! {
    modify(0xE000_ED24, |v| v | (1 << 18)); // USGFAULTENA
    unsafe { core::ptr::write_volatile(0xE000_ED1F as *mut u8, 0x80) }; // SVCall priority
    unsafe { core::arch::asm!("svc 1") };
    hprintln!("svc returned");
    exit(false)
}
