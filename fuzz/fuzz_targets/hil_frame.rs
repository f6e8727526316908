//! Target mode's link: the HIL frame decoder (COBS frames, CRC-32C, postcard messages) on any
//! byte stream in both directions, and the host's RTT reader on a target RAM image the input
//! gives (control block, channel descriptors and ring offsets as a broken firmware leaves them).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rt_twin_fuzz::hil_frame(data));
