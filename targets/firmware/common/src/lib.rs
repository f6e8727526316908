//! Shared pieces of the test firmware: the device interrupt table (every IRQ goes through one
//! dispatcher that looks up a handler registered at run time), register access, the NVIC, DWT,
//! and reporting through semihosting.
#![no_std]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

pub use cortex_m_semihosting::hprintln;

/// External interrupts of the RT1176 (rt1176.md section 4).
pub const IRQS: usize = 218;

extern "C" {
    fn fw_irq_entry();
}

// Every external interrupt enters here: record EXC_RETURN and IPSR, call the registered
// handler, and return through `pop {pc}` with the EXC_RETURN value.
core::arch::global_asm!(
    ".section .text.fw_irq_entry,\"ax\",%progbits",
    ".global fw_irq_entry",
    ".type fw_irq_entry,%function",
    ".thumb_func",
    "fw_irq_entry:",
    "  push {{r4, lr}}",
    "  mov r0, lr",
    "  mrs r1, ipsr",
    "  bl fw_irq_dispatch",
    "  pop {{r4, pc}}",
);

#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
pub static __INTERRUPTS: [unsafe extern "C" fn(); IRQS] = [fw_irq_entry; IRQS];

static HANDLERS: [AtomicUsize; IRQS] = [const { AtomicUsize::new(0) }; IRQS];

/// EXC_RETURN seen by the most recent interrupt entry.
pub static LAST_EXC_RETURN: AtomicU32 = AtomicU32::new(0);

#[no_mangle]
extern "C" fn fw_irq_dispatch(exc_return: u32, ipsr: u32) {
    LAST_EXC_RETURN.store(exc_return, Ordering::Relaxed);
    let irq = (ipsr & 0x1FF).wrapping_sub(16) as usize;
    let h = HANDLERS
        .get(irq)
        .map(|h| h.load(Ordering::Relaxed))
        .unwrap_or(0);
    if h == 0 {
        hprintln!("unexpected IRQ {}", irq);
        exit(false);
    }
    // SAFETY: only `set_handler` stores here, always a `fn()`.
    let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(h) };
    f();
}

/// Register the handler for external interrupt `irq`.
pub fn set_handler(irq: usize, f: fn()) {
    HANDLERS[irq].store(f as usize, Ordering::Relaxed);
}

pub fn read(addr: u32) -> u32 {
    // SAFETY: test firmware touching memory-mapped registers of the twin.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

pub fn write(addr: u32, v: u32) {
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

pub fn modify(addr: u32, f: impl FnOnce(u32) -> u32) {
    write(addr, f(read(addr)));
}

pub mod nvic {
    use super::{read, write};

    pub fn enable(irq: u32) {
        write(0xE000_E100 + 4 * (irq / 32), 1 << (irq % 32));
    }

    pub fn set_priority(irq: u32, prio: u8) {
        // SAFETY: byte access to the IPR register of `irq`.
        unsafe { core::ptr::write_volatile((0xE000_E400 + irq) as *mut u8, prio) }
    }

    /// Pend through the Software Trigger Interrupt Register.
    pub fn pend(irq: u32) {
        write(0xE000_EF00, irq);
    }

    pub fn is_pending(irq: u32) -> bool {
        read(0xE000_E200 + 4 * (irq / 32)) & (1 << (irq % 32)) != 0
    }
}

pub mod workload;

pub mod dwt {
    use super::{modify, read};

    pub fn enable_cycle_counter() {
        modify(0xE000_EDFC, |v| v | (1 << 24)); // DEMCR.TRCENA
        modify(0xE000_1000, |v| v | 1); // DWT_CTRL.CYCCNTENA
    }

    pub fn cycles() -> u32 {
        read(0xE000_1004)
    }
}

/// LPI2C master transfers (rt1176.md 3.8): commands into MTDR (bits 10:8 the command: 0 send
/// the byte, 1 receive data[7:0]+1 bytes, 2 STOP, 4 START with the address byte), bytes out of
/// MRDR (bit 14 RXEMPTY).
pub mod lpi2c {
    use super::{read, write};

    pub struct Bus(pub u32);

    impl Bus {
        /// Enable the master with SCL from CLKLO/CLKHI = `half` and PRESCALE `prescale`.
        pub fn enable(&self, half: u32, prescale: u32) {
            write(self.0 + 0x48, half | (half << 8)); // MCCR0
            write(self.0 + 0x24, prescale); // MCFGR1
            write(self.0 + 0x10, 1); // MCR.MEN
        }

        /// One command, once the 4-word FIFO has room (MFSR.TXCOUNT).
        pub fn cmd(&self, c: u32, data: u32) {
            while read(self.0 + 0x5C) & 7 >= 4 {}
            write(self.0 + 0x60, (c << 8) | data);
        }

        /// Read `out.len()` registers from `reg` of the device at `addr`.
        pub fn read_regs(&self, addr: u32, reg: u32, out: &mut [u8]) {
            self.cmd(4, addr << 1);
            self.cmd(0, reg);
            self.cmd(4, (addr << 1) | 1);
            self.cmd(1, out.len() as u32 - 1);
            self.cmd(2, 0);
            for b in out.iter_mut() {
                loop {
                    let v = read(self.0 + 0x70);
                    if v & (1 << 14) == 0 {
                        *b = v as u8;
                        break;
                    }
                }
            }
        }

        /// Write `v` to register `reg` of the device at `addr`, and wait for the STOP.
        pub fn write_reg(&self, addr: u32, reg: u32, v: u8) {
            self.cmd(4, addr << 1);
            self.cmd(0, reg);
            self.cmd(0, u32::from(v));
            self.cmd(2, 0);
            while read(self.0 + 0x14) & (1 << 9) == 0 {} // MSR.SDF
            write(self.0 + 0x14, 1 << 9);
        }
    }
}

pub fn barrier() {
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}

/// End the run through semihosting (exit code 0 or 1).
pub fn exit(ok: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// A fixed-capacity text log for ordering tests.
pub struct Log {
    buf: [u8; 256],
    len: AtomicUsize,
}

impl Default for Log {
    fn default() -> Self {
        Self::new()
    }
}

impl Log {
    pub const fn new() -> Log {
        Log {
            buf: [0; 256],
            len: AtomicUsize::new(0),
        }
    }

    pub fn push(&self, b: u8) {
        let i = self.len.fetch_add(1, Ordering::Relaxed);
        if i < self.buf.len() {
            // SAFETY: single-core firmware; each index is written once.
            unsafe { core::ptr::write_volatile(self.buf.as_ptr().add(i) as *mut u8, b) }
        }
    }

    pub fn as_str(&self) -> &str {
        let n = self.len.load(Ordering::Relaxed).min(self.buf.len());
        core::str::from_utf8(&self.buf[..n]).unwrap_or("<log not utf-8>")
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    exit(false)
}

/// Timestamps periodic interrupts with DWT CYCCNT: how many fall in the first virtual second
/// after the first one, and the cycles from the first to the 1001st.
pub struct RateProbe {
    n: AtomicU32,
    first: AtomicU32,
    in_window: AtomicU32,
    span: AtomicU32,
    done: core::sync::atomic::AtomicBool,
}

impl Default for RateProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl RateProbe {
    pub const fn new() -> RateProbe {
        RateProbe {
            n: AtomicU32::new(0),
            first: AtomicU32::new(0),
            in_window: AtomicU32::new(0),
            span: AtomicU32::new(0),
            done: core::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Call from the interrupt handler; returns true on the 1001st call.
    pub fn record(&self) -> bool {
        let now = dwt::cycles();
        let n = self.n.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 {
            self.first.store(now, Ordering::Relaxed);
        }
        let elapsed = now.wrapping_sub(self.first.load(Ordering::Relaxed));
        if elapsed < 1_000_000_000 {
            self.in_window.fetch_add(1, Ordering::Relaxed);
        }
        if n == 1001 {
            self.span.store(elapsed, Ordering::Relaxed);
            self.done.store(true, Ordering::Relaxed);
        }
        n == 1001
    }

    /// Sleep until the 1001st interrupt, print `<name> per_1s=<n> span=<cycles>` and exit.
    pub fn wait_and_report(&self, name: &str) -> ! {
        while !self.done.load(Ordering::Relaxed) {
            cortex_m::asm::wfi();
        }
        hprintln!(
            "{} irqs_in_1s={} cycles_irq1_to_irq1001={}",
            name,
            self.in_window.load(Ordering::Relaxed),
            self.span.load(Ordering::Relaxed)
        );
        exit(true)
    }
}

/// The `main` of an emulator bench loop: run `work(ITERATIONS)`, call `bench_done` (where a raw
/// Unicorn run stops), exit.
#[macro_export]
macro_rules! bench_main {
    () => {
        #[no_mangle]
        #[inline(never)]
        pub extern "C" fn bench_done(result: u32) {
            core::hint::black_box(result);
        }

        #[cortex_m_rt::entry]
        fn main() -> ! {
            let r = work(core::hint::black_box(ITERATIONS));
            bench_done(r);
            $crate::exit(true)
        }
    };
}

/// The `main` of the CoreMark-style workload ([`workload`]): one warm-up iteration, then
/// `ITERATIONS` timed with DWT CYCCNT; prints `workload iterations=N cycles=C crc=X` and exits.
#[macro_export]
macro_rules! workload_main {
    () => {
        #[cortex_m_rt::entry]
        fn main() -> ! {
            $crate::dwt::enable_cycle_counter();
            let _ = $crate::workload::run(1);
            let t0 = $crate::dwt::cycles();
            let crc = $crate::workload::run(core::hint::black_box(ITERATIONS));
            let cycles = $crate::dwt::cycles().wrapping_sub(t0);
            $crate::hprintln!(
                "workload iterations={} cycles={} crc={:#06x}",
                ITERATIONS,
                cycles,
                crc
            );
            $crate::exit(true)
        }
    };
}
