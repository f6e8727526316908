//! The trace reader (`sim compare`, twin-ui's overlays): any text as `trace.csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rt_twin_fuzz::trace(data));
