//! HIL firmware, CM7 image: the controller stages, the link to the host, and the CM4's boot.
//!
//! At reset: default-NaN FPU mode and DWT CYCCNT, RTT (up channel 0 to the host, down channel
//! 0 from it), the stages' instance (synth's object under the embedder ABI), GPT2 as the
//! shared 24 MHz time base, then the CM4 image copied into the CM4's TCMs and the CM4 released
//! through SRC (rt1176.md 1.3). `Up::Hello` says whether the CM4 came up and which flight
//! module this image hosts.
//!
//! The loop is paced by GPT1 (restart mode at the control period, IRQ 119). At each tick the
//! down channel is read; `Down::Start` initialises the estimator (a request to the CM4) and
//! sets the period; the tick's `Down::Sensor` frame goes to the CM4 (request block in OCRAM2
//! and MU channel 1); the CM4's vehicle-state comes back through the mailbox and MU channel 0
//! (IRQ 118, stamped with GPT2); falcon-cascade's stages run on it (position, attitude, rate
//! through spilled records, the mixer with its four f32 in S0-S3), timed with DWT CYCCNT; and
//! `Up::Tick` carries the vehicle-state, motor commands, the attitude and rate setpoints, both
//! cores' cycles and the MU latency. No frame
//! for `STALL_TICKS` periods: the motors are commanded to zero and `LinkStalled` reported.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m_rt::entry;
use hil_common::Instance;
use hil_common::{
    m4_status, mu_rf, mu_te, nav, read, read_words, request, write, write_u32s, Flags, GPT1,
    GPT1_IRQ, GPT_CR, GPT_CR_CLK_ROOT, GPT_CR_EN, GPT_CR_ENMOD, GPT_HZ, GPT_IR, GPT_OCR1, GPT_PR,
    GPT_SR, LPSR_GPR0, LPSR_GPR1, MUA, MU_CR, MU_IRQ, MU_RR, MU_SR, MU_TR, SRC_SCR,
};
use hil_proto::{Decoder, Down, Event, Up, MAX_FRAME, SENSOR_WORDS, STATE_WORDS};
use rtt_target::{rtt_init, ChannelMode, DownChannel, UpChannel};

include!(concat!(env!("OUT_DIR"), "/wasm_init.rs"));
include!(concat!(env!("OUT_DIR"), "/m4_image.rs"));

extern "C" {
    #[link_name = "cabi_realloc"]
    fn cabi_realloc();
    #[link_name = "pulseengine:falcon-cascade/position@0.10.0#tick"]
    fn position_tick();
    #[link_name = "pulseengine:falcon-cascade/attitude@0.10.0#tick"]
    fn attitude_tick();
    #[link_name = "pulseengine:falcon-cascade/rate@0.10.0#tick"]
    fn rate_tick();
    #[link_name = "pulseengine:falcon-cascade/mixer@0.10.0#mix"]
    fn mixer_mix();
}

/// A stage whose parameters (the vehicle-state and one more record) spill to linear memory, as
/// the hosted runtime lowers them: a buffer from `cabi_realloc`, the records in it, the export
/// called with its address. Its result's address; the allocator's and the export's cycles
/// are added to `cycles`.
fn spilled(
    inst: &Instance,
    export: unsafe extern "C" fn(),
    state: &[f32; STATE_WORDS],
    rest: &[f32],
    cycles: &mut u32,
) -> u32 {
    let bytes = 4 * (STATE_WORDS + rest.len()) as u32;
    let c0 = hil_common::cycles();
    let p = inst.alloc(cabi_realloc, 4, bytes);
    *cycles += hil_common::cycles().wrapping_sub(c0);
    inst.put(p, state);
    inst.put(p + 4 * STATE_WORDS as u32, rest);
    let c0 = hil_common::cycles();
    let out = inst.call(export, [p, 0, 0, 0]);
    *cycles += hil_common::cycles().wrapping_sub(c0);
    out
}

static FLAGS: Flags = Flags::new();
const TICK: u32 = 1;
const NAV: u32 = 2;
/// GPT2 at the MU interrupt, and the sequence number it carried.
static NAV_STAMP: AtomicU32 = AtomicU32::new(0);
static NAV_SEQ: AtomicU32 = AtomicU32::new(0);

/// Periods without a sensor frame before the motors are cut (100 ms at 500 Hz).
const STALL_TICKS: u32 = 50;
/// Periods to wait for the CM4 at boot (1 s at the default 2 ms).
const BOOT_TICKS: u32 = 500;
const DEFAULT_PERIOD_US: u32 = 2000;

#[no_mangle]
fn hil_irq(irq: u16) {
    if irq == GPT1_IRQ {
        write(GPT1 + GPT_SR, 1); // OF1, write 1 to clear
        FLAGS.raise(TICK);
    } else if irq == MU_IRQ && read(MUA + MU_SR) & mu_rf(0) != 0 {
        NAV_STAMP.store(hil_common::timebase(), Relaxed);
        NAV_SEQ.store(read(MUA + MU_RR), Relaxed); // RR0: clears RF0
        FLAGS.raise(NAV);
    }
}

/// GPT1 in restart mode: a compare interrupt every `period_us` (1 MHz after the prescaler).
fn pace(period_us: u32) {
    write(GPT1 + GPT_CR, 0);
    write(GPT1 + GPT_PR, GPT_HZ / 1_000_000 - 1);
    write(GPT1 + GPT_OCR1, period_us.max(1) - 1);
    write(GPT1 + GPT_SR, 0x3F);
    write(GPT1 + GPT_IR, 1); // OF1IE
    write(GPT1 + GPT_CR, GPT_CR_CLK_ROOT | GPT_CR_ENMOD | GPT_CR_EN);
}

/// Copy the CM4 image into its TCMs (CM7 view), set its boot address and release it.
fn boot_m4() {
    for (addr, bytes) in M4_IMAGE {
        for (i, chunk) in bytes.chunks(4).enumerate() {
            let mut w = [0u8; 4];
            w[..chunk.len()].copy_from_slice(chunk);
            write(addr + 4 * i as u32, u32::from_le_bytes(w));
        }
    }
    cortex_m::asm::dsb();
    write(m4_status::BASE, 0);
    write(LPSR_GPR0, M4_BOOT & 0xFFF8);
    write(LPSR_GPR1, M4_BOOT >> 16);
    write(SRC_SCR, read(SRC_SCR) | 1); // BT_RELEASE_M4
}

struct Link {
    up: UpChannel,
    down: DownChannel,
    decoder: Decoder,
}

impl Link {
    fn send(&mut self, msg: &Up) {
        let mut f = [0u8; MAX_FRAME];
        if let Ok(n) = hil_proto::encode(msg, &mut f) {
            self.up.write(&f[..n]);
        }
    }

    /// Every complete message in the down channel now (bad frames reported up).
    fn receive(&mut self, tick: u32, mut on: impl FnMut(&mut Link, Down)) {
        let mut buf = [0u8; 128];
        loop {
            let n = self.down.read(&mut buf);
            if n == 0 {
                return;
            }
            for &b in &buf[..n] {
                match self.decoder.push::<Down>(b) {
                    Some(Ok(m)) => on(self, m),
                    Some(Err(_)) => self.send(&Up::Event {
                        tick,
                        code: Event::BadFrame,
                    }),
                    None => {}
                }
            }
        }
    }
}

/// The CM7's side of one request to the CM4; the mailbox's vehicle-state, the CM4's cycles,
/// and the MU latency in ns, or None when no valid answer came within `limit` GPT2 ticks.
fn ask_m4(cmd: u32, seq: u32, words: &[u32], limit: u32) -> Option<([f32; STATE_WORDS], u32, u32)> {
    write(request::BASE, 0);
    write(request::CMD, cmd);
    write(request::SEQ, seq);
    write_u32s(request::WORDS, words);
    cortex_m::asm::dmb();
    write(request::BASE, request::READY);
    cortex_m::asm::dsb();
    while read(MUA + MU_SR) & mu_te(1) == 0 {}
    write(MUA + MU_TR + 4, seq); // TR1: the CM4's doorbell
    let t0 = hil_common::timebase();
    loop {
        cortex_m::interrupt::disable();
        let got = FLAGS.take(NAV) != 0;
        let late = hil_common::timebase().wrapping_sub(t0) > limit;
        if !got && !late {
            cortex_m::asm::wfi();
        }
        // SAFETY: re-enabling what was disabled above.
        unsafe { cortex_m::interrupt::enable() };
        if got && NAV_SEQ.load(Relaxed) == seq {
            break;
        }
        if late {
            return None;
        }
    }
    if read(nav::BASE) != nav::READY || read(nav::SEQ) != seq {
        return None;
    }
    let latency_ticks = NAV_STAMP.load(Relaxed).wrapping_sub(read(nav::STAMP));
    let latency_ns = (u64::from(latency_ticks) * 1_000_000_000 / u64::from(GPT_HZ)) as u32;
    Some((read_words(nav::WORDS), read(nav::M4_CYCLES), latency_ns))
}

#[entry]
fn main() -> ! {
    hil_common::fpu_default_nan();
    hil_common::cycles_enable();
    let channels = rtt_init! {
        up: { 0: { size: 1024, mode: ChannelMode::BlockIfFull, name: "hil-up" } }
        down: { 0: { size: 512, name: "hil-down" } }
    };
    let mut link = Link {
        up: channels.up.0,
        down: channels.down.0,
        decoder: Decoder::default(),
    };
    let inst = hil_common::flight_instance!();
    hil_common::timebase_start();
    write(MUA + MU_CR, mu_rf(0)); // CR.RIE0
    hil_common::nvic_enable(MU_IRQ);
    hil_common::nvic_enable(GPT1_IRQ);
    let mut period_us = DEFAULT_PERIOD_US;
    pace(period_us);
    boot_m4();
    let mut waited = 0;
    while read(m4_status::BASE) != m4_status::READY && waited < BOOT_TICKS {
        FLAGS.wait(TICK);
        waited += 1;
    }
    let m4_up = read(m4_status::BASE) == m4_status::READY;
    link.send(&Up::Hello {
        version: hil_proto::VERSION,
        cores: if m4_up { 2 } else { 1 },
        flight_crc: FLIGHT_CRC,
    });

    let mut running = false;
    let mut frame: Option<(u32, [u32; SENSOR_WORDS], [f32; 4])> = None;
    let mut start: Option<[f32; STATE_WORDS]> = None;
    let mut stop = false;
    let mut idle = 0u32;
    let mut seq = 0u32;
    let mut last_tick = 0u32;
    loop {
        FLAGS.wait(TICK);
        link.receive(last_tick, |_, m| match m {
            Down::Start {
                period_us: p,
                state0,
            } => {
                period_us = p;
                start = Some(state0);
            }
            Down::Sensor {
                tick,
                frame: f,
                waypoint,
            } => frame = Some((tick, f, waypoint)),
            Down::Stop => stop = true,
        });
        if stop {
            stop = false;
            running = false;
            frame = None;
            link.send(&Up::Event {
                tick: last_tick,
                code: Event::Stopped,
            });
        }
        let limit = 2 * period_us * (GPT_HZ / 1_000_000);
        if let Some(state0) = start.take() {
            seq = seq.wrapping_add(1);
            running = ask_m4(request::INIT, seq, &state0.map(f32::to_bits), limit).is_some();
            if !running {
                link.send(&Up::Event {
                    tick: 0,
                    code: Event::Overrun { core: 4 },
                });
            }
            pace(period_us);
            idle = 0;
        }
        if !running {
            continue;
        }
        let Some((tick, f, waypoint)) = frame.take() else {
            idle += 1;
            if idle == STALL_TICKS {
                link.send(&Up::Event {
                    tick: last_tick,
                    code: Event::LinkStalled,
                });
            }
            continue;
        };
        idle = 0;
        last_tick = tick;
        seq = seq.wrapping_add(1);
        let Some((state, m4_cycles, mu_latency_ns)) = ask_m4(request::ESTIMATE, seq, &f, limit)
        else {
            link.send(&Up::Event {
                tick,
                code: Event::Overrun { core: 4 },
            });
            continue;
        };
        // The stages, every tick: position -> attitude -> rate -> mixer.
        let mut m7_cycles = 0;
        let att: [f32; 5] = inst.get(spilled(
            &inst,
            position_tick,
            &state,
            &waypoint,
            &mut m7_cycles,
        ));
        let rate: [f32; 4] = inst.get(spilled(&inst, attitude_tick, &state, &att, &mut m7_cycles));
        let torque: [f32; 4] = inst.get(spilled(&inst, rate_tick, &state, &rate, &mut m7_cycles));
        let c0 = hil_common::cycles();
        let out = inst.call_f32(mixer_mix, &torque);
        m7_cycles += hil_common::cycles().wrapping_sub(c0);
        let motors: [f32; 4] = inst.get(out);
        let mut setpoints = [0.0f32; 9];
        setpoints[..5].copy_from_slice(&att);
        setpoints[5..].copy_from_slice(&rate);
        link.send(&Up::Tick {
            tick,
            state,
            motors,
            setpoints,
            m4_cycles,
            m7_cycles,
            mu_latency_ns,
        });
        if FLAGS.take(TICK) != 0 {
            // The next period began before this tick's work was done.
            link.send(&Up::Event {
                tick,
                code: Event::Overrun { core: 7 },
            });
        }
    }
}
