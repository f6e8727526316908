//! Backends per component and lockstep differential mode: the same scenario flies on wasmtime and
//! natively; lockstep (ARM and wasmtime every tick) leaves the ARM run's trace untouched and
//! catches a one-bit miscompile in the ARM object at the first tick that executes it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use crate::common::*;
use object::{Object, ObjectSection};
use twin_flight::scenario::{build_with, hosted, trace_csv, Gate, Scenario};
use twin_flight::session::run;
use twin_hosting::backend::Backend;

fn stabilization(steps: u64) -> Scenario {
    build_wasm_crate("targets/flight-stack", "flight_stack.wasm");
    let mut s = Scenario::load(&workspace().join("scenarios/stabilization.ron")).unwrap();
    s.steps = steps;
    s
}

#[test]
fn wasmtime_and_native_backends_fly_the_scenario() {
    let objects = tempfile::tempdir().unwrap();
    for b in [Backend::Wasmtime, Backend::Native] {
        let mut s = stabilization(6000);
        s.flight.estimator_backend = b;
        s.flight.controller_backend = b;
        let (r, trace) = run(&s, &workspace(), objects.path(), |_| {}).unwrap();
        assert_eq!((r.estimator_backend, r.controller_backend), (b, b));
        assert!(r.pass, "{b}: {:?}", r.gates);
        assert_eq!(trace.len(), 6000);
        assert!(
            trace.iter().all(|t| t.m4_cycles == 0 && t.m7_cycles == 0),
            "{b}: off the cores, no cycles"
        );
    }
}

#[test]
fn lockstep_leaves_the_arm_trace_bit_identical() {
    let objects = tempfile::tempdir().unwrap();
    let arm = stabilization(1500);
    let mut lock = arm.clone();
    lock.flight.estimator_backend = Backend::Lockstep;
    lock.flight.controller_backend = Backend::Lockstep;
    let (ra, ta) = run(&arm, &workspace(), objects.path(), |_| {}).unwrap();
    let (rl, tl) = run(&lock, &workspace(), objects.path(), |_| {}).unwrap();
    assert!(rl.stopped.is_none(), "{:?}", rl.stopped);
    assert_eq!(ra.ticks, 1500);
    assert_eq!(trace_csv(&ta), trace_csv(&tl));
}

/// Where an address of the linked code lies in the object file: the linker places the alloc
/// sections one after the other from the code base, each at its alignment.
fn file_offset(obj_bytes: &[u8], path: &str, code_base: u32, addr: u32) -> usize {
    let rel = twin_hosting::hosted::link::RelObject::parse(obj_bytes, path).unwrap();
    let file = object::File::parse(obj_bytes).unwrap();
    let mut at = 0u32;
    for s in &rel.sections {
        at = at.next_multiple_of(s.align);
        let off = addr - code_base;
        if (at..at + s.data.len() as u32).contains(&off) {
            let sec = file
                .section_by_index(object::SectionIndex(s.index as usize))
                .unwrap();
            let (start, _) = sec.file_range().unwrap();
            return start as usize + (off - at) as usize;
        }
        at += s.data.len() as u32;
    }
    panic!("{addr:#x} is in no section");
}

#[test]
fn lockstep_catches_a_one_bit_miscompile_at_the_first_tick_that_runs_it() {
    let objects = tempfile::tempdir().unwrap();
    let s = stabilization(200);
    // The sensor model's own statement of when GNSS first reaches the estimator.
    let (_, clean) = run(&s, &workspace(), objects.path(), |_| {}).unwrap();
    let first_gnss = clean.iter().position(|t| t.gnss[0].is_finite()).unwrap() as u64;
    assert!(first_gnss > 0, "GNSS must not arrive on the first tick");

    // Record which estimator instructions run on each tick up to the first GNSS fix.
    let mut fc = hosted(&s, &workspace(), objects.path()).unwrap();
    let module = fc.estimator.parts()[0].arm_module().unwrap();
    let (core, base, size) = (
        module.core,
        module.layout.code_base,
        module.layout.code_size,
    );
    let seen: Rc<RefCell<Vec<(u32, u32)>>> = Rc::default();
    let log = seen.clone();
    fc.machine
        .engine(core)
        .add_code_hook(
            u64::from(base),
            u64::from(base + size - 1),
            move |_, addr, sz| log.borrow_mut().push((addr as u32, sz)),
        )
        .unwrap();
    let mut lp = build_with(&s, Box::new(fc)).unwrap();
    let mut before = BTreeSet::new();
    for k in 0..=first_gnss {
        lp.waypoint = s.waypoint_at(k as f64 * s.dt);
        seen.borrow_mut().clear();
        lp.step().unwrap();
        if k < first_gnss {
            before.extend(seen.borrow().iter().map(|p| p.0));
        }
    }
    // A VADD.F32 or VSUB.F32 (ARMv7-M A7.7.222/A7.7.262, T2: first halfword 1110 1110 0D11 Vn,
    // second Vd 1010 N op M 0 Vm) that runs for the first time with the GNSS fix; flipping the
    // op bit (bit 6 of the second halfword) swaps add and subtract.
    let uc = lp.fc.machine().unwrap().engine(core);
    let mut target = None;
    for &(addr, sz) in seen.borrow().iter() {
        if sz != 4 || before.contains(&addr) {
            continue;
        }
        let mut b = [0u8; 4];
        uc.mem_read(u64::from(addr), &mut b).unwrap();
        let (h1, h2) = (
            u16::from_le_bytes([b[0], b[1]]),
            u16::from_le_bytes([b[2], b[3]]),
        );
        if h1 & 0xFFB0 == 0xEE30 && h2 & 0x0F10 == 0x0A00 {
            target = Some(addr);
            break;
        }
    }
    let addr = target.expect("a VADD/VSUB.F32 in the GNSS update");

    let clean_obj = objects.path().join("flight_stack-cortex-m4f.o");
    let mut bytes = std::fs::read(&clean_obj).unwrap();
    let off = file_offset(&bytes, clean_obj.to_str().unwrap(), base, addr);
    bytes[off + 2] ^= 1 << 6;
    let broken = objects.path().join("broken-ekf.o");
    std::fs::write(&broken, &bytes).unwrap();

    let mut b = s.clone();
    b.flight.estimator_object = Some(broken.clone());
    b.flight.estimator_backend = Backend::Lockstep;
    b.gates = vec![Gate::NoOverrun];
    let (r, trace) = run(&b, &workspace(), objects.path(), |_| {}).unwrap();
    let d = r.divergence.as_ref().expect("the miscompile is caught");
    eprintln!("{d}");
    assert_eq!(d.tick, first_gnss, "caught at the first GNSS tick");
    assert_eq!(
        d.export,
        twin_hosting::backend::Iface::AidedEstimate.export()
    );
    assert!(d.first_word.is_some() && d.differing_bits != 0);
    assert!(!r.pass);
    assert_eq!(
        trace.len() as u64,
        first_gnss,
        "the trace keeps every tick before the divergence"
    );

    // Through the CLI: exit 1, the report in hex, and the trace on disk.
    let file = objects.path().join("broken.ron");
    let ron = std::fs::read_to_string(workspace().join("scenarios/stabilization.ron"))
        .unwrap()
        .replacen(
            "    gates:",
            &format!(
                "    flight: Flight(wasm: {:?}, estimator_object: {:?}),\n    gates:",
                workspace()
                    .join(twin_flight::scenario::DEFAULT_FLIGHT_WASM)
                    .display()
                    .to_string(),
                broken.display().to_string()
            ),
            1,
        );
    assert!(ron.contains("estimator_object"), "{ron}");
    std::fs::write(&file, ron).unwrap();
    let out_dir = objects.path().join("out");
    let (code, out, err) = sim_cli(&[
        "--scenario",
        file.to_str().unwrap(),
        "--backend",
        "estimator=lockstep",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains(&format!("ARM and wasmtime diverge at tick {first_gnss}")),
        "{out}"
    );
    assert!(out.contains("differing bits"), "{out}");
    let csv = std::fs::read_to_string(out_dir.join("trace.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, first_gnss + 1);
}
