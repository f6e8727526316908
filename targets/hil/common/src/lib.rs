//! What both HIL firmware images share: register access, the interrupt table, the FPU and
//! cycle-counter set-up, the embedder-ABI call of synth's exports, and the layout of the
//! shared OCRAM blocks through which the two cores talk.
//!
//! Register facts are from ../shared/reference/rt1176.md (section in brackets) and the
//! ARMv7-M Architecture Reference Manual (ARM DDI 0403E) for the core's own registers.
#![no_std]

use core::sync::atomic::{AtomicU32, Ordering};

/// MU side A (CM7) and side B (CM4) [2]: TRn at 4n, RRn at 0x10 + 4n, SR 0x20, CR 0x24.
pub const MUA: u32 = 0x40C4_8000;
pub const MUB: u32 = 0x40C4_C000;
pub const MU_TR: u32 = 0x00;
pub const MU_RR: u32 = 0x10;
pub const MU_SR: u32 = 0x20;
pub const MU_CR: u32 = 0x24;
/// The MU's NVIC line on either core [2].
pub const MU_IRQ: u16 = 118;
/// Channel n's bits are reversed [2]: RFn / RIEn = bit 27 - n, TEn = bit 23 - n.
pub const fn mu_rf(n: u32) -> u32 {
    1 << (27 - n)
}
pub const fn mu_te(n: u32) -> u32 {
    1 << (23 - n)
}

/// GPT1 paces the control loop (restart mode at OCR1, IRQ 119); GPT2 runs free at 24 MHz as
/// the time base both cores read [3.2].
pub const GPT1: u32 = 0x400E_C000;
pub const GPT2: u32 = 0x400F_0000;
pub const GPT1_IRQ: u16 = 119;
pub const GPT_CR: u32 = 0x00;
pub const GPT_PR: u32 = 0x04;
pub const GPT_SR: u32 = 0x08;
pub const GPT_IR: u32 = 0x0C;
pub const GPT_OCR1: u32 = 0x10;
pub const GPT_CNT: u32 = 0x24;
/// CR: EN, ENMOD, CLKSRC = 1 (the GPTn root, 24 MHz on this board), FRR [3.2].
pub const GPT_CR_EN: u32 = 1;
pub const GPT_CR_ENMOD: u32 = 1 << 1;
pub const GPT_CR_CLK_ROOT: u32 = 1 << 6;
pub const GPT_CR_FRR: u32 = 1 << 9;
/// The GPT root clock (board configuration, targets/rt1176.ron `gpt1`/`gpt2`).
pub const GPT_HZ: u32 = 24_000_000;

/// SRC SCR.BT_RELEASE_M4 and the CM4 boot address registers IOMUXC_LPSR_GPR0/1 [1.2, 1.3].
pub const SRC_SCR: u32 = 0x40C0_4000;
pub const LPSR_GPR0: u32 = 0x40C0_C000;
pub const LPSR_GPR1: u32 = 0x40C0_C004;

/// The vehicle-state mailbox in OCRAM2 (the SDK's shared memory, rt1176.md 1.1), the same
/// place and layout the hosted runtime uses (sim/flight/src/flightloop.rs): ready word,
/// sequence, 14 x f32, then what the HIL firmware adds: the CM4's cycles for the call and its
/// GPT2 stamp at the doorbell.
pub mod nav {
    pub const BASE: u32 = 0x202C_0000;
    pub const READY: u32 = 0x5653_5441; // "ATSV"
    pub const SEQ: u32 = BASE + 4;
    pub const WORDS: u32 = BASE + 8;
    pub const M4_CYCLES: u32 = BASE + 64;
    pub const STAMP: u32 = BASE + 68;
}

/// The CM7's requests to the CM4, beside the mailbox: ready word (written last), command,
/// sequence, then up to 21 words (an aiding-frame record, or the initial vehicle-state).
pub mod request {
    pub const BASE: u32 = 0x202C_0100;
    pub const READY: u32 = 0x5345_4E53; // "SENS"
    pub const CMD: u32 = BASE + 4;
    pub const SEQ: u32 = BASE + 8;
    pub const WORDS: u32 = BASE + 12;
    /// `aided-ekf#init` with 14 words of vehicle-state.
    pub const INIT: u32 = 1;
    /// `aided-ekf#estimate` with the 21-word aiding-frame record (hil_proto::aiding_frame).
    pub const ESTIMATE: u32 = 2;
}

/// The CM4's status: a ready word once it is up, and its boot count.
pub mod m4_status {
    pub const BASE: u32 = 0x202C_0200;
    pub const READY: u32 = 0x4D34_5550; // "M4UP"
    pub const BOOTS: u32 = BASE + 4;
}

pub fn read(addr: u32) -> u32 {
    // SAFETY: a device register or shared RAM word of the RT1176 memory map.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

pub fn write(addr: u32, v: u32) {
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

pub fn read_words<const N: usize>(addr: u32) -> [f32; N] {
    core::array::from_fn(|i| f32::from_bits(read(addr + 4 * i as u32)))
}

pub fn write_words(addr: u32, w: &[f32]) {
    for (i, x) in w.iter().enumerate() {
        write(addr + 4 * i as u32, x.to_bits());
    }
}

pub fn read_u32s<const N: usize>(addr: u32) -> [u32; N] {
    core::array::from_fn(|i| read(addr + 4 * i as u32))
}

pub fn write_u32s(addr: u32, w: &[u32]) {
    for (i, x) in w.iter().enumerate() {
        write(addr + 4 * i as u32, *x);
    }
}

/// Enable external interrupt `irq` in the NVIC (ARMv7-M B3.4: NVIC_ISER).
pub fn nvic_enable(irq: u16) {
    write(0xE000_E100 + 4 * (u32::from(irq) / 32), 1 << (irq % 32));
}

/// Default-NaN mode (FPSCR.DN, ARMv7-M A2.5.3) in thread mode and, through FPDSCR.DN
/// (B3.2.21), in every handler's FP context: every NaN result is the default NaN, as on the
/// hosted runtime (sim/src/hosted, `default_nan`), so outputs compare bit for bit with wasm.
pub fn fpu_default_nan() {
    const DN: u32 = 1 << 25;
    write(0xE000_EF3C, read(0xE000_EF3C) | DN); // FPDSCR
                                                // SAFETY: a read-modify-write of FPSCR; the FPU is enabled by cortex-m-rt's reset.
    unsafe {
        core::arch::asm!(
            "vmrs {t}, fpscr",
            "orr {t}, {t}, {dn}",
            "vmsr fpscr, {t}",
            t = out(reg) _,
            dn = in(reg) DN,
        );
    }
}

/// DWT CYCCNT (ARMv7-M C1.8): enable through DEMCR.TRCENA and DWT_CTRL.CYCCNTENA.
pub fn cycles_enable() {
    write(0xE000_EDFC, read(0xE000_EDFC) | (1 << 24));
    write(0xE000_1000, read(0xE000_1000) | 1);
}

pub fn cycles() -> u32 {
    read(0xE000_1004)
}

/// GPT2 free-running at 24 MHz: the time base both cores stamp with.
pub fn timebase_start() {
    if read(GPT2 + GPT_CR) & GPT_CR_EN == 0 {
        write(GPT2 + GPT_PR, 0);
        write(
            GPT2 + GPT_CR,
            GPT_CR_FRR | GPT_CR_CLK_ROOT | GPT_CR_ENMOD | GPT_CR_EN,
        );
    }
}

pub fn timebase() -> u32 {
    read(GPT2 + GPT_CNT)
}

/// A synth-compiled module instance under the embedder ABI (pulseengine.md §1B): its globals
/// table (R9), memory size (R10) and linear memory (R11), which [`Instance::call`] sets
/// around every export call.
pub struct Instance {
    regs: [u32; 3],
}

extern "C" {
    /// r0: the export's four i32 arguments, r1: the export, r2: [R9, R10, R11].
    fn hil_call_export(args: *const u32, f: u32, regs: *const u32) -> u32;
    /// r0: the export's sixteen f32 arguments (S0-S15, AAPCS-VFP), r1, r2 as above.
    fn hil_call_export_f32(args: *const f32, f: u32, regs: *const u32) -> u32;
}

// Saves r4-r11 (synth's code preserves r4-r8 and never writes r9-r11, but the embedder owns
// them), loads R9-R11 from the table and R0-R3 from the arguments, calls the export,
// restores. Ten registers pushed keep the stack 8-byte aligned (AAPCS).
core::arch::global_asm!(
    ".section .text.hil_call_export,\"ax\",%progbits",
    ".global hil_call_export",
    ".type hil_call_export,%function",
    ".thumb_func",
    "hil_call_export:",
    "  push {{r3-r11, lr}}",
    "  mov r12, r1",
    "  ldr r9, [r2, #0]",
    "  ldr r10, [r2, #4]",
    "  ldr r11, [r2, #8]",
    "  mov r4, r0",
    "  ldr r0, [r4, #0]",
    "  ldr r1, [r4, #4]",
    "  ldr r2, [r4, #8]",
    "  ldr r3, [r4, #12]",
    "  blx r12",
    "  pop {{r3-r11, pc}}",
);

// The same for exports whose parameters are all f32 (up to sixteen): S0-S15 from the array
// (caller-saved under AAPCS-VFP, so nothing to restore).
core::arch::global_asm!(
    ".section .text.hil_call_export_f32,\"ax\",%progbits",
    ".global hil_call_export_f32",
    ".type hil_call_export_f32,%function",
    ".fpu fpv4-sp-d16",
    ".thumb_func",
    "hil_call_export_f32:",
    "  push {{r3-r11, lr}}",
    "  mov r12, r1",
    "  ldr r9, [r2, #0]",
    "  ldr r10, [r2, #4]",
    "  ldr r11, [r2, #8]",
    "  vldmia r0, {{s0-s15}}",
    "  blx r12",
    "  pop {{r3-r11, pc}}",
);

impl Instance {
    /// Initialise an instance: zero `memory`, copy the active data segments in, and fill
    /// `globals` with the initial values (both from the companion `.wasm`, by hil-build).
    ///
    /// # Safety
    /// `memory` and `globals` must be exclusively the instance's for the program's life.
    pub unsafe fn new(
        memory: &'static mut [u8],
        globals: &'static mut [u8],
        globals_init: &[u8],
        data: &[(u32, &[u8])],
    ) -> Instance {
        memory.fill(0);
        for (off, bytes) in data {
            let at = *off as usize;
            memory[at..at + bytes.len()].copy_from_slice(bytes);
        }
        globals.copy_from_slice(globals_init);
        Instance {
            regs: [
                globals.as_ptr() as u32,
                memory.len() as u32,
                memory.as_ptr() as u32,
            ],
        }
    }

    /// Call an export with up to four i32 arguments; its i32 result (R0).
    pub fn call(&self, export: unsafe extern "C" fn(), args: [u32; 4]) -> u32 {
        // SAFETY: `export` is a function of synth's object, which follows AAPCS and the
        // embedder ABI; the registers it expects are set by the trampoline.
        unsafe { hil_call_export(args.as_ptr(), export as usize as u32, self.regs.as_ptr()) }
    }

    /// Call an export whose parameters are up to sixteen f32 (S0-S15); its i32 result (R0).
    pub fn call_f32(&self, export: unsafe extern "C" fn(), args: &[f32]) -> u32 {
        let mut s = [0.0f32; 16];
        s[..args.len()].copy_from_slice(args);
        // SAFETY: as for `call`; the trampoline loads S0-S15 from `s`.
        unsafe { hil_call_export_f32(s.as_ptr(), export as usize as u32, self.regs.as_ptr()) }
    }

    /// Write 32-bit words at linear-memory offset `off`.
    pub fn put_u32s(&self, off: u32, w: &[u32]) {
        assert!(off as usize + 4 * w.len() <= self.memory_bytes() as usize);
        write_u32s(self.addr(off), w);
    }

    /// `cabi_realloc(0, 0, align, size)`: a buffer in linear memory, as a canonical-ABI host
    /// asks for one (the flight module's is a bump arena). Its offset.
    pub fn alloc(&self, cabi_realloc: unsafe extern "C" fn(), align: u32, size: u32) -> u32 {
        let p = self.call(cabi_realloc, [0, 0, align, size]);
        assert!(p
            .checked_add(size)
            .is_some_and(|end| end <= self.memory_bytes()));
        p
    }

    /// Write f32 words at linear-memory offset `off`.
    pub fn put(&self, off: u32, w: &[f32]) {
        assert!(off as usize + 4 * w.len() <= self.memory_bytes() as usize);
        write_words(self.addr(off), w);
    }

    /// Read N f32 words at linear-memory offset `off`.
    pub fn get<const N: usize>(&self, off: u32) -> [f32; N] {
        assert!(off as usize + 4 * N <= self.memory_bytes() as usize);
        read_words(self.addr(off))
    }

    /// The address of linear-memory offset `off`.
    pub fn addr(&self, off: u32) -> u32 {
        self.regs[2] + off
    }

    pub fn memory_bytes(&self) -> u32 {
        self.regs[1]
    }
}

/// The image's flight-module instance: its linear memory and globals table as statics of the
/// calling crate, initialised from the tables `hil-build` generated into that crate's
/// `wasm_init.rs` (`MEMORY_BYTES`, `GLOBALS_BYTES`, `GLOBALS_INIT`, `DATA`, which must be in
/// scope). Expand it once, in `main`.
#[macro_export]
macro_rules! flight_instance {
    () => {{
        #[repr(C, align(8))]
        struct Aligned<T>(T);
        static mut MEMORY: Aligned<[u8; MEMORY_BYTES]> = Aligned([0; MEMORY_BYTES]);
        static mut GLOBALS: Aligned<[u8; GLOBALS_BYTES]> = Aligned([0; GLOBALS_BYTES]);
        // SAFETY: the statics belong to this expansion alone, which `main` runs once.
        unsafe {
            $crate::Instance::new(
                &mut (*core::ptr::addr_of_mut!(MEMORY)).0,
                &mut (*core::ptr::addr_of_mut!(GLOBALS)).0,
                &GLOBALS_INIT,
                DATA,
            )
        }
    }};
}

/// Set by the interrupt handlers, taken by the loops: bit n = event n happened.
pub struct Flags(AtomicU32);

impl Default for Flags {
    fn default() -> Self {
        Self::new()
    }
}

impl Flags {
    pub const fn new() -> Flags {
        Flags(AtomicU32::new(0))
    }
    /// Sleep (WFI) until one of `bits` is raised; take and return them. Interrupts are masked
    /// between the check and the WFI, so a raise in between still wakes it (ARMv7-M B1.5.19:
    /// WFI wakes on a pending interrupt even with PRIMASK set).
    pub fn wait(&self, bits: u32) -> u32 {
        loop {
            cortex_m::interrupt::disable();
            let got = self.take(bits);
            if got == 0 {
                cortex_m::asm::wfi();
            }
            // SAFETY: re-enabling what this function disabled; no critical section is open.
            unsafe { cortex_m::interrupt::enable() };
            if got != 0 {
                return got;
            }
        }
    }
    pub fn raise(&self, bits: u32) {
        self.0.fetch_or(bits, Ordering::AcqRel);
    }
    /// Take and clear `bits`; which of them were set.
    pub fn take(&self, bits: u32) -> u32 {
        self.0.fetch_and(!bits, Ordering::AcqRel) & bits
    }
}

/// External interrupts of the RT1176 [4].
pub const IRQS: usize = 218;

extern "Rust" {
    /// Each image's interrupt handler, called with the external IRQ number.
    fn hil_irq(irq: u16);
}

#[no_mangle]
extern "C" fn hil_irq_entry() {
    let ipsr: u32;
    // SAFETY: reading IPSR has no side effect.
    unsafe { core::arch::asm!("mrs {}, ipsr", out(reg) ipsr) };
    // SAFETY: every image defines `hil_irq`.
    unsafe { hil_irq((ipsr & 0x1FF).saturating_sub(16) as u16) }
}

#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
pub static __INTERRUPTS: [extern "C" fn(); IRQS] = [hil_irq_entry; IRQS];

/// A fault parks the core asleep with interrupts off: the host sees the link stall (and, in
/// the twin, where the core stopped) instead of a core spinning in a fault loop.
#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    cortex_m::interrupt::disable();
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    loop {
        cortex_m::asm::wfi();
    }
}
