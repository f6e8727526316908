//! Emulator bench loop: vfp. Runs a fixed amount of work, calls `bench_done` (where a raw
//! Unicorn run stops) and exits through semihosting.
#![no_std]
#![no_main]

const ITERATIONS: u32 = 1_000_000;

fn work(n: u32) -> u32 {
    let mut a = 1.0f32;
    let mut b = 0.5f32;
    for i in 0..n {
        a = a * 0.999_9 + b * 0.000_1 + (i & 7) as f32 * 1e-6;
        b = (b + a * 0.5) * 0.666;
    }
    (a + b).to_bits()
}

fw_common::bench_main!();
