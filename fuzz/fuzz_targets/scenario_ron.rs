//! The scenario, sweep and whole-run readers: any text as each kind of file (RON, the number
//! and range checks, the field locator behind their messages).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rt_twin_fuzz::scenario_ron(data));
