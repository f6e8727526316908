//! The CoreMark-style workload (`fw_common::workload`) timed with DWT CYCCNT on this core
//! (docs/time.md: the cycle model against ARM's CoreMark/MHz ratio).
#![no_std]
#![no_main]

const ITERATIONS: u32 = 20;

fw_common::workload_main!();
