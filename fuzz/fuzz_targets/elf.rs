//! The ELF loader: any bytes as an executable, and a parsed image placed on the built-in board
//! (segments checked against the cores' memory windows). Errors are answers; panics are bugs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rt_twin_fuzz::elf(data));
