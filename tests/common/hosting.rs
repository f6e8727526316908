//! synth objects of the corpus and hosting them on a core. Needs the hosting crate.
#![allow(dead_code)] // each test binary uses some of these

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use twin_machine::board::Board;

use super::build::{build_wasm_crate, workspace};

/// Compile a corpus file (or any wasm) with synth for `target` into target/corpus/<target>/,
/// once per process and file.
pub fn synth_object(src: &Path, target: &str) -> PathBuf {
    use std::sync::Mutex;
    static DONE: OnceLock<Mutex<std::collections::HashMap<(PathBuf, String), PathBuf>>> =
        OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    let key = (src.to_path_buf(), target.to_string());
    // Held while compiling: two tests of one binary asking for the same object wait for one
    // compile rather than read a half-written file.
    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = done.get(&key) {
        return p.clone();
    }
    let dir = workspace().join("target/corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let stem = src.file_stem().unwrap().to_string_lossy().replace('.', "_");
    let out = dir.join(format!("{stem}.o"));
    // Other test binaries may compile the same file at the same time: each writes its own and
    // renames it into place (object and stack sidecar), so a reader sees a whole one.
    let tmp = dir.join(format!("{stem}.o.{}", std::process::id()));
    twin_hosting::synth::compile(src, target, "software", &tmp).expect("synth compile");
    let sidecar = |p: &Path| PathBuf::from(format!("{}.stack.json", p.display()));
    if sidecar(&tmp).exists() {
        std::fs::rename(sidecar(&tmp), sidecar(&out)).unwrap();
    }
    std::fs::rename(&tmp, &out).unwrap();
    done.insert(key, out.clone());
    out
}

pub fn corpus(name: &str) -> PathBuf {
    workspace().join("targets/corpus").join(name)
}

/// Build the Rust corpus crate to wasm32 once; return the module path.
pub fn rust_corpus() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| build_wasm_crate("targets/corpus/rust", "corpus_rs.wasm"))
}

/// The WIT corpus (`targets/corpus/wit-rs`, wit-bindgen exports as cargo-component builds
/// them), built once per test binary.
pub fn wit_corpus() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| build_wasm_crate("targets/corpus/wit-rs", "corpus_wit.wasm"))
}

/// Host a module's synth object on a core, with synth's stack sidecar loaded.
pub fn hosted(src: &Path, core: &str, target: &str) -> twin_hosting::hosted::Hosted {
    hosted_with(src, core, target, twin_hosting::hosted::Options::default()).unwrap()
}

/// Host a module's synth object on a core with `options`: the hosted module, or the twin's
/// refusal.
pub fn hosted_with(
    src: &Path,
    core: &str,
    target: &str,
    options: twin_hosting::hosted::Options,
) -> twin_machine::Result<twin_hosting::hosted::Hosted> {
    let obj = synth_object(src, target);
    let object = twin_hosting::hosted::link::RelObject::parse(
        &std::fs::read(&obj).unwrap(),
        obj.to_str().unwrap(),
    )
    .unwrap();
    let wasm = twin_hosting::wasm::WasmModule::load(src).unwrap();
    let mut h = twin_hosting::hosted::Hosted::new(
        Board::rt1176(),
        core,
        wasm,
        &object,
        &twin_hosting::hosted::host::HostFns::builtin(),
        options,
    )?;
    h.load_stack_json(&PathBuf::from(format!("{}.stack.json", obj.display())))
        .unwrap();
    Ok(h)
}
