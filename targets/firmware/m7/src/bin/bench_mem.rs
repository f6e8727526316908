//! Emulator bench loop: mem. Runs a fixed amount of work, calls `bench_done` (where a raw
//! Unicorn run stops) and exits through semihosting.
#![no_std]
#![no_main]
use core::hint::black_box;

const ITERATIONS: u32 = 2_000;

static mut BUF: [u32; 1024] = [0; 1024];

fn work(n: u32) -> u32 {
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(BUF) };
    for r in 0..n {
        for i in 1..buf.len() {
            buf[i] = black_box(buf[i - 1].wrapping_add(buf[i]) ^ r);
        }
    }
    buf[1023]
}

fw_common::bench_main!();
