//! The board reader: any text as a board file (RON, then the range checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rt_twin_fuzz::board_ron(data));
