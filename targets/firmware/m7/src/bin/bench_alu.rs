//! Emulator bench loop: alu. Runs a fixed amount of work, calls `bench_done` (where a raw
//! Unicorn run stops) and exits through semihosting.
#![no_std]
#![no_main]
use core::hint::black_box;
use cortex_m_rt::entry;
use fw_common::exit;

const ITERATIONS: u32 = 2_000_000;

fn work(n: u32) -> u32 {
    let mut x = 0x1234_5678u32;
    for i in 0..n {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223) ^ (x >> 13) ^ i;
    }
    x
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn bench_done(result: u32) {
    black_box(result);
}

#[entry]
fn main() -> ! {
    let r = work(black_box(ITERATIONS));
    bench_done(r);
    exit(true)
}
