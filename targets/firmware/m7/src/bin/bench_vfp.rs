//! Emulator bench loop: vfp. Runs a fixed amount of work, calls `bench_done` (where a raw
//! Unicorn run stops) and exits through semihosting.
#![no_std]
#![no_main]
use core::hint::black_box;
use cortex_m_rt::entry;
use fw_common::exit;

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
