//! Hosting synth output on the emulated cores (relocatable objects), against known answers.

// The shared test helpers this crate can use (tests/common).
#[path = "../../../tests/common/build.rs"]
mod build;
#[path = "../../../tests/common/hosting.rs"]
mod hosting;
#[allow(unused_imports)] // each test binary uses some of the helpers
mod common {
    pub use super::build::*;
    pub use super::hosting::*;
}

use common::*;
use twin_hosting::wasm::Val;

#[test]
fn smoke_exports_on_the_m7() {
    let mut h = hosted(&corpus("smoke.wat"), "m7", "cortex-m7dp");
    let r = h.call("add", &[Val::I32(40), Val::I32(2)]).unwrap();
    assert_eq!(r.result, Ok(vec![Val::I32(42)]));
    assert_eq!(r.instructions, 4, "push, adds, mov, pop");
    let r = h.call("load16", &[]).unwrap();
    assert_eq!(
        r.result,
        Ok(vec![Val::I32(0x0403_0201)]),
        "data segment at 16"
    );
    let r = h.call("gbump", &[]).unwrap();
    assert_eq!(r.result, Ok(vec![Val::I32(8)]), "global initialised to 7");
    assert_eq!(h.globals(), vec![Val::I32(8)]);
    let r = h.call("callhost", &[Val::I32(10)]).unwrap();
    assert_eq!(r.result, Ok(vec![Val::I32(15)]), "host_add(10, 5)");
    let r = h
        .call(
            "fadd",
            &[Val::F32(1.5f32.to_bits()), Val::F32(2.25f32.to_bits())],
        )
        .unwrap();
    assert_eq!(r.result, Ok(vec![Val::F32(3.75f32.to_bits())]));
    let r = h
        .call(
            "dmul",
            &[Val::F64(3.0f64.to_bits()), Val::F64(0.5f64.to_bits())],
        )
        .unwrap();
    assert_eq!(r.result, Ok(vec![Val::F64(1.5f64.to_bits())]));
    let r = h.call("ladd", &[Val::I64(u64::MAX), Val::I64(2)]).unwrap();
    assert_eq!(r.result, Ok(vec![Val::I64(1)]));
    assert_eq!(r.stack_bytes, 8, "push {{r4, lr}}");
}

#[test]
fn known_answers_on_both_cores() {
    for (core, target) in [("m7", "cortex-m7dp"), ("m4", "cortex-m4f")] {
        let mut h = hosted(&corpus("control.wat"), core, target);
        let mut call = |name: &str, arg: u32| {
            let r = h.call(name, &[Val::I32(arg)]).unwrap();
            match r.result {
                Ok(v) => v[0],
                Err(t) => panic!("{name}({arg}) trapped on {core}: {t}"),
            }
        };
        assert_eq!(call("is_prime", 7), Val::I32(1), "7 is prime ({core})");
        assert_eq!(call("is_prime", 9), Val::I32(0), "9 is not prime ({core})");
        assert_eq!(call("fib", 10), Val::I32(55), "fibonacci(10) ({core})");
        assert_eq!(call("fact", 5), Val::I32(120), "factorial(5) ({core})");
        // collatz(n) counts the steps of n + 1: 27 takes 111 steps.
        assert_eq!(call("collatz", 26), Val::I32(111), "collatz(27) ({core})");
        assert_eq!(call("switch", 2), Val::I32(300));
        assert_eq!(call("switch", 99), Val::I32(400), "br_table default");
    }
}

#[test]
fn stack_high_water_is_measured_not_taken_from_synth() {
    // i64.rotl lowers to: push {r4-r8, lr} (24 B), sub sp, #0x40 (64 B), then a transient
    // push {r0-r3} (16 B) and three `str rN, [sp, #-4]!` (12 B) in the encoder expansion:
    // 116 B, read off the disassembly. synth 0.89's sidecar claims 88 B for it.
    let mut h = hosted(&corpus("int.wat"), "m7", "cortex-m7dp");
    let r = h.call("i64_rotl", &[Val::I64(1), Val::I64(3)]).unwrap();
    assert_eq!(r.result, Ok(vec![Val::I64(8)]));
    assert_eq!(r.stack_bytes, 116);
    assert_eq!(
        h.stack_bounds["i64_rotl"],
        twin_hosting::hosted::StackBound::Bounded(88)
    );
    // Calls repaint only what the previous call dirtied: a shallow call after a deep one, and
    // the deep one again, still measure their own depth (i32.add: push {r4, lr}, 8 B, as on a
    // fresh module in `smoke_exports_on_the_m7`).
    let add = || [Val::I32(2), Val::I32(3)];
    assert_eq!(h.call("i32_add", &add()).unwrap().stack_bytes, 8);
    let again = h.call("i64_rotl", &[Val::I64(1), Val::I64(3)]).unwrap();
    assert_eq!(again.stack_bytes, 116);
    assert_eq!(h.call("i32_add", &add()).unwrap().stack_bytes, 8);
    assert_eq!(
        h.call("i64_rotl", &[Val::I64(1), Val::I64(3)])
            .unwrap()
            .stack_bytes,
        116
    );
}

#[test]
fn traps_are_reported_with_their_site() {
    let mut h = hosted(&corpus("int.wat"), "m4", "cortex-m4f");
    let r = h.call("i32_div_u", &[Val::I32(1), Val::I32(0)]).unwrap();
    match r.result {
        Err(twin_hosting::hosted::ArmTrap::Udf { function, .. }) => {
            assert!(function.starts_with("i32_div_u"), "{function}")
        }
        other => panic!("expected a UDF trap, got {other:?}"),
    }
}

#[test]
fn falcon_shaped_exports_with_records_and_return_areas() {
    let f = |x: f32| Val::F32(x.to_bits());
    for (core, target) in [("m7", "cortex-m7dp"), ("m4", "cortex-m4f")] {
        let mut h = hosted(&corpus("falcon.wat"), core, target);
        // mixer#mix: four motor bytes, computed here with the same f32 operations.
        let (t, r, p, y) = (0.5f32, 0.1f32, 0.05f32, -0.02f32);
        let byte = |m: f32| ((m.clamp(0.0, 1.0) * 255.0 + 0.5) as u32) & 0xFF;
        let want = byte(t - r + p - y)
            | byte(t + r - p - y) << 8
            | byte(t + r + p + y) << 16
            | byte(t - r - p + y) << 24;
        let out = h
            .call(
                "pulseengine:falcon-cascade/mixer@0.10.0#mix",
                &[f(t), f(r), f(p), f(y)],
            )
            .unwrap();
        assert_eq!(out.result, Ok(vec![Val::I32(want)]), "{core}");
        // rate#tick: a record passed by pointer, the torques in a return area.
        let record: Vec<u8> = [1.0f32, 2.0, 3.0, 0.25, 0.5, 4.0, 2.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        h.write_memory(0x2010, &record).unwrap();
        let out = h
            .call(
                "pulseengine:falcon-cascade/rate@0.10.0#tick",
                &[Val::I32(0x2010)],
            )
            .unwrap();
        assert_eq!(out.result, Ok(vec![Val::I32(0x3000)]));
        let mem = h.memory();
        let torque =
            |i: usize| f32::from_le_bytes(mem[0x3000 + 4 * i..0x3004 + 4 * i].try_into().unwrap());
        assert_eq!(
            [torque(0), torque(1), torque(2)].map(f32::to_bits),
            [2.5f32 * (1.0 - 0.25), 2.5 * (2.0 - 0.5), 2.5 * (3.0 - 4.0)].map(f32::to_bits),
            "{core}"
        );
    }
}

#[test]
fn host_function_pointers_are_bounds_checked_against_r10() {
    let mut h = hosted(&corpus("control.wat"), "m7", "cortex-m7dp");
    // host_oob passes [ptr, ptr + 64) with ptr >= 0xff00 to host_sum: 0xffc0 still fits the
    // 64 KiB memory, 0xffc1 does not.
    let ok = h.call("host_oob", &[Val::I32(0xffc0)]).unwrap();
    assert!(ok.result.is_ok(), "{:?}", ok.result);
    let bad = h.call("host_oob", &[Val::I32(0xffc1)]).unwrap();
    match bad.result {
        Err(twin_hosting::hosted::ArmTrap::Host { message }) => {
            assert!(
                message.contains("env::host_sum") && message.contains("[0xffc1, +0x40)"),
                "{message}"
            )
        }
        other => panic!("expected a host refusal, got {other:?}"),
    }
}
