//! HIL firmware, CM4 image: the estimator. Released by the CM7 image (which carries this image
//! and copies it into the CM4's TCMs), it hosts synth's estimator object under the embedder
//! ABI and serves the CM7's requests:
//!
//! 1. the CM7 writes a request (command, sequence, words) beside the NavState mailbox in
//!    OCRAM2, its ready word last, and rings MU channel 1 (MUA TR1 -> MUB RR1, IRQ 118);
//! 2. here, from thread mode: `aided-ekf#init` with 14 words of vehicle-state (S0-S13), or
//!    `aided-ekf#estimate` with the 21-word aiding-frame record copied into a buffer from the
//!    module's `cabi_realloc` (as the hosted runtime lowers it), the allocator and the export
//!    timed with DWT CYCCNT;
//! 3. the vehicle-state goes to the mailbox exactly as the hosted runtime writes it (ready
//!    word, sequence, 14 x f32, sim/flight/src/flightloop.rs), plus the cycles and a GPT2
//!    stamp; the ready word last, then the sequence number on MU channel 0 (MUB TR0 -> MUA
//!    RR0).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use hil_common::{
    m4_status, mu_rf, mu_te, nav, read, read_u32s, read_words, request, write, write_words, Flags,
    MUB, MU_CR, MU_IRQ, MU_RR, MU_SR, MU_TR,
};
use hil_proto::{SENSOR_WORDS, STATE_WORDS};

include!(concat!(env!("OUT_DIR"), "/wasm_init.rs"));

extern "C" {
    #[link_name = "cabi_realloc"]
    fn cabi_realloc();
    #[link_name = "rt-twin:stack/aided-ekf@0.1.0#init"]
    fn ekf_init();
    #[link_name = "rt-twin:stack/aided-ekf@0.1.0#estimate"]
    fn ekf_estimate();
}

static FLAGS: Flags = Flags::new();
const REQUEST: u32 = 1;

#[no_mangle]
fn hil_irq(irq: u16) {
    if irq == MU_IRQ && read(MUB + MU_SR) & mu_rf(1) != 0 {
        let _ = read(MUB + MU_RR + 4); // RR1: clears RF1
        FLAGS.raise(REQUEST);
    }
}

#[entry]
fn main() -> ! {
    hil_common::fpu_default_nan();
    hil_common::cycles_enable();
    let inst = hil_common::flight_instance!();
    write(m4_status::BOOTS, read(m4_status::BOOTS).wrapping_add(1));
    write(MUB + MU_CR, mu_rf(1)); // CR.RIE1
    hil_common::nvic_enable(MU_IRQ);
    write(m4_status::BASE, m4_status::READY);
    loop {
        FLAGS.wait(REQUEST);
        if read(request::BASE) != request::READY {
            continue;
        }
        let (cmd, seq) = (read(request::CMD), read(request::SEQ));
        write(request::BASE, 0);
        let (words, cycles): ([f32; STATE_WORDS], u32) = match cmd {
            request::INIT => {
                let s: [f32; STATE_WORDS] = read_words(request::WORDS);
                inst.call_f32(ekf_init, &s);
                (s, 0)
            }
            request::ESTIMATE => {
                let frame: [u32; SENSOR_WORDS] = read_u32s(request::WORDS);
                let c0 = hil_common::cycles();
                let p = inst.alloc(cabi_realloc, 4, 4 * SENSOR_WORDS as u32);
                let c = hil_common::cycles().wrapping_sub(c0);
                inst.put_u32s(p, &frame);
                let c0 = hil_common::cycles();
                let out = inst.call(ekf_estimate, [p, 0, 0, 0]);
                let c = c + hil_common::cycles().wrapping_sub(c0);
                (inst.get(out), c)
            }
            _ => continue,
        };
        write(nav::BASE, 0);
        write(nav::SEQ, seq);
        write_words(nav::WORDS, &words);
        write(nav::M4_CYCLES, cycles);
        cortex_m::asm::dmb();
        write(nav::BASE, nav::READY);
        cortex_m::asm::dsb();
        while read(MUB + MU_SR) & mu_te(0) == 0 {}
        write(nav::STAMP, hil_common::timebase());
        cortex_m::asm::dsb();
        write(MUB + MU_TR, seq);
    }
}
