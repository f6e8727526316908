//! Two threads on the process stack, switched by PendSV; SVC starts the first one with
//! EXC_RETURN 0xFFFF_FFFD. Each thread checks that it runs on PSP in thread mode and that its
//! own stack variable survives the switches. Prints the run log: expected ABABABABAB.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m_rt::entry;
use fw_common::{barrier, exit, hprintln, write, Log};

#[repr(C, align(8))]
struct Stack([u32; 256]);

static mut STACKS: [Stack; 2] = [Stack([0; 256]), Stack([0; 256])];
static mut SAVED_SP: [u32; 2] = [0; 2];
static CURRENT: AtomicU32 = AtomicU32::new(0);
static LOG: Log = Log::new();
static ERRORS: AtomicU32 = AtomicU32::new(0);

core::arch::global_asm!(
    ".section .text.PendSV,\"ax\",%progbits",
    ".global PendSV",
    ".type PendSV,%function",
    ".thumb_func",
    "PendSV:",
    "  mrs r0, psp",
    "  stmdb r0!, {{r4-r11}}",
    "  push {{r3, lr}}",
    "  bl pendsv_switch",
    "  pop {{r3, lr}}",
    "  ldmia r0!, {{r4-r11}}",
    "  msr psp, r0",
    "  bx lr",
    ".section .text.SVCall,\"ax\",%progbits",
    ".global SVCall",
    ".type SVCall,%function",
    ".thumb_func",
    "SVCall:",
    "  push {{r3, lr}}",
    "  bl first_thread_sp",
    "  pop {{r3, lr}}",
    "  ldmia r0!, {{r4-r11}}",
    "  msr psp, r0",
    "  ldr lr, =0xFFFFFFFD",
    "  bx lr",
);

#[no_mangle]
extern "C" fn pendsv_switch(old_sp: u32) -> u32 {
    let cur = CURRENT.load(Relaxed) as usize;
    let next = cur ^ 1;
    unsafe {
        SAVED_SP[cur] = old_sp;
        CURRENT.store(next as u32, Relaxed);
        SAVED_SP[next]
    }
}

#[no_mangle]
extern "C" fn first_thread_sp() -> u32 {
    unsafe { SAVED_SP[0] }
}

fn check_thread_mode() {
    let control = cortex_m::register::control::read();
    let ipsr: u32;
    unsafe { core::arch::asm!("mrs {0}, ipsr", out(reg) ipsr) };
    if !control.spsel().is_psp() || ipsr != 0 {
        ERRORS.fetch_add(1, Relaxed);
    }
}

fn yield_now() {
    write(0xE000_ED04, 1 << 28); // ICSR.PENDSVSET
    barrier();
}

extern "C" fn thread_a() -> ! {
    let mut mine = 0u32;
    loop {
        check_thread_mode();
        LOG.push(b'A');
        mine += 1;
        yield_now();
        if mine > 5 {
            ERRORS.fetch_add(1, Relaxed);
        }
    }
}

extern "C" fn thread_b() -> ! {
    let mut mine = 0u32;
    loop {
        check_thread_mode();
        LOG.push(b'B');
        mine += 1;
        if mine == 5 {
            let log = LOG.as_str();
            let errors = ERRORS.load(Relaxed);
            hprintln!("context log={} errors={}", log, errors);
            exit(log == "ABABABABAB" && errors == 0);
        }
        yield_now();
    }
}

fn init_stack(i: usize, entry: extern "C" fn() -> !) {
    unsafe {
        let stack = &mut *core::ptr::addr_of_mut!(STACKS[i].0);
        let top = stack.len();
        // Hardware frame: r0-r3, r12, lr, pc, xPSR (T bit), below it r4-r11 for PendSV.
        stack[top - 8..].copy_from_slice(&[0, 0, 0, 0, 0, 0xFFFF_FFFF, entry as u32, 1 << 24]);
        stack[top - 16..top - 8].fill(0);
        SAVED_SP[i] = stack.as_ptr().add(top - 16) as u32;
    }
}

#[entry]
fn main() -> ! {
    init_stack(0, thread_a);
    init_stack(1, thread_b);
    // PendSV at the lowest priority (SHPR3 byte 2).
    unsafe { core::ptr::write_volatile(0xE000_ED22 as *mut u8, 0xF0) };
    unsafe { core::arch::asm!("svc 0") };
    hprintln!("returned to main: the first thread never started");
    exit(false)
}
