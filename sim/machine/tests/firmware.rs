//! Known-answer tests of the emulated RT1176 with the test firmware in targets/firmware.
//! Every expectation comes from the ARMv7-M Architecture Reference Manual, rt1176.md or an
//! independent model written here, never from a captured run of the twin.

// The shared test helpers this crate can use (tests/common).
#[path = "../../../tests/common/build.rs"]
mod build;
#[path = "../../../tests/common/firmware.rs"]
mod firmware;
#[allow(unused_imports)] // each test binary uses some of the helpers
mod common {
    pub use super::build::*;
    pub use super::firmware::*;
}

use common::*;
use twin_machine::machine::{CoreState, Machine, Stop};
use twin_machine::time::{PS_PER_MS, PS_PER_S};

#[test]
fn semihosting_hello() {
    let r = run(Some("hello"), None, PS_PER_S);
    exited_ok(&r);
    assert_eq!(r.output, "hello from the cortex-m7\n");
}

#[test]
fn nesting_tail_chaining_basepri_and_primask_follow_the_priority_rules() {
    let r = run(Some("nested"), None, PS_PER_S);
    exited_ok(&r);
    assert!(
        r.output.contains("log=L1HhlL2lxHhML3lyHhL4l"),
        "{}",
        r.output
    );
}

#[test]
fn pendsv_svc_context_switch_on_psp() {
    let r = run(Some("context"), None, PS_PER_S);
    exited_ok(&r);
    assert!(r.output.contains("log=ABABABABAB errors=0"), "{}", r.output);
}

#[test]
fn fp_interrupt_uses_the_extended_frame() {
    let r = run(Some("fp_irq"), None, PS_PER_S);
    exited_ok(&r);
    // EXC_RETURN 0xFFFF_FFE9: return to thread mode, main stack, extended (FP) frame.
    assert!(
        r.output
            .contains("handled=1 exc_return=0xffffffe9 preserved=16/16"),
        "{}",
        r.output
    );
}

#[test]
fn faults_set_the_architectural_status_bits() {
    let r = run(Some("faults"), None, PS_PER_S);
    exited_ok(&r);
    let expected = "busfault ipsr=5 cfsr=0x00008200 bfar=0x50000000\n\
                    usagefault ipsr=6 cfsr=0x00010000\n\
                    hardfault hfsr=0x40000000 cfsr=0x00008200 bfar=0x50000004\n";
    assert_eq!(r.output, expected);
}

#[test]
fn exception_frame_alignment_and_faultmask() {
    let r = run(Some("align"), None, PS_PER_S);
    exited_ok(&r);
    assert_eq!(
        r.output,
        "align sp_mod8=4 restored=true stacked_xpsr_bit9=1\nfaultmask held=true taken_after=true\n"
    );
}

#[test]
fn malformed_elf_never_panics() {
    let good = std::fs::read(fw("m7", "hello")).unwrap();
    let mut cases: Vec<Vec<u8>> = (0..good.len())
        .step_by(61)
        .map(|n| good[..n].to_vec())
        .collect();
    // Seeded byte corruption of the headers and the first segment (deterministic LCG).
    let mut x = 0x2545_F491u32;
    for _ in 0..300 {
        let mut b = good.clone();
        for _ in 0..4 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let at = (x as usize >> 8) % 0x400.min(b.len());
            b[at] = (x >> 24) as u8;
        }
        cases.push(b);
    }
    for (i, bytes) in cases.iter().enumerate() {
        let result = std::panic::catch_unwind(|| {
            if let Ok(img) = twin_machine::image::Image::parse(bytes, "mangled.elf") {
                let mut m = twin_machine::machine::Machine::new(
                    twin_machine::board::Board::rt1176(),
                    &twin_machine::machine::Config::default(),
                )
                .unwrap();
                if m.load("m7", &img).is_ok() && m.power_on().is_ok() {
                    let _ = m.run_for(PS_PER_MS);
                }
            }
        });
        assert!(result.is_ok(), "case {i} panicked");
    }
}

#[test]
fn bad_exc_return_raises_invpc() {
    let r = run(Some("bad_excreturn"), None, PS_PER_S);
    exited_ok(&r);
    assert_eq!(r.output, "usagefault cfsr=0x00040000\n");
}

#[test]
fn fault_in_hardfault_is_a_lockup_not_a_crash() {
    let r = run(Some("lockup"), None, PS_PER_S);
    match &r.stop {
        Stop::Lockup { core, detail } => {
            assert_eq!(core, "m7");
            assert!(detail.contains("0x50000008"), "{detail}");
            assert!(detail.contains("HardFault"), "{detail}");
        }
        other => panic!("expected a lockup, got {other:?}"),
    }
}

/// A 1 kHz interrupt source measured by the firmware's RateProbe: 1000 interrupts in one
/// virtual second, exactly 10^9 CM7 cycles across 1000 periods.
fn assert_one_khz(firmware: &str) {
    let r = run(Some(firmware), None, 2 * PS_PER_S);
    exited_ok(&r);
    assert_eq!(
        r.output,
        format!("{firmware} irqs_in_1s=1000 cycles_irq1_to_irq1001=1000000000\n")
    );
}

#[test]
fn systick_counts_exactly_1000_ticks_per_virtual_second() {
    // RVR = 999 999 at 1 GHz: a tick every 1 000 000 cycles.
    assert_one_khz("systick");
}

#[test]
fn gpt_compare_at_1khz() {
    assert_one_khz("gpt");
}

#[test]
fn pit_channel_at_1khz() {
    assert_one_khz("pit");
}

#[test]
fn semihosting_clocks_follow_virtual_time() {
    let r = run(Some("clock"), None, PS_PER_S);
    exited_ok(&r);
    // 10 000 000 cycles at 1 GHz = 10 ms = 1 centisecond; the tick frequency is the core clock.
    let line = r.output.trim();
    assert!(
        line.starts_with("clock centis=1 elapsed_ticks=100000"),
        "{line}"
    );
    assert!(line.ends_with("tickfreq=1000000000"), "{line}");
}

#[test]
fn idle_minute_is_almost_all_sleep() {
    let r = run(Some("idle"), None, 61 * PS_PER_S);
    exited_ok(&r);
    assert_eq!(r.output, "idle ticks=60000\n");
    let m7 = &r.machine.summary()[0];
    assert!(m7.sleep_share > 0.999, "sleep share {}", m7.sleep_share);
    // A handful of instructions per tick, not a busy loop.
    assert!(
        m7.instructions < 60_000 * 40,
        "{} instructions",
        m7.instructions
    );
    assert_eq!(m7.exceptions_taken, 60_000);
}

#[test]
fn wfe_sleeps_until_an_exception() {
    let r = run(Some("wfe"), None, PS_PER_S);
    exited_ok(&r);
    assert_eq!(r.output, "wfe ticks=100\n");
    let m7 = &r.machine.summary()[0];
    assert!(m7.sleep_share > 0.99, "sleep share {}", m7.sleep_share);
}

#[test]
fn dual_core_mu_pingpong() {
    let r = run(Some("pingpong"), Some("pingpong"), PS_PER_S);
    exited_ok(&r);
    let expected = format!(
        "pingpong rounds=1000 checksum={:#010x} m4_replies=1000 m4_boots=1\n",
        pingpong_checksum(1000)
    );
    assert_eq!(r.output, expected);
    let s = r.machine.summary();
    assert_eq!(s[0].irqs_taken, 1000, "CM7 MU receive interrupts");
    assert_eq!(s[1].irqs_taken, 1000, "CM4 MU receive interrupts");
}

#[test]
fn cm4_software_reset_reboots_it_from_its_local_address() {
    // rt1176.md 1.3: the CM4 already runs; CTRL_M4CORE.SW_RESET with GPR0/1 = 0x1FFE_0000.
    let mut m = twin_machine::machine::Machine::new(
        twin_machine::board::Board::rt1176(),
        &twin_machine::machine::Config {
            m4_running: true,
            ..Default::default()
        },
    )
    .unwrap();
    let load = |m: &mut twin_machine::machine::Machine, core: &str, name: &str| {
        m.load(
            core,
            &twin_machine::image::Image::load(&fw(core, name)).unwrap(),
        )
        .unwrap()
    };
    load(&mut m, "m7", "pingpong_swreset");
    load(&mut m, "m4", "pingpong");
    m.power_on().unwrap();
    let stop = m.run_for(PS_PER_S);
    assert_eq!(
        stop,
        Stop::Exit {
            core: "m7".into(),
            code: 0
        }
    );
    assert_eq!(
        m.output(0),
        format!(
            "pingpong rounds=1000 checksum={:#010x} m4_replies=1000 m4_boots=2\n",
            pingpong_checksum(1000)
        )
    );
}

#[test]
fn cm4_is_held_until_released() {
    // The CM7 image never releases it: the CM4 stays in reset and runs nothing.
    let mut r = run(Some("idle"), Some("pingpong"), 5 * PS_PER_MS);
    assert_eq!(r.stop, Stop::Timeout);
    assert_eq!(r.machine.state(1), CoreState::Held);
    assert_eq!(r.machine.summary()[1].instructions, 0);
    // SRC's STAT_M4CORE.UNDER_RST reads 1 while held.
    let soc = r.machine.soc.clone();
    assert_eq!(soc.borrow().src.read(0x290).unwrap() & 1, 1);
    let _ = r.machine.engine(0);
}

#[test]
fn same_images_give_bit_identical_results() {
    let a = run(Some("pingpong"), Some("pingpong"), PS_PER_S);
    let b = run(Some("pingpong"), Some("pingpong"), PS_PER_S);
    assert_eq!(a.output, b.output);
    assert_eq!(a.machine.now(), b.machine.now());
    let (sa, sb) = (a.machine.summary(), b.machine.summary());
    for (x, y) in sa.iter().zip(sb.iter()) {
        assert_eq!(
            (x.instructions, x.cycles, x.sleep_ps, x.irqs_taken, x.pc),
            (y.instructions, y.cycles, y.sleep_ps, y.irqs_taken, y.pc)
        );
    }
}

// vmul.f64 d0, d0, d1 ; movs r0, #0x18 (SYS_EXIT) ; movw r1, #0x26 ; movt r1, #2 ; bkpt 0xab
const VMUL_F64_THEN_EXIT_OK: [u8; 16] = [
    0x20, 0xEE, 0x01, 0x0B, 0x18, 0x20, 0x40, 0xF2, 0x26, 0x01, 0xC0, 0xF2, 0x02, 0x01, 0xAB, 0xBE,
];
// HardFault: movs r0, #0x18 ; movs r1, #1 (not ApplicationExit) ; bkpt 0xab -> exit code 1
const EXIT_FAIL: [u8; 6] = [0x18, 0x20, 0x01, 0x21, 0xAB, 0xBE];

/// `image` run on `core` for a millisecond: how it stopped, and the machine.
fn run_tiny_machine(core: &str, image: twin_machine::image::Image) -> (Stop, Machine) {
    let mut m = Machine::new(
        twin_machine::board::Board::rt1176(),
        &twin_machine::machine::Config::default(),
    )
    .unwrap();
    m.load(core, &image).unwrap();
    m.power_on().unwrap();
    (m.run_for(PS_PER_MS), m)
}

fn run_tiny(core: &str, image: twin_machine::image::Image) -> Stop {
    run_tiny_machine(core, image).0
}

#[test]
fn cpu_models_cm7_has_double_precision_cm4_does_not() {
    // reference/unicorn.md: THUMB|MCLASS would give a Cortex-M33 on both; the twin selects the
    // M7 and M4 models, so f64 arithmetic runs on the CM7 and is undefined on the CM4.
    let m7 = run_tiny(
        "m7",
        tiny_image(0x0, 0x2000_1000, &VMUL_F64_THEN_EXIT_OK, &EXIT_FAIL),
    );
    assert_eq!(
        m7,
        Stop::Exit {
            core: "m7".into(),
            code: 0
        }
    );
    let m4 = run_tiny(
        "m4",
        tiny_image(0x1FFE_0000, 0x2000_1000, &VMUL_F64_THEN_EXIT_OK, &EXIT_FAIL),
    );
    assert_eq!(
        m4,
        Stop::Exit {
            core: "m4".into(),
            code: 1
        },
        "the CM4 must take a fault on vmul.f64"
    );
}

/// Code written through the data path runs, and runs again as rewritten: an OCRAM page that
/// first took stores as data, then code, then a store that changes the code. (The twin fills
/// Unicorn's TLB itself, executable only on pages code was fetched from, so that data stores
/// run on Unicorn's fast path; a code page must keep catching writes to its code.)
/// Assembled with llvm-mc -triple=thumbv7em-none-eabi:
///   movw/movt r4, 0x2024_0000 ; movw/movt r1, 0x4770_2001 ("movs r0, #1 ; bx lr")
///   str r1, [r4] ; dsb ; isb ; orr r5, r4, #1 ; blx r5 ; mov r6, r0
///   movw/movt r1, 0x4770_2002 ("movs r0, #2 ; bx lr") ; str r1, [r4] ; dsb ; isb ; blx r5
///   add r0, r6 ; cmp r0, #3 ; bne fail ; exit 0 ; fail: exit 1
const SELF_MODIFYING: [u8; 78] = [
    0x40, 0xF2, 0x00, 0x04, 0xC2, 0xF2, 0x24, 0x04, 0x42, 0xF2, 0x01, 0x01, 0xC4, 0xF2, 0x70, 0x71,
    0x21, 0x60, 0xBF, 0xF3, 0x4F, 0x8F, 0xBF, 0xF3, 0x6F, 0x8F, 0x44, 0xF0, 0x01, 0x05, 0xA8, 0x47,
    0x06, 0x46, 0x42, 0xF2, 0x02, 0x01, 0xC4, 0xF2, 0x70, 0x71, 0x21, 0x60, 0xBF, 0xF3, 0x4F, 0x8F,
    0xBF, 0xF3, 0x6F, 0x8F, 0xA8, 0x47, 0x30, 0x44, 0x03, 0x28, 0x05, 0xD1, 0x18, 0x20, 0x40, 0xF2,
    0x26, 0x01, 0xC0, 0xF2, 0x02, 0x01, 0xAB, 0xBE, 0x18, 0x20, 0x01, 0x21, 0xAB, 0xBE,
];

/// `code` (from its reset handler, EXIT_FAIL as HardFault) on each core from its own code
/// memory: it must exit 0.
fn exits_ok_on_both_cores(code: &[u8], why: &str) {
    for (core, base) in [("m7", 0x0), ("m4", 0x1FFE_0000)] {
        let stop = run_tiny(core, tiny_image(base, 0x2000_1000, code, &EXIT_FAIL));
        assert_eq!(
            stop,
            Stop::Exit {
                core: core.into(),
                code: 0
            },
            "{core}: {why}"
        );
    }
}

#[test]
fn code_written_as_data_runs_and_runs_again_when_rewritten() {
    exits_ok_on_both_cores(
        &SELF_MODIFYING,
        "the rewritten function must return 2 after returning 1",
    );
}

/// An IT block whose load misses the TLB, then flags that fail the IT condition, a branch, and
/// an unconditional add in the next block: the add must run. (Unicorn's virtual-TLB fill
/// restores the CPU state to the faulting instruction, IT bits included, which QEMU keeps at
/// zero while a block runs; left there, the next block would run as if inside the IT block.)
///   movw/movt r4, 0x2024_0000 ; movs r2, #0 ; movs r3, #0 ; cmp r2, #0
///   itt eq ; ldreq r0, [r4] ; addeq r2, #1 ; cmp r2, #5 ; b 1f
///   1: adds r3, #1 ; cmp r3, #1 ; bne fail ; exit 0 ; fail: exit 1
const IT_BLOCK_TLB_MISS: [u8; 48] = [
    0x40, 0xF2, 0x00, 0x04, 0xC2, 0xF2, 0x24, 0x04, 0x00, 0x22, 0x00, 0x23, 0x00, 0x2A, 0x04, 0xBF,
    0x20, 0x68, 0x52, 0x1C, 0x05, 0x2A, 0xFF, 0xE7, 0x5B, 0x1C, 0x01, 0x2B, 0x05, 0xD1, 0x18, 0x20,
    0x40, 0xF2, 0x26, 0x01, 0xC0, 0xF2, 0x02, 0x01, 0xAB, 0xBE, 0x18, 0x20, 0x01, 0x21, 0xAB, 0xBE,
];

#[test]
fn a_tlb_miss_inside_an_it_block_leaves_no_it_state_behind() {
    exits_ok_on_both_cores(&IT_BLOCK_TLB_MISS, "the add after the IT block must run");
}

/// A branch into the Peripheral region, execute-never in the ARMv7-M default memory map
/// (B3.1): an instruction bus error, escalated to HardFault (BusFault not enabled) with
/// CFSR.IBUSERR and HFSR.FORCED. movw r0, #1 ; movt r0, #0x4000 ; bx r0
#[test]
fn a_fetch_from_execute_never_space_is_an_instruction_bus_error() {
    let code = [0x40, 0xF2, 0x01, 0x00, 0xC4, 0xF2, 0x00, 0x00, 0x00, 0x47];
    let (stop, m) = run_tiny_machine("m7", tiny_image(0x0, 0x2000_1000, &code, &EXIT_FAIL));
    assert_eq!(
        stop,
        Stop::Exit {
            core: "m7".into(),
            code: 1
        }
    );
    let soc = m.soc.borrow();
    let e = &soc.cores[0].scs.exc;
    assert_eq!(e.cfsr & (1 << 8), 1 << 8, "IBUSERR: CFSR {:#x}", e.cfsr);
    assert_eq!(e.hfsr & (1 << 30), 1 << 30, "FORCED: HFSR {:#x}", e.hfsr);
}

/// LPUART1 (rt1176.md 3.6, the firmware's own comment has the arithmetic): the banner appears
/// on the UART, each byte a 10-bit frame of 2080 clocks of the 24 MHz root; the FIFO of four
/// holds four words in loopback and flags the fifth as an overrun; RIE raises NVIC line 20.
#[test]
fn lpuart_sends_at_the_programmed_baud_and_receives_in_loopback() {
    let r = run(Some("uart"), None, PS_PER_S);
    exited_ok(&r);
    let banner = "rt-twin: LPUART1 at 115200 baud\n";
    assert_eq!(
        r.machine.uart_text("LPUART1"),
        format!("{banner}\u{1}\u{2}\u{3}\u{4}\u{5}\u{10}\u{20}\u{30}")
    );
    // The first line: from the first write to TC, one frame per byte (+ the polling loop's
    // few cycles at each end). 32 bytes x 2080 clocks at 24 MHz = 2 773 333.3 ns.
    let line = r.output.lines().next().unwrap();
    let cycles: u64 = line
        .strip_prefix("uart tx_bytes=32 cycles=")
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    let frames_ns = 32.0 * 2080.0 / 24e6 * 1e9;
    assert!(
        (frames_ns..frames_ns + 100.0).contains(&(cycles as f64)),
        "{cycles} cycles for {frames_ns} ns"
    );
    assert!(
        r.output
            .contains("uart loop rx=[1, 2, 3, 4] or=1 then_empty=true"),
        "{}",
        r.output
    );
    assert!(r.output.contains("uart irq rx=3 sum=0x60"), "{}", r.output);
    assert!(r.machine.summary()[0].irqs_taken >= 1);
}

/// GPIO1 edges (rt1176.md 3.5; the firmware's comment has the counts): a rising-edge pin
/// toggled four times from low interrupts twice, a both-edges pin four times, each on its
/// half's line (100 for pins 0-15, 101 for pins 16-31).
#[test]
fn gpio_interrupts_follow_the_configured_edges() {
    let r = run(Some("gpio"), None, PS_PER_S);
    exited_ok(&r);
    assert_eq!(r.output, "gpio rising=2 both=4 psr20_before=0\n");
    assert_eq!(r.machine.summary()[0].irqs_taken, 6);
}

/// LPSPI2 and the ICM-42688-P behind its GPIO chip select (the firmware's comment has the
/// known answers): identity 0x47 (rt1176.md 6), a register kept, a floating bus, and two 8-bit
/// frames at 4 MHz in 4 us (plus the polling loop's few cycles).
#[test]
fn lpspi_reaches_the_imu_through_its_gpio_chip_select() {
    let r = run(Some("spi"), None, PS_PER_S);
    exited_ok(&r);
    let line = r.output.trim();
    let (head, cycles) = line.rsplit_once(" cycles=").unwrap();
    assert_eq!(head, "spi whoami=0x47 pwr_mgmt0=0xf floating=0xff");
    let cycles: u64 = cycles.parse().unwrap();
    assert!((4000..4100).contains(&cycles), "{cycles} cycles for 4 us");
}

/// The IMU's data-ready line wakes the firmware (rt1176.md 5.1 wiring; the firmware's comment):
/// each sample the twin feeds raises GPIO2 pin 7, the firmware reads the data registers over
/// LPSPI2 and INT_STATUS, which lowers the line again. The words are the sample at the reset
/// full scales (+-16 g: 2048 LSB/g; +-2000 dps: 16.384 LSB/dps; 132.48 LSB/degC from 25 degC);
/// the first INT_STATUS also carries RESET_DONE from power-on (rt1176.md 6).
#[test]
fn imu_data_ready_interrupts_and_the_sample_reads_back_scaled() {
    use twin_machine::devices::icm42688::ImuSample;
    let mut m = powered("imu");
    let g = 9.806_65;
    let samples = [
        ImuSample {
            accel: [0.0, 0.0, -g],
            gyro: [100f64.to_radians(), 0.0, 0.0],
            temp: 35.0,
        },
        ImuSample {
            accel: [g / 2.0, -g, 0.0],
            gyro: [0.0, -1f64.to_radians(), 250f64.to_radians()],
            temp: 25.0,
        },
    ];
    for s in &samples {
        assert!(matches!(m.run_for(PS_PER_MS), Stop::Timeout));
        assert!(m.soc.borrow_mut().imu_sample("LPSPI2", s));
    }
    let out = finish(&mut m, PS_PER_MS);
    assert_eq!(
        out,
        "imu 0 temp=1325 accel=[0, 0, -2048] gyro=[1638, 0, 0] int_status=0x18 drdy_now=0\n\
         imu 1 temp=0 accel=[1024, -2048, 0] gyro=[0, -16, 4096] int_status=0x8 drdy_now=0\n"
    );
    assert_eq!(
        m.summary()[0].irqs_taken,
        2,
        "one data-ready interrupt per sample"
    );
}

/// LPI2C3 and the BMP388 (the firmware's comment has the known answers): identity 0x50 after 38
/// SCL periods of 116 clocks at 24 MHz (183.67 us), a NACK from an empty address, and a reading
/// fed by the twin (25 degC, 101 325 Pa) that the firmware's own datasheet compensation turns
/// back into that reading.
#[test]
fn lpi2c_reads_the_barometer_and_its_compensation_gives_the_truth() {
    let mut m = powered("baro");
    assert!(
        matches!(m.run_for(5 * PS_PER_MS), Stop::Timeout),
        "{}",
        m.output(0)
    );
    assert!(m.soc.borrow_mut().baro_sample("LPI2C3", 25.0, 101_325.0));
    let out = finish(&mut m, PS_PER_S);
    let field = |name: &str| -> i64 {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .parse()
            .unwrap()
    };
    assert!(out.starts_with("baro chip_id=0x50 nack=1 "), "{out}");
    assert!((183_667..183_900).contains(&field("cycles")), "{out}");
    assert!((field("temp_mdegc") - 25_000).abs() <= 1, "{out}");
    assert!((field("press_cpa") - 10_132_500).abs() <= 5, "{out}");
}

/// The BMM150 on LPI2C3: suspended (reads 0) until powered, then CHIP_ID 0x32 in sleep mode;
/// in normal mode a field fed by the twin (21, -7.5, 43 uT) comes back through Bosch's
/// compensation, which the firmware applies in f32 from the trim it reads (one count is
/// ~0.35 uT, so the rounding costs up to ~0.18 uT).
#[test]
fn lpi2c_reads_the_magnetometer_and_boschs_compensation_gives_the_field() {
    let mut m = powered("mag");
    assert!(
        matches!(m.run_for(10 * PS_PER_MS), Stop::Timeout),
        "{}",
        m.output(0)
    );
    assert!(m.soc.borrow_mut().mag_sample("LPI2C3", [21.0, -7.5, 43.0]));
    let out = finish(&mut m, PS_PER_S);
    let field = |name: &str| -> i64 {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .parse()
            .unwrap()
    };
    assert!(
        out.starts_with("mag suspended_id=0 chip_id=0x32 mode=0x6 drdy_after=0 "),
        "{out}"
    );
    for (name, truth) in [("x_nt", 21_000), ("y_nt", -7_500), ("z_nt", 43_000)] {
        assert!((field(name) - truth).abs() <= 190, "{name}: {out}");
    }
}

/// The IO MCU on LPUART6 at 1.5 Mbit/s (the firmware's comment has the packets): a READ of
/// the protocol version is 6 bytes out, one idle frame and the IO's 10 us turnaround, 6 bytes
/// back: 12 frames of 6666.67 ns + 16.67 us = 96.67 us; the outputs the firmware armed are
/// what the host sees, and 500 ms after it falls silent the IO is in failsafe (outputs off).
#[test]
fn the_io_mcu_answers_px4io_packets_and_drives_the_outputs() {
    let mut m = powered("io");
    assert!(matches!(m.run_for(5 * PS_PER_MS), Stop::Timeout));
    let out = m.output(0);
    let cycles: i64 = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("cycles="))
        .unwrap_or_else(|| panic!("{out}"))
        .parse()
        .unwrap();
    assert!(out.starts_with("io code=0x0 count=1 version=4 "), "{out}");
    assert!((96_667..96_900).contains(&cycles), "{out}");
    assert!(
        out.trim_end()
            .ends_with("corrupt=0x40 servos=1000,1250,1500,1750 flags=0x14c1"),
        "{out}"
    );
    let o = m.io_outputs().unwrap();
    assert!(o.armed && !o.failsafe);
    assert_eq!(o.pwm_us, [1000, 1250, 1500, 1750, 0, 0, 0, 0]);
    assert!(matches!(m.run_for(500 * PS_PER_MS), Stop::Timeout));
    let o = m.io_outputs().unwrap();
    assert!(o.armed && o.failsafe && o.pwm_us == [0; 8], "{o:?}");
    assert!(
        m.uart_text("LPUART6").len() > 30,
        "the link's bytes are kept"
    );
}

/// FlexPWM1 SM0 as a 400 Hz ESC output with a 1500 us pulse (the firmware's comment has the
/// arithmetic): reload interrupts ten periods apart take 25 ms, and the output reads back as
/// a 2.5 ms period with a 1.5 ms high time.
#[test]
fn flexpwm_runs_an_esc_output_at_its_period_and_pulse() {
    let r = run(Some("pwm"), None, PS_PER_S);
    exited_ok(&r);
    let cycles: i64 = r
        .output
        .trim()
        .strip_prefix("pwm reloads=11 cycles=")
        .unwrap_or_else(|| panic!("{}", r.output))
        .parse()
        .unwrap();
    // Each stamp is taken a few cycles into the handler; the entry itself waits for the end of
    // the block the core is in (a WFI loop, or the set-up code for the first reload).
    assert!((cycles - 25_000_000).abs() <= 50, "{cycles}");
    let now = r.machine.now();
    let (period, high) = r
        .machine
        .soc
        .borrow_mut()
        .pwm_output("FlexPWM1", 0, now)
        .unwrap();
    assert!((period - 0.0025).abs() < 1e-12 && (high - 0.0015).abs() < 1e-12);
}

/// A GNSS fix the twin gives arrives on LPUART3 as a UBX NAV-PVT frame (the firmware's comment):
/// the firmware checks the checksum and decodes the fields back; the frame's 99 bytes after the
/// first sync byte take 99 frames of 2080 clocks at 24 MHz.
#[test]
fn a_gnss_fix_arrives_as_ubx_nav_pvt_on_the_gps_uart() {
    use twin_machine::devices::ublox::NavPvt;
    let mut m = powered("gnss");
    assert!(matches!(m.run_for(PS_PER_MS), Stop::Timeout));
    m.gnss_fix(&NavPvt {
        itow_ms: 1000,
        lat: 47.397_742,
        lon: 8.545_594,
        h_msl: 488.25,
        height: 535.0,
        vel_ned: [1.5, -0.25, 0.1],
        h_acc: 0.8,
        v_acc: 1.2,
        s_acc: 0.2,
        fix_type: 3,
        num_sv: 14,
    })
    .unwrap();
    let out = finish(&mut m, PS_PER_S);
    let (head, cycles) = out.trim().rsplit_once(" cycles=").unwrap();
    assert_eq!(
        head,
        "gnss lat=473977420 lon=85455940 hmsl=488250 vel=[1500, -250, 100] fix=3 sv=14"
    );
    // From the stop bit of 0xB5 to that of the last checksum byte: 99 frames.
    let want = 99.0 * 2080.0 / 24e6 * 1e9;
    let cycles: f64 = cycles.parse().unwrap();
    assert!(
        (want - 50.0..want + 50.0).contains(&cycles),
        "{cycles} vs {want}"
    );
}
