//! Emulator bench loop: alu. Runs a fixed amount of work, calls `bench_done` (where a raw
//! Unicorn run stops) and exits through semihosting.
#![no_std]
#![no_main]

const ITERATIONS: u32 = 2_000_000;

fn work(n: u32) -> u32 {
    let mut x = 0x1234_5678u32;
    for i in 0..n {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223) ^ (x >> 13) ^ i;
    }
    x
}

fw_common::bench_main!();
