//! Hosting synth output on the emulated cores (relocatable objects), checked against known
//! answers; the wasmtime differential is in tests/diff.rs.

mod common;

use std::path::PathBuf;
use std::process::Command;

use sim::board::Board;
use sim::hosted::host::HostFns;
use sim::hosted::link::RelObject;
use sim::hosted::{Hosted, Options};
use sim::wasm::{Val, WasmModule};

fn synth(wat: &str, target: &str, extra: &[&str]) -> (PathBuf, WasmModule) {
    let src = common::workspace().join("targets/corpus").join(wat);
    let dir = common::workspace().join("target/corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(wat.replace(".wat", ".o"));
    let status = Command::new("synth")
        .args([
            "compile",
            src.to_str().unwrap(),
            "-t",
            target,
            "--relocatable",
            "--all-exports",
        ])
        .args([
            "--embedder-data-init",
            "--embedder-global-init",
            "--emit-stack-depth",
        ])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("running synth");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    (out, WasmModule::load(&src).unwrap())
}

fn host(wat: &str, core: &str, target: &str) -> Hosted {
    let (obj, wasm) = synth(wat, target, &[]);
    let object = RelObject::parse(&std::fs::read(&obj).unwrap(), obj.to_str().unwrap()).unwrap();
    let mut h = Hosted::new(
        Board::rt1176(),
        core,
        wasm,
        &object,
        &HostFns::builtin(),
        Options::default(),
    )
    .unwrap();
    h.load_stack_json(&PathBuf::from(format!("{}.stack.json", obj.display())))
        .unwrap();
    h
}

#[test]
fn smoke_exports_on_the_m7() {
    let mut h = host("smoke.wat", "m7", "cortex-m7dp");
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
