//! The debugger's view of the machine (`twin_machine::debug`, `Machine::run_debug`):
//! breakpoints, watchpoints, steps and interruptions on the dual-core ping-pong firmware, each
//! checked against what the firmware's source says must happen there and against the same run
//! without the debugger (a run that was stopped and resumed must count the same instructions
//! and end the same way).

#[path = "../../../tests/common/build.rs"]
mod build;
#[path = "../../../tests/common/firmware.rs"]
mod firmware;
#[allow(unused_imports)]
mod common {
    pub use super::build::*;
    pub use super::firmware::*;
}

use common::*;
use twin_machine::debug::{self, Access, Event};
use twin_machine::image::Image;
use twin_machine::machine::{Machine, Stop};
use twin_machine::time::{PS_PER_S, PS_PER_US};

/// OCRAM1 word [1]: the CM4's reply count (targets/firmware m4 pingpong).
const REPLIES: u32 = 0x2024_0004;

fn pingpong() -> Machine {
    let mut r = run(Some("pingpong"), Some("pingpong"), 0);
    assert_eq!(r.stop, Stop::Timeout);
    r.machine.attach_debugger(false);
    r.machine
}

/// (instructions, cycles) per core and the exit, of a run to the end.
fn outcome(m: &mut Machine) -> (Vec<(u64, u64)>, Stop, String) {
    let stop = m.run_debug(PS_PER_S, None, &mut || false);
    let counts = m
        .summary()
        .iter()
        .map(|c| (c.instructions, c.cycles))
        .collect();
    (counts, stop, m.output(0))
}

fn undisturbed() -> (Vec<(u64, u64)>, Stop, String) {
    outcome(&mut pingpong())
}

fn read_u32(m: &mut Machine, core: usize, addr: u32) -> u32 {
    let mut b = [0u8; 4];
    m.engine(core).mem_read(u64::from(addr), &mut b).unwrap();
    u32::from_le_bytes(b)
}

#[test]
fn a_write_watchpoint_on_shared_ocram_stops_the_writing_core_and_time_is_untouched() {
    let mut m = pingpong();
    for core in 0..2 {
        assert!(debug::add_watchpoint(m.engine(core), REPLIES, 4, Access::Write).unwrap());
    }
    let stop = m.run_debug(PS_PER_S, None, &mut || false);
    let Stop::Debug { core, event } = stop else {
        panic!("{stop:?}");
    };
    // Only the CM4 writes the reply count; its first reply is 1.
    assert_eq!(core, "m4");
    let Event::Watch { addr, access, pc } = event else {
        panic!("{event:?}");
    };
    assert_eq!((addr, access), (REPLIES, Access::Write));
    assert_eq!(read_u32(&mut m, 0, REPLIES), 1);
    // The writing instruction is a store in the CM4's image.
    let mut insn = [0u8; 2];
    m.engine(1).mem_read(u64::from(pc), &mut insn).unwrap();
    assert_eq!(
        u16::from_le_bytes(insn) >> 11,
        0b01100,
        "STR (immediate) T1 at {pc:#x}"
    );
    for core in 0..2 {
        assert!(debug::remove_watchpoint(
            m.engine(core),
            REPLIES,
            4,
            Access::Write
        ));
    }
    // One step of the CM4, as GDB does to move off a watchpoint, then on to the end.
    let stop = m.run_debug(PS_PER_S, Some(1), &mut || false);
    assert_step(&stop);
    assert_eq!(outcome(&mut m), undisturbed());
}

/// The MU's receive interrupt: IRQ 118 (the firmware's `set_handler(118, on_mu)`).
const MU_EXCEPTION: u32 = 16 + 118;

fn ipsr(m: &mut Machine, core: usize) -> u32 {
    m.engine(core)
        .reg_read(unicorn_engine::RegisterARM::XPSR)
        .unwrap() as u32
        & 0x1FF
}

fn pc(m: &mut Machine, core: usize) -> u32 {
    m.engine(core)
        .reg_read(unicorn_engine::RegisterARM::PC)
        .unwrap() as u32
}

/// A step's stop, on any core.
fn assert_step(stop: &Stop) {
    assert!(
        matches!(
            stop,
            Stop::Debug {
                event: Event::Step,
                ..
            }
        ),
        "{stop:?}"
    );
}

fn instructions(m: &Machine) -> Vec<u64> {
    m.summary().iter().map(|c| c.instructions).collect()
}

#[test]
fn a_breakpoint_stops_before_its_instruction_in_the_handler_each_round() {
    let image = Image::load(&fw("m7", "pingpong")).unwrap();
    let on_mu = image
        .symbols
        .address_of("pingpong::pingpong::on_mu")
        .expect("on_mu in the CM7 image")
        & !1;
    let round = image
        .symbols
        .address_of("pingpong::pingpong::ROUND")
        .expect("ROUND in the CM7 image");
    let mut m = pingpong();
    assert!(debug::add_breakpoint(m.engine(0), on_mu).unwrap());
    for k in 0..5 {
        let stop = m.run_debug(PS_PER_S, None, &mut || false);
        assert_eq!(
            stop,
            Stop::Debug {
                core: "m7".into(),
                event: Event::Breakpoint { pc: on_mu }
            }
        );
        assert_eq!(pc(&mut m, 0), on_mu);
        // In the MU handler, before the round's increment: k rounds done.
        assert_eq!(ipsr(&mut m, 0), MU_EXCEPTION);
        assert_eq!(read_u32(&mut m, 0, round), k);
    }
    assert!(debug::remove_breakpoint(m.engine(0), on_mu));
    assert!(!debug::remove_breakpoint(m.engine(0), on_mu));
    assert_eq!(outcome(&mut m), undisturbed());
}

#[test]
fn steps_run_one_instruction_each_and_enter_exceptions_at_the_vector() {
    let mut m = pingpong();
    // From reset, the CM7 alone runs: each step is one instruction of the CM7.
    for _ in 0..50 {
        let before = instructions(&m);
        let stop = m.run_debug(PS_PER_S, Some(0), &mut || false);
        assert_eq!(
            stop,
            Stop::Debug {
                core: "m7".into(),
                event: Event::Step
            }
        );
        let after = instructions(&m);
        assert_eq!(after[0], before[0] + 1);
        assert_eq!(after[1], before[1]);
    }
    // Run into the rounds, then step the CM4, which sleeps in WFI waiting for the CM7's next
    // message: the step ends where the MU interrupt enters its handler, at the address of the
    // CM4's vector 134, with IPSR 134.
    let stop = m.run_debug(m.now() + 100 * PS_PER_US, None, &mut || false);
    assert_eq!(stop, Stop::Timeout);
    let vtor = read_u32(&mut m, 1, 0xE000_ED08);
    let vector = read_u32(&mut m, 1, vtor + 4 * MU_EXCEPTION) & !1;
    let mut entered = false;
    for _ in 0..20 {
        let before = instructions(&m)[1];
        let stop = m.run_debug(PS_PER_S, Some(1), &mut || false);
        assert_step(&stop);
        if ipsr(&mut m, 1) == MU_EXCEPTION && pc(&mut m, 1) == vector {
            // The entry itself runs no instruction.
            assert_eq!(instructions(&m)[1], before);
            entered = true;
            break;
        }
    }
    assert!(entered, "no step ended at the CM4's MU vector {vector:#x}");
    // The handler's first instruction is a 16-bit PUSH (fw_irq_entry).
    let before = instructions(&m)[1];
    m.run_debug(PS_PER_S, Some(1), &mut || false);
    assert_eq!(instructions(&m)[1], before + 1);
    assert_eq!(pc(&mut m, 1), vector + 2);
    assert_eq!(outcome(&mut m), undisturbed());
}

#[test]
fn an_interrupted_run_goes_on_as_if_never_stopped() {
    let mut m = pingpong();
    let mut stops = 0;
    loop {
        let mut asked = 0;
        let stop = m.run_debug(PS_PER_S, None, &mut || {
            asked += 1;
            asked > 37
        });
        if stop != Stop::Interrupted {
            break;
        }
        stops += 1;
    }
    assert!(stops > 10, "only {stops} interruptions");
    let counts: Vec<(u64, u64)> = m
        .summary()
        .iter()
        .map(|c| (c.instructions, c.cycles))
        .collect();
    assert_eq!(counts, undisturbed().0);
}

#[test]
fn faults_stop_for_the_debugger_at_their_handlers_then_run_on_unchanged() {
    let plain = run(Some("faults"), None, PS_PER_S);
    exited_ok(&plain);
    let mut m = powered("faults");
    m.attach_debugger(true);
    let mut faults = Vec::new();
    let stop = loop {
        match m.run_debug(PS_PER_S, None, &mut || false) {
            Stop::Debug {
                event: Event::Fault { kind },
                ..
            } => faults.push((kind, ipsr(&mut m, 0))),
            other => break other,
        }
    };
    // The firmware's three faults (its output: a BusFault on 0x5000_0000, a UsageFault for an
    // undefined instruction, a BusFault on 0x5000_0004 escalated to HardFault), each stopped at
    // the handler it was taken to.
    use twin_machine::core::FaultKind;
    assert_eq!(faults.len(), 3, "{faults:?}");
    assert!(
        matches!(
            faults[0],
            (
                FaultKind::DataBus {
                    addr: 0x5000_0000,
                    ..
                },
                5
            )
        ),
        "{faults:?}"
    );
    assert!(
        matches!(faults[1], (FaultKind::Undefined { .. }, 6)),
        "{faults:?}"
    );
    assert!(
        matches!(
            faults[2],
            (
                FaultKind::DataBus {
                    addr: 0x5000_0004,
                    ..
                },
                3
            )
        ),
        "{faults:?}"
    );
    assert_eq!(stop, plain.stop);
    assert_eq!(m.output(0), plain.output);
    assert_eq!(instructions(&m), instructions(&plain.machine));
}

/// A breakpoint on an instruction inside an IT block is not hit (Unicorn runs an IT block as
/// one instruction and will not stop inside it; docs/gdb.md): the run goes on exactly as
/// without it, here into a WFI that must put the core to sleep.
///   movs r2, #0 ; cmp r2, #0 ; itt eq ; addeq r2, #1 ; addeq r2, #1 ; wfi ; exit 1
#[test]
fn a_breakpoint_inside_an_it_block_is_not_hit_and_changes_nothing() {
    const CODE: [u8; 18] = [
        0x00, 0x22, 0x00, 0x2A, 0x04, 0xBF, 0x01, 0x32, 0x01, 0x32, 0x30, 0xBF, 0x18, 0x20, 0x01,
        0x21, 0xAB, 0xBE,
    ];
    const EXIT_FAIL: [u8; 6] = [0x18, 0x20, 0x01, 0x21, 0xAB, 0xBE];
    let first_addeq = 0x40 + 6;
    let run = |bp: bool| {
        let mut m = Machine::new(
            twin_machine::board::Board::rt1176(),
            &twin_machine::machine::Config::default(),
        )
        .unwrap();
        m.load("m7", &tiny_image(0x0, 0x2000_1000, &CODE, &EXIT_FAIL))
            .unwrap();
        m.power_on().unwrap();
        m.attach_debugger(false);
        if bp {
            debug::add_breakpoint(m.engine(0), first_addeq).unwrap();
        }
        let stop = m.run_debug(PS_PER_US * 100, None, &mut || false);
        let r2 = m
            .engine(0)
            .reg_read(unicorn_engine::RegisterARM::R2)
            .unwrap();
        (stop, m.state(0), instructions(&m)[0], r2)
    };
    let plain = run(false);
    assert_eq!(
        plain,
        (
            Stop::Timeout,
            twin_machine::machine::CoreState::Sleeping,
            6,
            2
        )
    );
    assert_eq!(run(true), plain);
}
