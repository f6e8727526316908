//! Random Thumb-2 code on both cores: the input's first half is the CM7's code (in ITCM), the
//! second the CM4's (in its code TCM), each after a vector table whose handlers are the same
//! bytes; both cores run from power-on for 200 us of virtual time. The twin reports what the
//! guest does (faults, lockups, unmodelled accesses, semihosting exits) and never panics or
//! hangs (libFuzzer's -timeout is the wall-clock watchdog of each run).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rt_twin_fuzz::thumb(data));
