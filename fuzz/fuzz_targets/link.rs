//! The relocatable-object linker and embedder init: any bytes as the synth object of a fixed
//! module (the project's `targets/corpus/smoke.wat`), linked onto the built-in board's CM7 with
//! its data and globals initialised; a linked object's `add` export is then called with a small
//! cycle budget (mutated code may fault, loop or return garbage: reported, never a panic).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rt_twin_fuzz::link(data));
