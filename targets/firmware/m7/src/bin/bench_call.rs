//! Emulator bench loop: call. Runs a fixed amount of work, calls `bench_done` (where a raw
//! Unicorn run stops) and exits through semihosting.
#![no_std]
#![no_main]
use core::hint::black_box;

const ITERATIONS: u32 = 24;

#[inline(never)]
fn fib(n: u32) -> u32 {
    if n < 2 {
        n
    } else {
        black_box(fib(n - 1)).wrapping_add(fib(n - 2))
    }
}

fn work(n: u32) -> u32 {
    fib(n)
}

fw_common::bench_main!();
