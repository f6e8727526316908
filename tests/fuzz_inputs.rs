//! The fuzz targets' inputs in the normal suite: every seed (`fuzz/seeds/TARGET/`) and every
//! input a fuzz run found crashing (`fuzz/regressions/TARGET/`, kept as regression tests)
//! through the very functions the fuzz targets call (`fuzz/src/lib.rs`), on the stable
//! toolchain. None may panic; every seed is a valid input of its kind (so the fuzzer starts
//! from the deep paths, not from the first check).

use std::path::{Path, PathBuf};

use crate::common::workspace;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = workspace().join("fuzz").join(kind).join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Each target, its function, and what makes one of its seeds valid.
type Target = (&'static str, fn(&[u8]), fn(&[u8]) -> bool);

fn utf8(d: &[u8]) -> &str {
    std::str::from_utf8(d).unwrap()
}

const TARGETS: [Target; 8] = [
    ("elf", targets::elf, |d| {
        twin_machine::image::Image::parse(d, "seed").is_ok()
    }),
    ("board_ron", targets::board_ron, |d| {
        twin_machine::board::Board::parse(utf8(d), "seed").is_ok()
    }),
    ("scenario_ron", targets::scenario_ron, |d| {
        let t = utf8(d);
        twin_flight::scenario::Scenario::parse(t, "seed").is_ok()
            || twin_flight::sweep::Sweep::parse(t, Path::new("seed")).is_ok()
            || twin_flight::wholerun::WholeRun::parse(t, "seed").is_ok()
    }),
    ("link", targets::link, |d| {
        twin_hosting::hosted::link::RelObject::parse(d, "seed").is_ok()
    }),
    ("wasm", targets::wasm, |d| {
        twin_hosting::wasm::WasmModule::parse(d.to_vec(), "seed").is_ok()
    }),
    ("trace", targets::trace, |d| {
        twin_flight::trace::parse_trace(utf8(d), "seed").is_ok_and(|t| !t.is_empty())
    }),
    ("hil_frame", targets::hil_frame, |d| {
        // RAM holding an RTT control block, or frames that each decode one way or the other.
        if d.starts_with(b"SEGGER RTT\0") {
            return true;
        }
        let frames: Vec<&[u8]> = d.split(|&b| b == 0).filter(|f| !f.is_empty()).collect();
        !frames.is_empty()
            && frames.iter().all(|f| {
                hil_proto::decode::<hil_proto::Up>(f).is_ok()
                    || hil_proto::decode::<hil_proto::Down>(f).is_ok()
            })
    }),
    ("thumb", targets::thumb, |d| {
        !d.is_empty() && d.len() % 2 == 0
    }),
];

#[test]
fn fuzz_seeds_and_found_crashes_replay_without_a_panic() {
    let mut replayed = 0;
    for (name, run, valid) in TARGETS {
        let seeds = files("seeds", name);
        assert!(!seeds.is_empty(), "{name}: no seed in fuzz/seeds/{name}");
        for f in &seeds {
            let bytes = std::fs::read(f).unwrap();
            assert!(valid(&bytes), "{}: not a valid {name} input", f.display());
            run(&bytes);
            replayed += 1;
        }
        for f in files("regressions", name) {
            run(&std::fs::read(&f).unwrap());
            replayed += 1;
        }
    }
    eprintln!("{replayed} fuzz inputs replayed");
}
