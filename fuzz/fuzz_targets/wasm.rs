//! The wasm hosting front end: any bytes as a module (wasmparser's validation, then the twin's
//! reading of imports, exports, memories, tables, globals and data), the falcon-cascade
//! interfaces it offers, and the WIT embedded in its custom sections.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rt_twin_fuzz::wasm(data));
